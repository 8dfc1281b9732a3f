namespace ScaleKD.BatchScoring;

static class Program
{
    static int Main(string[] args)
    {
        if (args.Length != 2)
        {
            Console.Error.WriteLine("usage: ScaleKD.BatchScoring MODEL_ZIP IMAGE_FOLDER");
            return 2;
        }
        try
        {
            BatchScorer.Run(args[0], args[1], Console.Out);
            return 0;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine(e.Message);
            return 1;
        }
    }
}
