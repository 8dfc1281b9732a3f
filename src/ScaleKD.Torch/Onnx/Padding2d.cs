using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace ScaleKD.Torch.Onnx;

/// <summary>
/// ONNX 2-D padding (<c>pads</c> = [top, left, bottom, right], or <c>auto_pad</c> = VALID). Symmetric pads go to the
/// operator itself; asymmetric ones become an explicit pad first (CNTK's stride-2 layers pad top and left only).
/// </summary>
readonly record struct Padding2d(long Top, long Left, long Bottom, long Right)
{
    public bool IsSymmetric => Top == Bottom && Left == Right;

    /// <summary>What the operator pads itself: the pads when symmetric, else none.</summary>
    public long[] Symmetric => IsSymmetric ? [Top, Left] : [0, 0];

    public Tensor Apply(Tensor x, double value) =>
        IsSymmetric ? x : F.pad(x, [Left, Right, Top, Bottom], PaddingModes.Constant, value);

    public static Padding2d From(OnnxAttributes attributes)
    {
        var autoPad = attributes.String("auto_pad", "NOTSET");
        if (autoPad is "SAME_UPPER" or "SAME_LOWER")
            throw new NotSupportedException($"ONNX node '{attributes.Node}' ({attributes.OpType}) uses auto_pad = {autoPad}; give explicit pads.");
        if (autoPad == "VALID")
            return default;
        var pads = attributes.Ints("pads", [0, 0, 0, 0]);
        if (pads.Length != 4)
            throw new NotSupportedException($"ONNX node '{attributes.Node}' ({attributes.OpType}) has {pads.Length} pads; 2-D layers have 4.");
        return new Padding2d(pads[0], pads[1], pads[2], pads[3]);
    }
}
