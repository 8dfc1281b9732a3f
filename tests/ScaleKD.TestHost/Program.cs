
// Each command prints machine-readable lines that the tests parse.
return args switch
{
    ["score-images", var zip, var tsv] => ScaleKD.TestHost.ScoreImagesCommand.Run(zip, tsv),
    ["train", var checkpoints, var weights, var epochs] => ScaleKD.TestHost.TrainCommand.Run(checkpoints, weights, int.Parse(epochs)),
    ["train", var checkpoints, var weights, var epochs, var count] => ScaleKD.TestHost.TrainCommand.Run(checkpoints, weights, int.Parse(epochs), int.Parse(count)),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("usage: ScaleKD.TestHost score-images ZIP TSV | train CHECKPOINT_DIR WEIGHTS EPOCHS [COUNT]");
    return 2;
}

