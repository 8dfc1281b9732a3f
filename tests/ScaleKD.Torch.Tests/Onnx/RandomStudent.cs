using ScaleKD.Torch.Models;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Tests.Onnx;

/// <summary>
/// Weights that leave nothing to chance in an export test: timm's initialisation zeroes some weights (Mixer's head,
/// ResNet's last BN per block), sets ConvNeXt's layer scale to 1e-6 and batch norm to the identity, any of which would
/// hide a wrong or missing node. Here every weight is random at a scale that keeps activations of order one.
/// </summary>
static class RandomStudent
{
    /// <summary>Draws every parameter afresh, then sets the batch norms' running statistics from one random batch in
    /// training mode (non-trivial means and variances that keep deep CNNs normalised), and leaves the model in eval mode.</summary>
    public static void Randomize(VisionModel model, int seed)
    {
        var random = new Generator((ulong)seed);
        using (no_grad())
        {
            foreach (var (name, parameter) in model.named_parameters())
            {
                var leaf = name[(name.LastIndexOf('.') + 1)..];
                using var value = parameter.dim() == 1
                    ? leaf == "bias" ? 0.1 * randn(parameter.shape, generator: random) : 0.5 + rand(parameter.shape, generator: random)
                    : leaf is "cls_token" or "pos_embed" ? 0.5 * randn(parameter.shape, generator: random)
                    // LeCun-normal over the fan-in: (out, in/groups·k·k) convolutions, (out, in) linears, (table, heads) biases.
                    : randn(parameter.shape, generator: random) / Math.Sqrt(parameter.numel() / parameter.shape[0]);
                parameter.copy_(value);
            }
        }

        var norms = model.modules().OfType<BatchNorm2d>().ToList();
        if (norms.Count > 0)
        {
            foreach (var norm in norms)
                norm.momentum = 1.0; // the running statistics become this one batch's
            model.train();
            using (no_grad())
            using (var scope = NewDisposeScope())
                model.forward(randn(4, model.Options.InChannels, model.Options.ImageSize, model.Options.ImageSize, generator: random));
            foreach (var norm in norms)
                norm.momentum = 0.1;
        }
        model.eval();
    }
}
