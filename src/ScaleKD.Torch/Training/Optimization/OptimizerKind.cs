namespace ScaleKD.Torch.Training.Optimization;

/// <summary>The optimizers the official ScaleKD recipes use (docs/method.md, "Training recipe").</summary>
public enum OptimizerKind
{
    /// <summary>AdamW (decoupled weight decay): the advanced recipe for ViT, Swin, ConvNeXt and Mixer students.</summary>
    AdamW,
    /// <summary>LAMB (<see cref="Lamb"/>, timm semantics): the advanced recipe for ResNet-50 and MobileNetV1 students.</summary>
    Lamb,
    /// <summary>SGD with momentum: the traditional recipe (lr 0.1, step decay, 100 epochs).</summary>
    Sgd,
}
