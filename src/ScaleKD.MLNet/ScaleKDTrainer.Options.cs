using Microsoft.ML;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Training;
using ScaleKD.Torch.Training.Augmentation;
using ScaleKD.Torch.Training.Optimization;
using ScaleKD.Torch.Training.Teachers;

namespace ScaleKD.MLNet;

public sealed partial class ScaleKDTrainer
{
    /// <summary>Settings of <see cref="ScaleKDTrainer"/>. Defaults follow the official ScaleKD recipe; the tiny model
    /// names (e.g. <c>vit_pico_patch4_32</c>, <c>resnet_pico</c>) make CPU demos and tests fast.</summary>
    public sealed class Options
    {
        /// <summary>The label column: a key type (put <c>MapValueToKey</c> before the trainer). Rows with a missing key are skipped.</summary>
        public string LabelColumnName = "Label";

        /// <summary>The image column: an image from <c>LoadImages</c> (MLImage) or a Vector&lt;Byte&gt; holding an encoded file.</summary>
        public string ImageColumnName = "Image";

        /// <summary>The output column of class probabilities.</summary>
        public string ScoreColumnName = "Score";

        /// <summary>The output column of the predicted label (the label's key type).</summary>
        public string PredictedLabelColumnName = "PredictedLabel";

        /// <summary>The teacher architecture by its timm name, e.g. <c>swin_large_patch4_window7_224</c>, <c>vit_small_patch16_224</c>.</summary>
        public string Teacher = "vit_small_patch16_224";

        /// <summary>The teacher's weights: a timm/Hugging Face safetensors file (timm parameter names; a head for other
        /// classes is replaced by a linear probe), or a teacher this tool saved (with its <c>.json</c> beside it).
        /// Null trains the teacher from scratch on the training data for <see cref="TeacherEpochs"/>.</summary>
        public string? TeacherWeightsPath;

        /// <summary>Epochs of from-scratch teacher training, when no weights are given.</summary>
        public int TeacherEpochs = 10;

        /// <summary>The data a teacher trained from scratch learns from; null uses the training data. A teacher that has seen
        /// more than the student (the analogue of a pretrained one) is what makes distillation pay off.</summary>
        public IDataView? TeacherTrainingSet;

        /// <summary>Where to save a teacher trained from scratch (safetensors plus .json), so later runs can reuse it.</summary>
        public string? TeacherOutputPath;

        /// <summary>The student architecture by its timm name, e.g. <c>resnet18</c>, <c>mobilenetv1_100</c>, <c>vit_small_patch16_224</c>.</summary>
        public string Student = "resnet18";

        /// <summary>The distillation method; the baselines run through the same loop for fair comparisons.</summary>
        public DistillationMethod Method = DistillationMethod.ScaleKD;

        /// <summary>Images are resized to this square size; stored in the model.</summary>
        public int ImageSize = 224;

        /// <summary>Student training epochs.</summary>
        public int Epochs = 10;

        /// <summary>Images per step.</summary>
        public int BatchSize = 64;

        /// <summary>Seed of data order, augmentation and initialisation; null uses the MLContext's seed (or 0).</summary>
        public int? Seed;

        /// <summary>Evaluated after every epoch (top-1, top-5, loss) to choose the best epoch and for early stopping.</summary>
        public IDataView? ValidationSet;

        /// <summary>Stop after this many epochs without validation improvement; null never stops early.</summary>
        public int? EarlyStoppingPatience;

        /// <summary>Receives the student's progress every few steps and at every epoch's end (also written to ML.NET's log channel).</summary>
        public IProgress<DistillationProgress>? Progress;

        /// <summary>Receives the progress of a teacher trained from scratch.</summary>
        public IProgress<DistillationProgress>? TeacherProgress;

        /// <summary>Enables checkpoints after every epoch and resuming from them.</summary>
        public string? CheckpointDirectory;

        /// <summary>Stops training at the next step; <c>Fit</c> then returns the best model so far.</summary>
        public CancellationToken CancellationToken;

        /// <summary>Optimizer; null: the official recipe for the student family, learning rate scaled to the batch size.</summary>
        public OptimizerRecipe? Optimizer;

        /// <summary>Optimizer of a teacher trained from scratch; null: the same choice as <see cref="Optimizer"/>, applied to the teacher's family.</summary>
        public OptimizerRecipe? TeacherOptimizer;

        /// <summary>Warm-up epochs; null: the official share of the run.</summary>
        public double? WarmupEpochs;

        /// <summary>Global gradient-norm clip; null switches it off.</summary>
        public double? GradientClipNorm = 5.0;

        /// <summary>Switches off the EMA of student weights that the recipe keeps for ViT, Swin and ConvNeXt students.</summary>
        public bool DisableEma;

        /// <summary>Training augmentation; null: the official one at <see cref="ImageSize"/>.</summary>
        public AugmentationOptions? Augmentation;

        /// <summary>ScaleKD's loss weights, switches and temperatures.</summary>
        public ScaleKDLossOptions Loss = new();

        /// <summary>The linear probe run when an imported teacher's head does not match the classes.</summary>
        public LinearProbeOptions LinearProbe = new();

        /// <summary>Skip rows whose image cannot be decoded (and report how many) instead of failing on the first.</summary>
        public bool SkipUndecodableImages;

        /// <summary>Rows scored per forward pass by the fitted transformer's <c>Transform</c>.</summary>
        public int ScoringBatchSize = 32;

        internal DistillationOptions ToDistillationOptions(DistillationMethod method, int epochs, int seed, string? checkpointDirectory,
            Torch.Native.TorchBackendOptions backend, OptimizerRecipe? optimizer) => new()
        {
            Method = method,
            ScaleKD = Loss,
            Epochs = epochs,
            BatchSize = BatchSize,
            Seed = seed,
            Optimizer = optimizer,
            WarmupEpochs = WarmupEpochs,
            GradientClipNorm = GradientClipNorm,
            DisableEma = DisableEma,
            Augmentation = Augmentation,
            EarlyStoppingPatience = EarlyStoppingPatience,
            CheckpointDirectory = checkpointDirectory,
            Backend = backend,
        };
    }
}
