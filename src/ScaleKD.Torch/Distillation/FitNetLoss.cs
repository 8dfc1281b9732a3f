using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Distillation;

/// <summary>
/// FitNet-style hint loss (Romero et al., 2015), a feature-distillation baseline: a 1×1 conv regressor maps the
/// student map to the teacher's channels, average pooling brings it to the teacher's grid, then mean squared error.
/// </summary>
public sealed class FitNetLoss : nn.Module<Tensor, Tensor, Tensor>
{
    readonly Conv2d regressor;

    /// <summary>Creates the regressor from <paramref name="studentChannels"/> to <paramref name="teacherChannels"/>.</summary>
    public FitNetLoss(long studentChannels, long teacherChannels) : base(nameof(FitNetLoss))
    {
        regressor = nn.Conv2d(studentChannels, teacherChannels, 1);
        RegisterComponents();
    }

    /// <param name="student">(N, Cs, Hs, Ws).</param>
    /// <param name="teacher">(N, Ct, Ht, Wt) with Ht ≤ Hs and Wt ≤ Ws.</param>
    public override Tensor forward(Tensor student, Tensor teacher)
    {
        var regressed = nn.functional.adaptive_avg_pool2d(regressor.forward(student), [teacher.shape[2], teacher.shape[3]]);
        return nn.functional.mse_loss(regressed, teacher);
    }
}
