using ScaleKD.Torch.Distillation;
using ScaleKD.Torch.Jobs;
using ScaleKD.Torch.Models;
using ScaleKD.Torch.Native;
using ScaleKD.Torch.Teachers;
using ScaleKD.Torch.Training;
using ScaleKD.Torch.Training.Augmentation;
using ScaleKD.Torch.Training.Data;

namespace ScaleKD.Torch.Tests.Jobs;

/// <summary>A job on the first Fashion-MNIST training images, with a randomly initialised ViT teacher saved the way
/// this library saves teachers (so that exporting it needs no teacher training), augmentation off.</summary>
sealed class TinyJob : IDisposable
{
    public TinyJob(string student, int imageSize, int batch, int images, ProjectorStem? stem = null, int epochs = 1)
    {
        TorchBackend.Initialize();
        var classes = FashionMnist.ClassNames;
        var teacherPath = Path.Combine(Folder, "saved-teacher", "vit.safetensors");
        var options = new ModelOptions(classes.Count, imageSize);
        using (var teacher = ModelRegistry.Create("vit_pico_patch4_32", options, seed: 7))
            TeacherFiles.Save(teacher, new TeacherDescription("vit_pico_patch4_32", options, classes, null), teacherPath);
        Spec = new DistillationSpec
        {
            Teacher = new TeacherSpec { Model = "vit_pico_patch4_32", WeightsPath = teacherPath },
            Student = student,
            Method = DistillationMethod.ScaleKD,
            ImageSize = imageSize,
            BatchSize = batch,
            Epochs = epochs,
            Seed = 3,
            Augmentation = AugmentationOptions.Disabled(imageSize),
            Objective = new ObjectiveOptions { ScaleKD = new ScaleKDOptions { Stem = stem } },
        };
        var data = new JobData.Idx(Path.Combine(FashionMnist.DefaultDirectory, "train-images-idx3-ubyte.gz"),
            Path.Combine(FashionMnist.DefaultDirectory, "train-labels-idx1-ubyte.gz"), 60000, Enumerable.Range(0, images).ToList());
        Settings = JobExport.Write(Spec, classes, data, null, Folder, PythonRunner.ShippedDirectory);
    }

    public string Folder { get; } = Directory.CreateTempSubdirectory("scalekd-job-").FullName;
    public DistillationSpec Spec { get; }
    public JobSettings Settings { get; }

    public string File(string name) => Path.Combine(Folder, name);

    public void Dispose() => Directory.Delete(Folder, recursive: true);
}
