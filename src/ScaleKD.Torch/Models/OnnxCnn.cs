using System.Runtime.InteropServices;
using ScaleKD.Torch.Onnx;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Models;

/// <summary>
/// A CNN imported from an ONNX graph (<see cref="OnnxGraph"/>), as a model and a ScaleKD teacher. Its four stage maps
/// are found from the graph's strides: stage k is the last value at stride 2^(k+1) (4, 8, 16, 32) in node order, which
/// is where a ResNet's <c>layer1</c>–<c>layer4</c> end. Whatever the graph does after its stride-32 map (pooling, a
/// classifier for other classes) is replaced by global average pooling and a new linear <c>head</c>.
/// </summary>
/// <remarks>
/// <see cref="ForwardFromStage"/> (TPP) runs the nodes between the stage-3 and stage-4 maps on a substitute stage-3
/// map; loading checks that nothing in that span reads a value from before stage 3 other than the stage-3 map, as
/// holds for ResNets, whose stage-4 blocks read only their own input.
/// </remarks>
public sealed class OnnxCnn : VisionModel, ITeacherModel
{
    readonly OnnxGraph graph;
    readonly Linear head;
    readonly OnnxInputConvention _input;
    // The graph's input statistics as buffers, so that they move with the model to its device.
    readonly Tensor? input_mean;
    readonly Tensor? input_std;
    readonly string[] _stageValues;
    readonly int[] _stageEnds;
    readonly StageShape[] _shapes;

    /// <param name="name">The model's name (a registered name for built-in graphs).</param>
    /// <param name="graph">The imported graph; its declared input size, if any, must equal <see cref="ModelOptions.ImageSize"/>.</param>
    /// <param name="input">How the graph wants its pixels.</param>
    /// <exception cref="NotSupportedException">The graph has no clear four-stage stride structure, or its stage 4 reads
    /// values from before stage 3.</exception>
    public OnnxCnn(string name, OnnxGraph graph, OnnxInputConvention input, ModelOptions options) : base(name, options)
    {
        if (graph.ChecksInputSize && graph.InputShape.Count == 4 && graph.InputShape[2] > 0 && graph.InputShape[2] != options.ImageSize)
            throw new ArgumentException(
                $"{name} takes {graph.InputShape[2]} px images (its ONNX input is {string.Join("×", graph.InputShape)}); got ImageSize {options.ImageSize}.",
                nameof(options));
        this.graph = graph;
        _input = input;
        input_mean = input.Mean is { } mean ? (mean.dim() == 1 ? mean.view(1, -1, 1, 1) : mean.unsqueeze(0)).clone() : null;
        input_std = input.Std?.view(1, -1, 1, 1).clone();
        (_stageValues, _shapes) = FindStages(name, graph, options);
        _stageEnds = _stageValues.Select(v => graph.ProducerOf(v) + 1).ToArray();
        CheckStageFourReadsOnlyStageThree(name);
        NumFeatures = _shapes[3].Channels;
        head = nn.Linear(NumFeatures, options.NumClasses);
        RegisterComponents();
    }

    /// <summary>Imported CNNs are batch-norm CNNs; ScaleKD picks their projector settings as for ResNets.</summary>
    public override ModelFamily Family => ModelFamily.ResNet;

    /// <inheritdoc />
    public override int NumFeatures { get; }

    /// <inheritdoc />
    public override nn.Module<Tensor, Tensor> Classifier => head;

    /// <summary>The imported graph.</summary>
    public OnnxGraph Graph => graph;

    /// <summary>How the graph wants its pixels.</summary>
    public OnnxInputConvention InputConvention => _input;

    /// <summary>The shape of the <c>input_mean</c> buffer (the convention's mean laid out to broadcast over a batch),
    /// or null when there is none.</summary>
    public IReadOnlyList<long>? InputMeanShape => input_mean?.shape;

    /// <summary>The shape of the <c>input_std</c> buffer, or null when there is none.</summary>
    public IReadOnlyList<long>? InputStdShape => input_std?.shape;

    /// <summary>The graph values taken as the four stage maps.</summary>
    public IReadOnlyList<string> StageValues => _stageValues;

    /// <inheritdoc />
    public override IReadOnlyList<StageShape> StageShapes() => _shapes;

    /// <inheritdoc />
    public override StageFeatures ForwardStages(Tensor images)
    {
        CheckInput(images);
        var values = new Dictionary<string, Tensor>(StringComparer.Ordinal) { [graph.InputName] = ToGraphInput(images) };
        graph.Evaluate(values, 0, _stageEnds[3]);
        var stages = _stageValues.Select(v => values[v]).ToList();
        var preLogits = stages[3].mean([2, 3]);
        return new StageFeatures(stages, preLogits, head.forward(preLogits));
    }

    /// <inheritdoc />
    public Tensor ForwardFromStage(Tensor tokens, int stage)
    {
        if (stage != 3)
            throw new ArgumentOutOfRangeException(nameof(stage), stage, $"{GetName()} runs its later stages from stage 3 only.");
        var s3 = _shapes[2];
        var map = tokens.transpose(1, 2).reshape(tokens.shape[0], s3.Channels, s3.Height, s3.Width);
        var values = new Dictionary<string, Tensor>(StringComparer.Ordinal) { [_stageValues[2]] = map };
        graph.Evaluate(values, _stageEnds[2], _stageEnds[3]);
        return values[_stageValues[3]].flatten(2).transpose(1, 2);
    }

    static readonly double[] ImageNetMean = [0.485, 0.456, 0.406];
    static readonly double[] ImageNetStd = [0.229, 0.224, 0.225];

    /// <summary>timm-standardised RGB images (N, 3, H, W), as every model here takes them, in the graph's convention.</summary>
    Tensor ToGraphInput(Tensor images)
    {
        if (_input == OnnxInputConvention.Timm)
            return images;
        var x = images * tensor(ImageNetStd, dtype: images.dtype, device: images.device).view(1, 3, 1, 1)
                + tensor(ImageNetMean, dtype: images.dtype, device: images.device).view(1, 3, 1, 1);
        if (_input.PixelScale != 1)
            x = x * _input.PixelScale;
        if (_input.Bgr)
            x = x.flip(1);
        if (input_mean is not null)
            x = x - input_mean.to(images.dtype);
        if (input_std is not null)
            x = x / input_std.to(images.dtype);
        return x;
    }

    /// <summary>Runs the graph once on a blank image and takes, for each stride 4, 8, 16, 32, the last 4-D value at it.</summary>
    static (string[] Values, StageShape[] Shapes) FindStages(string name, OnnxGraph graph, ModelOptions options)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        graph.eval();
        var probe = zeros(1, options.InChannels, options.ImageSize, options.ImageSize);
        var values = new Dictionary<string, Tensor>(StringComparer.Ordinal) { [graph.InputName] = probe };
        // Node by node: at an image size other than the graph's own, a layer after the last stage (a fixed 7×7 average
        // pool, say) may not fit the smaller map; the stages end before it, and the model never runs it.
        for (var i = 0; i < graph.Operators.Count; i++)
        {
            try
            {
                graph.Evaluate(values, i, i + 1);
            }
            catch (Exception e) when (e is ExternalException or InvalidOperationException or ArgumentException)
            {
                break;
            }
        }
        var values4d = graph.Operators.Where(op => values.ContainsKey(op.Output))
            .Select(op => (op.Output, Value: values[op.Output])).Where(v => v.Value.dim() == 4).ToList();
        var names = new string[4];
        var shapes = new StageShape[4];
        for (var k = 0; k < 4; k++)
        {
            var size = (options.ImageSize + (4 << k) - 1) / (4 << k);
            var match = values4d.LastOrDefault(v => v.Value.shape[2] == size);
            if (match.Output is null)
                throw new NotSupportedException(
                    $"{name}: no value of the ONNX graph has a {size}×{size} map (stride {4 << k} at {options.ImageSize} px), so its four stages cannot be found.");
            names[k] = match.Output;
            shapes[k] = new StageShape((int)match.Value.shape[1], (int)match.Value.shape[2], (int)match.Value.shape[3]);
        }
        for (var k = 1; k < 4; k++)
            if (graph.ProducerOf(names[k]) <= graph.ProducerOf(names[k - 1]))
                throw new NotSupportedException($"{name}: the ONNX graph's stride-{4 << k} map comes before its stride-{2 << k} map.");
        return (names, shapes);
    }

    void CheckStageFourReadsOnlyStageThree(string name)
    {
        var available = new HashSet<string>(StringComparer.Ordinal) { _stageValues[2] };
        for (var i = _stageEnds[2]; i < _stageEnds[3]; i++)
        {
            var op = graph.Operators[i];
            foreach (var input in op.DataInputs.Where(input => !available.Contains(input)))
                throw new NotSupportedException(
                    $"{name}: ONNX node '{op.GetName()}' in stage 4 reads '{input}' from before stage 3, so the teacher's stage 4 cannot run on its own (TPP).");
            available.Add(op.Output);
        }
    }
}
