using ScaleKD.Torch.Teachers;

namespace ScaleKD.Torch.Tests.Training;

/// <summary>The verdict on a teacher before distilling: clearly better than chance and the student alone, by two
/// standard errors of the difference on the validation images.</summary>
[Trait("Category", "Training")]
public sealed class TeacherCheckTests
{
    [Fact]
    public void TheRound1FolderCaseStops()
    {
        // 1,797 images, 10 classes, a fifth held out: a 15.6 % from-scratch teacher against a 74.9 % student alone.
        var verdict = TeacherCheck.Judge(0.156, classCount: 10, studentTop1: 0.749, validationCount: 359);
        Assert.True(verdict.Checked);
        Assert.False(verdict.TeacherHelps);
        Assert.Contains("not clearly better than the student alone", verdict.Message);
        Assert.Contains("pretrained teacher", verdict.Message);
    }

    [Fact]
    public void AStrongTeacherPasses()
    {
        var verdict = TeacherCheck.Judge(0.922, classCount: 10, studentTop1: 0.749, validationCount: 359);
        Assert.True(verdict.TeacherHelps);
        Assert.Contains("clearly better", verdict.Message);
    }

    [Theory]
    // Chance is 1/3: on 24 images a 60–75 % teacher needs 2·√((p(1−p) + (1/3)(2/3))/24) ≈ 0.26–0.28 above it; on
    // 2,400 images a 36–38 % one needs ≈ 0.027.
    [InlineData(0.60, 24, false)]
    [InlineData(0.75, 24, true)]
    [InlineData(0.38, 2400, true)]
    [InlineData(0.36, 2400, false)]
    public void ChanceIsBeatenOnlyBeyondTwoStandardErrors(double teacher, int images, bool helps)
    {
        var verdict = TeacherCheck.Judge(teacher, classCount: 3, studentTop1: null, validationCount: images);
        Assert.Equal(helps, verdict.TeacherHelps);
        if (!helps)
            Assert.Contains("not clearly better than chance", verdict.Message);
    }

    [Fact]
    public void WithoutValidationTheTeacherIsNotCheckedAndNotBlocked()
    {
        var verdict = TeacherCheck.Judge(null, classCount: 10, studentTop1: 0.5, validationCount: 0);
        Assert.False(verdict.Checked);
        Assert.True(verdict.TeacherHelps);
    }
}
