using Microsoft.ML;
using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Teachers;
using ScaleKD.Torch.Training;
using ScaleKD.Torch.Training.Augmentation;
using ScaleKD.Torch.Training.Optimization;

namespace ScaleKD.MLNet;

public sealed partial class ScaleKDTrainer
{
    /// <summary>Settings of <see cref="ScaleKDTrainer"/>: the columns, the data views and callbacks, and the distillation
    /// settings, which are a <see cref="DistillationSpec"/> underneath (its defaults are these defaults; they follow the
    /// official ScaleKD recipe). The tiny model names (e.g. <c>vit_pico_patch4_32</c>, <c>resnet_pico</c>) make CPU
    /// demos and tests fast.</summary>
    public sealed class Options
    {
        /// <summary>The distillation settings the properties below read and write.</summary>
        internal DistillationSpec Spec { get; private set; } = DistillationSpec.Default;

        /// <summary>Options that ask for <paramref name="spec"/>, its seed included (the device still comes from the
        /// MLContext). Set the columns, data views and callbacks on the result.</summary>
        public static Options FromSpec(DistillationSpec spec) => new() { Spec = spec, Seed = spec.Seed };

        /// <summary>These settings as a distillation spec, with the seed and device the ML.NET context resolved.</summary>
        internal DistillationSpec ToSpec(int seed, TorchBackendOptions backend) => Spec with { Seed = seed, Backend = backend };

        /// <summary>The label column: a key type (put <c>MapValueToKey</c> before the trainer). Rows with a missing key
        /// are skipped. <c>MapKeyToValue</c> on the predicted label gives back the label's own values and type.</summary>
        public string LabelColumnName = "Label";

        /// <summary>The image column: an image from <c>LoadImages</c> (MLImage) or a Vector&lt;Byte&gt; holding an encoded file.</summary>
        public string ImageColumnName = "Image";

        /// <summary>The output column of class probabilities.</summary>
        public string ScoreColumnName = "Score";

        /// <summary>The output column of the predicted label (the label's key type).</summary>
        public string PredictedLabelColumnName = "PredictedLabel";

        /// <summary>The teacher architecture by its timm name, e.g. <c>swin_large_patch4_window7_224</c>, <c>vit_small_patch16_224</c>.
        /// Default: <c>resnet18_imagenet_mlnet</c>, the ImageNet ResNet-18 of ML.NET's own package
        /// (Microsoft.ML.DnnImageFeaturizer.ResNet18), with a linear probe fitted on the training labels.</summary>
        public string Teacher { get => Spec.Teacher.Model; set => Spec = Spec with { Teacher = Spec.Teacher with { Model = value } }; }

        /// <summary>The teacher's weights: a timm/Hugging Face safetensors file (timm parameter names; a head for other
        /// classes is replaced by a linear probe), or a teacher this library saved (with its <c>.json</c> beside it).
        /// Null trains the teacher from scratch on the training data for <see cref="TeacherEpochs"/>.</summary>
        public string? TeacherWeightsPath { get => Spec.Teacher.WeightsPath; set => Spec = Spec with { Teacher = Spec.Teacher with { WeightsPath = value } }; }

        /// <summary>The side of the square images the teacher sees (resized from the student's); null: the student's,
        /// raised to 64 px (or the next multiple of 16) for <c>resnet18_imagenet_mlnet</c>. Only pretrained teachers
        /// may differ from <see cref="ImageSize"/>.</summary>
        public int? TeacherImageSize { get => Spec.Teacher.ImageSize; set => Spec = Spec with { Teacher = Spec.Teacher with { ImageSize = value } }; }

        /// <summary>What a teacher that is not clearly better than chance and than the student alone leads to:
        /// <see cref="WeakTeacherPolicy.Warn"/> (default) logs a warning and records the verdict on the transformer
        /// (<see cref="ScaleKDTransformer.TeacherVerdict"/>); <see cref="WeakTeacherPolicy.Stop"/> throws
        /// <see cref="WeakTeacherException"/> before distilling; <see cref="WeakTeacherPolicy.Off"/> skips the check and
        /// its quick student-only run.</summary>
        public WeakTeacherPolicy WeakTeacher { get => Spec.TeacherCheck.Policy; set => Spec = Spec with { TeacherCheck = Spec.TeacherCheck with { Policy = value } }; }

        /// <summary>The student-only validation top-1 to judge the teacher against, when it is already known (a baseline
        /// fit on the same validation set); null trains a quick student-only estimate.</summary>
        public double? StudentOnlyValidationTop1;

        /// <summary>On a training set under 20,000 images with no <see cref="Optimizer"/> chosen, the small-data recipe is
        /// used and the epochs are raised until the run takes at least this many steps (the log says so); 0 keeps
        /// <see cref="Epochs"/>. Default 600.</summary>
        public int MinimumSteps { get => Spec.MinimumSteps; set => Spec = Spec with { MinimumSteps = value }; }

        /// <summary>Pretrained weights the student starts from (timm / Hugging Face safetensors, timm parameter names); a
        /// classifier trained for other classes is replaced, any other mismatch is an error naming the keys. Null: the
        /// seed's initial weights.</summary>
        public string? StudentWeightsPath { get => Spec.StudentWeightsPath; set => Spec = Spec with { StudentWeightsPath = value }; }

        /// <summary>Epochs of from-scratch teacher training, when no weights are given.</summary>
        public int TeacherEpochs { get => Spec.Teacher.Epochs; set => Spec = Spec with { Teacher = Spec.Teacher with { Epochs = value } }; }

        /// <summary>Epochs of fine-tuning a pretrained teacher whole on the training labels after its linear probe (the
        /// backbone at a tenth of the head's learning rate); 0 (the default): the probe alone. The teacher's validation
        /// accuracy after it is logged and checked (<see cref="WeakTeacher"/>).</summary>
        public int TeacherFineTuneEpochs { get => Spec.Teacher.FineTuneEpochs; set => Spec = Spec with { Teacher = Spec.Teacher with { FineTuneEpochs = value } }; }

        /// <summary>Optimizer and schedule of a teacher trained from scratch; null: the same choice as <see cref="Optimizer"/>,
        /// applied to the teacher's family.</summary>
        public OptimizerRecipe? TeacherOptimizer { get => Spec.Teacher.Optimizer; set => Spec = Spec with { Teacher = Spec.Teacher with { Optimizer = value } }; }

        /// <summary>Seed of a from-scratch teacher; null: <see cref="Seed"/>. Fits that should share one cached teacher
        /// give it the same seed.</summary>
        public int? TeacherSeed { get => Spec.Teacher.Seed; set => Spec = Spec with { Teacher = Spec.Teacher with { Seed = value } }; }

        /// <summary>The linear probe run when an imported teacher's head does not match the classes.</summary>
        public LinearProbeOptions LinearProbe { get => Spec.Teacher.LinearProbe; set => Spec = Spec with { Teacher = Spec.Teacher with { LinearProbe = value } }; }

        /// <summary>Where to save a teacher trained from scratch (safetensors plus .json), so later runs can reuse it.</summary>
        public string? TeacherOutputPath { get => Spec.Teacher.SavePath; set => Spec = Spec with { Teacher = Spec.Teacher with { SavePath = value } }; }

        /// <summary>A folder of teachers trained from scratch, reused by later fits with the same teacher settings on the
        /// same data; it needs <see cref="TeacherCacheKey"/> to name the data.</summary>
        public string? TeacherCacheDirectory { get => Spec.Teacher.CacheDirectory; set => Spec = Spec with { Teacher = Spec.Teacher with { CacheDirectory = value } }; }

        /// <summary>Names the teacher's training data for <see cref="TeacherCacheDirectory"/>, e.g. its location and subsets.</summary>
        public string? TeacherCacheKey;

        /// <summary>The data a teacher trained from scratch learns from; null uses the training data. A teacher that has seen
        /// more than the student (the analogue of a pretrained one) is what makes distillation pay off.</summary>
        public IDataView? TeacherTrainingSet;

        /// <summary>Checked after every epoch of from-scratch teacher training and after a linear probe; null uses
        /// <see cref="ValidationSet"/>.</summary>
        public IDataView? TeacherValidationSet;

        /// <summary>Labelled images the prepared teacher is scored on once, before distilling, as the student is scored
        /// (its evaluation view at the student's size, resized to the teacher's): the result is
        /// <see cref="ScaleKDTransformer.TeacherTest"/>. Null (the default) skips it; it costs one teacher pass over the set.</summary>
        public IDataView? TeacherTestSet;

        /// <summary>The student architecture by its timm name, e.g. <c>resnet18</c>, <c>mobilenetv1_100</c>, <c>vit_small_patch16_224</c>.</summary>
        public string Student { get => Spec.Student; set => Spec = Spec with { Student = value }; }

        /// <summary>The distillation method; the baselines run through the same loop for fair comparisons.</summary>
        public DistillationMethod Method { get => Spec.Method; set => Spec = Spec with { Method = value }; }

        /// <summary>Images are resized to this square size; stored in the model.</summary>
        public int ImageSize { get => Spec.ImageSize; set => Spec = Spec with { ImageSize = value }; }

        /// <summary>Student training epochs.</summary>
        public int Epochs { get => Spec.Epochs; set => Spec = Spec with { Epochs = value }; }

        /// <summary>Images per step.</summary>
        public int BatchSize { get => Spec.BatchSize; set => Spec = Spec with { BatchSize = value }; }

        /// <summary>Seed of data order, augmentation and initialisation; null uses the MLContext's seed (or 0).</summary>
        public int? Seed;

        /// <summary>Optimizer and learning-rate schedule; null: the official recipe for the student family, learning rate
        /// scaled to the batch size.</summary>
        public OptimizerRecipe? Optimizer { get => Spec.Optimizer; set => Spec = Spec with { Optimizer = value }; }

        /// <summary>Global gradient-norm clip; null switches it off.</summary>
        public double? GradientClipNorm { get => Spec.GradientClipNorm; set => Spec = Spec with { GradientClipNorm = value }; }

        /// <summary>The EMA of student weights; null: the recipe's (kept for ViT, Swin and ConvNeXt students);
        /// <see cref="ModelEmaOptions.Off"/> switches it off.</summary>
        public ModelEmaOptions? Ema { get => Spec.Ema; set => Spec = Spec with { Ema = value }; }

        /// <summary>Training augmentation; null: the official one at <see cref="ImageSize"/>.</summary>
        public AugmentationOptions? Augmentation { get => Spec.Augmentation; set => Spec = Spec with { Augmentation = value }; }

        /// <summary>The objective's settings: the logit terms every method shares, and ScaleKD's feature terms.</summary>
        public ObjectiveOptions Objective { get => Spec.Objective; set => Spec = Spec with { Objective = value }; }

        /// <summary>Evaluated after every epoch (top-1, top-5, loss) to choose the best epoch and for early stopping.</summary>
        public IDataView? ValidationSet;

        /// <summary>Stop after this many epochs without validation improvement; null never stops early.</summary>
        public int? EarlyStoppingPatience { get => Spec.EarlyStoppingPatience; set => Spec = Spec with { EarlyStoppingPatience = value }; }

        /// <summary>Enables checkpoints after every epoch and resuming from them.</summary>
        public string? CheckpointDirectory { get => Spec.CheckpointDirectory; set => Spec = Spec with { CheckpointDirectory = value }; }

        /// <summary>On CUDA (<c>MLContext.GpuDeviceId</c>), run the frozen teacher in bfloat16. On by default.</summary>
        public bool TeacherBFloat16OnCuda { get => Spec.TeacherBFloat16OnCuda; set => Spec = Spec with { TeacherBFloat16OnCuda = value }; }

        /// <summary>On CUDA, run the student and the projectors in bfloat16 with float32 master weights (manual mixed
        /// precision; the saved student is float32). Off by default.</summary>
        public bool StudentBFloat16OnCuda { get => Spec.StudentBFloat16OnCuda; set => Spec = Spec with { StudentBFloat16OnCuda = value }; }

        /// <summary>Receives the student's progress every few steps and at every epoch's end (also written to ML.NET's log
        /// and progress channels).</summary>
        public IProgress<DistillationProgress>? Progress;

        /// <summary>Receives the progress of a teacher trained from scratch.</summary>
        public IProgress<DistillationProgress>? TeacherProgress;

        /// <summary>Stops training at the next step, as <c>MLContext.CancelExecution</c> does; <c>Fit</c> then returns the
        /// best model so far.</summary>
        public CancellationToken CancellationToken;

        /// <summary>Skip rows whose image cannot be decoded (and report how many) instead of failing on the first.</summary>
        public bool SkipUndecodableImages;

        /// <summary>Rows scored per forward pass by the fitted transformer's <c>Transform</c>.</summary>
        public int ScoringBatchSize = 32;
    }
}
