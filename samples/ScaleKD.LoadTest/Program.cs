namespace ScaleKD.LoadTest;

static class Program
{
    static async Task<int> Main(string[] args)
    {
        if (args.Length is < 2 or > 4)
        {
            Console.Error.WriteLine("usage: ScaleKD.LoadTest BASE_URL IMAGE_FILE [CLIENTS=32] [SECONDS=60]   (BASE_URL on loopback, e.g. http://127.0.0.1:5000)");
            return 2;
        }
        try
        {
            var clients = args.Length > 2 ? int.Parse(args[2]) : 32;
            var seconds = args.Length > 3 ? double.Parse(args[3], System.Globalization.CultureInfo.InvariantCulture) : 60;
            var settings = new LoadSettings(new Uri(args[0]), await File.ReadAllBytesAsync(args[1]), Path.GetFileName(args[1]), clients, TimeSpan.FromSeconds(seconds));
            var result = await LoadRunner.RunAsync(settings);
            Console.WriteLine(result.Describe());
            return result.Errors == 0 ? 0 : 1;
        }
        catch (Exception e) when (e is ArgumentException or FormatException or IOException or UriFormatException)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
    }
}
