using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Training;

/// <summary>
/// The tiny model of tests/reference/cases_optim.py: tokens (N, 4, 6) + pos_embed, Linear, tanh, LayerNorm, token
/// mean, Linear head. It has one parameter of every kind the weight-decay grouping tells apart.
/// </summary>
sealed class TinyTokenNet : nn.Module<Tensor, Tensor>
{
    readonly Parameter pos_embed;
    readonly Linear fc1;
    readonly LayerNorm norm;
    readonly Linear head;

    public TinyTokenNet() : base(nameof(TinyTokenNet))
    {
        pos_embed = nn.Parameter(randn(1, 4, 6) * 0.2);
        fc1 = nn.Linear(6, 8);
        norm = nn.LayerNorm(8);
        head = nn.Linear(8, 3);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => head.forward(norm.forward(tanh(fc1.forward(x + pos_embed))).mean([1]));

    /// <summary>The state as bytes (TorchSharp's format), to start another instance from the same weights.</summary>
    public byte[] SaveToBytes()
    {
        using var stream = new MemoryStream();
        save(stream);
        return stream.ToArray();
    }

    public TinyTokenNet LoadFromBytes(byte[] bytes)
    {
        using var reader = new BinaryReader(new MemoryStream(bytes));
        load(reader);
        return this;
    }
}
