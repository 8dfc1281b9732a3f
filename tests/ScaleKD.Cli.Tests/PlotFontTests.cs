using SkiaSharp;

namespace ScaleKD.Cli.Tests;

/// <summary>Class names in any script come out as letters, not boxes, in the report's plots: the font chosen has a
/// glyph for each of their characters. The fonts are the ones scripts/prerequisites.sh installs.</summary>
[Trait("Category", "Cli")]
public sealed class PlotFontTests
{
    [Theory]
    [InlineData("DejaVu Sans", new[] { "T-shirt/top", "Ankle boot" })]
    [InlineData("DejaVu Sans", new[] { "Пальто", "Σανδάλι", "Bag" })]
    [InlineData("WenQuanYi Micro Hei", new[] { "衬衫", "Пальто", "バッグ", "가방" })]
    public void TheFontChosenDrawsEveryCharacterOfTheClassNames(string expected, string[] classNames)
    {
        var family = Plots.FontFor(classNames);
        Assert.Equal(expected, family);
        using var typeface = SKTypeface.FromFamilyName(family);
        Assert.All(classNames.SelectMany(n => n.EnumerateRunes()).Where(r => !System.Text.Rune.IsWhiteSpace(r)),
            r => Assert.True(typeface.ContainsGlyph(r.Value), $"{family} has no glyph for {r}"));
    }
}
