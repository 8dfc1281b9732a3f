using Microsoft.ML;
using Microsoft.ML.Data;

// Each command prints machine-readable lines that the tests parse.
return args switch
{
    ["score-zip", var zip, var rows] => ScoreZip(zip, rows),
    ["train", var checkpoints, var weights, var epochs] => ScaleKD.TestHost.TrainCommand.Run(checkpoints, weights, int.Parse(epochs)),
    ["train", var checkpoints, var weights, var epochs, var count] => ScaleKD.TestHost.TrainCommand.Run(checkpoints, weights, int.Parse(epochs), int.Parse(count)),
    _ => Usage(),
};

// Loads a zip with plain MLContext.Model.Load (no ScaleKD call first) and prints each score's float bits, through
// batched Transform and through PredictionEngine.
static int ScoreZip(string zip, string rowsPath)
{
    var ml = new MLContext(seed: 1);
    var model = ml.Model.Load(zip, out _);
    var rows = File.ReadLines(rowsPath).Select(line => new VectorRow { Raw = line.Split(' ').Select(float.Parse).ToArray() }).ToList();
    var scored = model.Transform(ml.Data.LoadFromEnumerable(rows, SchemaFor(rows[0].Raw.Length)));
    foreach (var row in ml.Data.CreateEnumerable<ScoreRow>(scored, reuseRowObject: false))
        Console.WriteLine("transform " + Bits(row.Score));
    using var engine = ml.Model.CreatePredictionEngine<VectorRow, ScoreRow>(model, inputSchemaDefinition: SchemaFor(rows[0].Raw.Length));
    foreach (var row in rows)
        Console.WriteLine("engine " + Bits(engine.Predict(row).Score));
    return 0;
}

static SchemaDefinition SchemaFor(int size)
{
    var schema = SchemaDefinition.Create(typeof(VectorRow));
    schema[nameof(VectorRow.Raw)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, size);
    return schema;
}

static string Bits(float[] values) => string.Join(' ', values.Select(v => BitConverter.SingleToInt32Bits(v).ToString("x8")));

static int Usage()
{
    Console.Error.WriteLine("usage: ScaleKD.TestHost score-zip ZIP ROWS | train CHECKPOINT_DIR WEIGHTS EPOCHS [COUNT]");
    return 2;
}

sealed class VectorRow
{
    public float[] Raw { get; set; } = [];
}

sealed class ScoreRow
{
    public float[] Score { get; set; } = [];
}
