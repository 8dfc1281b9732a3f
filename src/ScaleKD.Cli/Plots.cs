using OxyPlot;
using OxyPlot.Axes;
using OxyPlot.Legends;
using OxyPlot.Series;
using OxyPlot.SkiaSharp;
using SkiaSharp;
using System.Text;
using ScaleKD.Torch.IO;
using ScaleKD.Torch.Training;

namespace ScaleKD.Cli;

/// <summary>The PNG plots of a report: loss and accuracy curves per epoch, and the confusion matrix (OxyPlot on the
/// SkiaSharp 2.88 that ML.NET's image support already uses).</summary>
public static class Plots
{
    /// <summary>Training loss per epoch for each run.</summary>
    public static void Loss(string path, IReadOnlyList<(string Name, IReadOnlyList<EpochMetrics> History)> runs) =>
        Curves(path, "Training loss", "loss", runs, m => m.TrainLoss);

    /// <summary>Validation top-1 accuracy per epoch for each run.</summary>
    public static void Accuracy(string path, IReadOnlyList<(string Name, IReadOnlyList<EpochMetrics> History)> runs) =>
        Curves(path, "Validation top-1 accuracy", "top-1 (%)", runs, m => 100 * (m.ValidationTop1 ?? double.NaN));

    static void Curves(string path, string title, string yLabel, IReadOnlyList<(string Name, IReadOnlyList<EpochMetrics> History)> runs, Func<EpochMetrics, double> value)
    {
        var model = NewPlot(title, runs.Select(r => r.Name));
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Bottom, Title = "epoch", MajorStep = 1, MinimumPadding = 0.05, MaximumPadding = 0.05, MajorGridlineStyle = LineStyle.Dot });
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Left, Title = yLabel, MajorGridlineStyle = LineStyle.Dot });
        model.Legends.Add(new Legend { LegendPosition = LegendPosition.RightBottom, LegendBackground = OxyColor.FromAColor(220, OxyColors.White) });
        foreach (var (name, history) in runs.Where(r => r.History.Count > 0))
        {
            var series = new LineSeries { Title = name, MarkerType = MarkerType.Circle, MarkerSize = 4, StrokeThickness = 2 };
            series.Points.AddRange(history.Select(m => new DataPoint(m.Epoch, value(m))));
            model.Series.Add(series);
        }
        Save(model, path, 900, 550);
    }

    /// <summary>A data-efficiency study: test top-1 against the number of labelled images (log axis), one line per
    /// series with a band of ± one standard deviation over seeds.</summary>
    public static void Study(string path, IReadOnlyList<(string Name, IReadOnlyList<(int Images, double Mean, double Std)> Points)> series)
    {
        var model = NewPlot("Test top-1 against labelled training images", series.Select(s => s.Name));
        model.Axes.Add(new LogarithmicAxis { Position = AxisPosition.Bottom, Title = "labelled images for the student", MajorGridlineStyle = LineStyle.Dot, MinimumPadding = 0.05, MaximumPadding = 0.05 });
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Left, Title = "test top-1 (%), mean ± std over seeds", MajorGridlineStyle = LineStyle.Dot });
        model.Legends.Add(new Legend { LegendPosition = LegendPosition.RightBottom, LegendBackground = OxyColor.FromAColor(220, OxyColors.White) });
        foreach (var ((name, points), index) in series.Select((s, i) => (s, i)))
        {
            // The band takes its line's colour, so each spread reads as that series'.
            var color = model.DefaultColors[index % model.DefaultColors.Count];
            var band = new AreaSeries { Fill = OxyColor.FromAColor(45, color), Color = OxyColors.Transparent, Color2 = OxyColors.Transparent, StrokeThickness = 0, RenderInLegend = false };
            band.Points.AddRange(points.Select(p => new DataPoint(p.Images, 100 * (p.Mean + p.Std))));
            band.Points2.AddRange(points.Select(p => new DataPoint(p.Images, 100 * (p.Mean - p.Std))));
            model.Series.Add(band);
            var line = new LineSeries { Title = name, Color = color, MarkerType = MarkerType.Circle, MarkerSize = 4, StrokeThickness = 2 };
            line.Points.AddRange(points.Select(p => new DataPoint(p.Images, 100 * p.Mean)));
            model.Series.Add(line);
        }
        Save(model, path, 900, 550);
    }

    /// <summary>The confusion matrix (rows: true class, columns: predicted), counts written in the cells.</summary>
    public static void Confusion(string path, IReadOnlyList<string> classes, IReadOnlyList<IReadOnlyList<double>> counts)
    {
        var n = classes.Count;
        var model = NewPlot("Confusion matrix (rows: true class, columns: predicted)", classes);
        model.Axes.Add(new CategoryAxis { Position = AxisPosition.Bottom, Key = "predicted", Title = "predicted", ItemsSource = classes, Angle = -35 });
        model.Axes.Add(new CategoryAxis { Position = AxisPosition.Left, Key = "true", Title = "true class", ItemsSource = classes, StartPosition = 1, EndPosition = 0 });
        model.Axes.Add(new LinearColorAxis { Position = AxisPosition.Right, Palette = OxyPalettes.Viridis(200) });
        // HeatMapSeries indexes Data[x, y]: x is the predicted (column) index, y the true (row) index.
        var data = new double[n, n];
        for (var truth = 0; truth < n; truth++)
            for (var predicted = 0; predicted < n; predicted++)
                data[predicted, truth] = counts[truth][predicted];
        model.Series.Add(new HeatMapSeries
        {
            X0 = 0, X1 = n - 1, Y0 = 0, Y1 = n - 1, XAxisKey = "predicted", YAxisKey = "true",
            Data = data, RenderMethod = HeatMapRenderMethod.Rectangles, LabelFormatString = "0", LabelFontSize = 0.25,
        });
        Save(model, path, 900, 820);
    }

    /// <summary>Fonts tried in order: the first one installed that has a glyph for every character of the plot's text.
    /// Skia resolves OxyPlot's default ("Segoe UI") on Linux to whatever family its font manager offers first (on
    /// Debian 12 a serif maths font without Cyrillic), and it falls back per family, not per glyph, so a class name in Chinese or
    /// Russian came out as boxes. DejaVu Sans has Latin, Greek and Cyrillic; WenQuanYi Micro Hei (installed by the
    /// prerequisites) and Noto CJK add Chinese, Japanese and Korean.</summary>
    static readonly string[] FontFamilies = ["DejaVu Sans", "WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans", "Liberation Sans", "Arial"];

    static PlotModel NewPlot(string title, IEnumerable<string> texts) =>
        new() { Title = title, Background = OxyColors.White, DefaultFont = FontFor(texts.Append(title)) };

    /// <summary>The first of <see cref="FontFamilies"/> installed with a glyph for every character of
    /// <paramref name="texts"/>; the first installed one when none has them all; OxyPlot's default when none is.</summary>
    public static string FontFor(IEnumerable<string> texts)
    {
        var runes = texts.SelectMany(t => t.EnumerateRunes()).Where(r => !Rune.IsWhiteSpace(r)).Distinct().ToList();
        string? installed = null;
        foreach (var family in FontFamilies)
        {
            using var typeface = SKTypeface.FromFamilyName(family);
            if (typeface is null || typeface.FamilyName != family)
                continue;
            installed ??= family;
            if (runes.All(r => typeface.ContainsGlyph(r.Value)))
                return family;
        }
        return installed ?? new PlotModel().DefaultFont;
    }

    /// <summary>Renders into memory, then writes the bytes atomically. The exporter writes through SkiaSharp's native
    /// encoder, which calls back into the stream: a write failing there (a full disk) cannot unwind through the native
    /// frames and aborted the process, leaving the temporary file behind. In memory the encoder cannot fail that way.</summary>
    static void Save(PlotModel model, string path, int width, int height)
    {
        using var png = new MemoryStream();
        new PngExporter { Width = width, Height = height }.Export(model, png);
        AtomicFile.Write(path, stream => png.WriteTo(stream));
    }
}
