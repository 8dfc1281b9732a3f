using ScaleKD.Torch.Tests.Parity;
using ScaleKD.Torch.Training.Augmentation;
using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Training;

/// <summary>
/// The augmentation ops against PIL 9.4 (tests/reference/cases_aug.py), the library timm's RandAugment and crops call.
/// Ops defined on 8-bit codes must match exactly; the continuous ones within one code, as PIL truncates its 8-bit
/// results where these stay continuous. The enhance blends get one more code times |1 − factor|: PIL also rounds their
/// degenerate image (gray, smoothed or mean level) to codes before blending, an error the blend scales by |1 − factor|.
/// </summary>
[Trait("Category", "Augmentation")]
public sealed class PilParityTests : TensorScopeTest
{
    const double Exact = 1e-6;
    const double OneCode = 1.0 / 255 + 1e-5;
    const double Blend = -1; // marks the enhance ops, whose tolerance depends on the factor (see the summary)
    static readonly double[] ImageNetFill = [124 / 255.0, 116 / 255.0, 104 / 255.0];

    readonly ParityFixture _fixture;

    public PilParityTests()
    {
        _fixture = ParityFixture.Load("aug_pil_ops");
    }

    public override void Dispose()
    {
        _fixture.Dispose();
        base.Dispose();
    }

    [Theory]
    [InlineData("equalize", RandAugmentOp.Equalize, double.NaN, Exact)]
    [InlineData("invert", RandAugmentOp.Invert, double.NaN, Exact)]
    [InlineData("posterize_1", RandAugmentOp.Posterize, 1.0, Exact)]
    [InlineData("posterize_3", RandAugmentOp.Posterize, 3.0, Exact)]
    [InlineData("solarize_26", RandAugmentOp.Solarize, 26.0, Exact)]
    [InlineData("solarize_128", RandAugmentOp.Solarize, 128.0, Exact)]
    [InlineData("solarizeadd_99", RandAugmentOp.SolarizeAdd, 99.0, Exact)]
    [InlineData("autocontrast", RandAugmentOp.AutoContrast, double.NaN, OneCode)]
    [InlineData("color_0p1", RandAugmentOp.Color, 0.1, Blend)]
    [InlineData("color_1p9", RandAugmentOp.Color, 1.9, Blend)]
    [InlineData("contrast_0p4", RandAugmentOp.Contrast, 0.4, Blend)]
    [InlineData("contrast_1p9", RandAugmentOp.Contrast, 1.9, Blend)]
    [InlineData("brightness_0p2", RandAugmentOp.Brightness, 0.2, Blend)]
    [InlineData("brightness_1p8", RandAugmentOp.Brightness, 1.8, Blend)]
    [InlineData("sharpness_0p1", RandAugmentOp.Sharpness, 0.1, Blend)]
    [InlineData("sharpness_1p9", RandAugmentOp.Sharpness, 1.9, Blend)]
    [InlineData("rotate_27", RandAugmentOp.Rotate, 27.0, OneCode)]
    [InlineData("rotate_m13p5", RandAugmentOp.Rotate, -13.5, OneCode)]
    [InlineData("shearx_0p27", RandAugmentOp.ShearX, 0.27, OneCode)]
    [InlineData("sheary_m0p27", RandAugmentOp.ShearY, -0.27, OneCode)]
    [InlineData("translatexrel_0p405", RandAugmentOp.TranslateXRel, 0.405, OneCode)]
    [InlineData("translateyrel_m0p2", RandAugmentOp.TranslateYRel, -0.2, OneCode)]
    public void RandAugmentOpsMatchPil(string name, RandAugmentOp op, double argument, double tolerance)
    {
        var output = RandAugment.ApplyOp(_fixture.Input("images"), op, [argument], ImageNetFill);
        ParityAssert.Absolute(_fixture.Output(name), output, $"{op} vs PIL", Tolerance(tolerance, argument));
    }

    [Theory]
    [InlineData("gray_equalize", RandAugmentOp.Equalize, double.NaN, Exact)]
    [InlineData("gray_autocontrast", RandAugmentOp.AutoContrast, double.NaN, OneCode)]
    [InlineData("gray_contrast_1p9", RandAugmentOp.Contrast, 1.9, Blend)]
    [InlineData("gray_rotate_27", RandAugmentOp.Rotate, 27.0, OneCode)]
    public void GrayscaleOpsMatchPilOnLImages(string name, RandAugmentOp op, double argument, double tolerance)
    {
        // PIL's convert("L") of the fill (124, 116, 104) is 117, which RandAugment.FillFor gives a 1-channel batch.
        var fill = new RandAugment(new RandAugmentOptions { Fill = ImageNetFill }).FillFor(1);
        Assert.Equal(117 / 255.0, fill.Single(), 12);
        var output = RandAugment.ApplyOp(_fixture.Input("gray"), op, [argument], fill);
        ParityAssert.Absolute(_fixture.Output(name), output, $"{op} (gray) vs PIL", Tolerance(tolerance, argument));
    }

    static double Tolerance(double tolerance, double factor) => tolerance == Blend ? OneCode + Math.Abs(1 - factor) / 255 : tolerance;

    [Theory]
    [InlineData("resizedcrop_down", 1, 2, 13, 11, 8)]
    [InlineData("resizedcrop_up", 5, 3, 6, 7, 16)]
    public void ResizedCropsMatchPilBilinearResize(string name, int top, int left, int height, int width, int size)
    {
        var crop = new RandomResizedCrop(size);
        var images = _fixture.Input("images");
        var boxes = Enumerable.Repeat(new CropBox(top, left, height, width), (int)images.shape[0]).ToArray();
        ParityAssert.Absolute(_fixture.Output(name), crop.Apply(images, boxes), $"resized crop {name} vs PIL", OneCode);
    }
}
