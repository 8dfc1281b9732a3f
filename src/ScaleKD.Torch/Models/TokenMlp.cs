using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Models;

/// <summary>The two-layer GELU MLP of ViT, Swin and MLP-Mixer blocks (timm <c>Mlp</c>: <c>fc1</c>, <c>fc2</c>).</summary>
internal sealed class TokenMlp : nn.Module<Tensor, Tensor>
{
    readonly Linear fc1;
    readonly GELU act;
    readonly Linear fc2;

    public TokenMlp(int inFeatures, int hiddenFeatures) : base(nameof(TokenMlp))
    {
        fc1 = nn.Linear(inFeatures, hiddenFeatures);
        act = nn.GELU();
        fc2 = nn.Linear(hiddenFeatures, inFeatures);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        return fc2.forward(act.forward(fc1.forward(x)));
    }
}
