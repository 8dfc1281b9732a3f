using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Jobs;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Teachers;
using ScaleKD.Torch.Training;
using ScaleKD.Torch.Training.Augmentation;
using ScaleKD.Torch.Training.Optimization;
using ScaleKD.Torch.Training.Data;

namespace ScaleKD.Torch.Tests.Jobs;

/// <summary>A job on the first Fashion-MNIST training images, with a teacher (a ViT-pico unless named) whose head, or
/// whole self, is randomly initialised, saved the way this library saves teachers (so that exporting it needs no
/// teacher training or probe), augmentation off unless given.</summary>
sealed class TinyJob : IDisposable
{
    public TinyJob(string student, int imageSize, int batch, int images, ProjectorStem? stem = null, int epochs = 1,
        string teacher = "vit_pico_patch4_32", AugmentationOptions? augmentation = null, OptimizerRecipe? optimizer = null,
        DistillationMethod method = DistillationMethod.ScaleKD, string? studentWeights = null)
    {
        TorchBackend.Initialize();
        var classes = FashionMnist.ClassNames;
        var teacherSpec = new TeacherSpec { Model = teacher, WeightsPath = Path.Combine(_teacherFolder, "teacher.safetensors") };
        var options = new ModelOptions(classes.Count, teacherSpec.ImageSizeFor(imageSize));
        using (var model = ModelRegistry.Create(teacher, options, seed: 7))
            TeacherFiles.Save(model, new TeacherDescription(teacher, options, classes, null), teacherSpec.WeightsPath);
        Spec = new DistillationSpec
        {
            Teacher = teacherSpec,
            Student = student,
            Method = method,
            StudentWeightsPath = studentWeights,
            ImageSize = imageSize,
            BatchSize = batch,
            Epochs = epochs,
            Seed = 3,
            Augmentation = augmentation ?? AugmentationOptions.Disabled(imageSize),
            Optimizer = optimizer,
            Objective = new ObjectiveOptions { ScaleKD = new ScaleKDOptions { Stem = stem } },
        };
        var data = new JobData.Idx(Path.Combine(FashionMnist.DefaultDirectory, "train-images-idx3-ubyte.gz"),
            Path.Combine(FashionMnist.DefaultDirectory, "train-labels-idx1-ubyte.gz"), 60000, Enumerable.Range(0, images).ToList());
        Settings = JobExport.Write(Spec, classes, data, null, Folder, PythonRunner.ShippedDirectory);
    }

    // The job's own folder must be empty when it is exported (JobExport refuses a used one); the saved teacher lives beside it.
    readonly string _teacherFolder = Directory.CreateTempSubdirectory("scalekd-job-teacher-").FullName;

    public string Folder { get; } = Path.Combine(Directory.CreateTempSubdirectory("scalekd-job-").FullName, "job");
    public DistillationSpec Spec { get; }
    public JobSettings Settings { get; }

    public string File(string name) => Path.Combine(Folder, name);

    public void Dispose()
    {
        Directory.Delete(Path.GetDirectoryName(Folder)!, recursive: true);
        Directory.Delete(_teacherFolder, recursive: true);
    }
}
