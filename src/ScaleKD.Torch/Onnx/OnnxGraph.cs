using Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Onnx;

/// <summary>
/// An ONNX graph of a classic CNN as a TorchSharp module: its nodes, in the graph's (topological) order, are child
/// modules named after the ONNX nodes, holding the initialisers as parameters and buffers; running it evaluates the
/// nodes in order. Loading checks every node, so an unsupported operator fails at once with its name.
/// </summary>
public sealed class OnnxGraph : nn.Module
{
    readonly List<OnnxOperator> _operators;
    // Initialisers that operators read as data rather than as weights (e.g. an Add of a constant): value name -> the
    // name of the buffer holding it, looked up when a node reads it, since moving the module to another dtype or
    // device replaces (and disposes) the buffer's tensor.
    readonly Dictionary<string, string> _constants = new(StringComparer.Ordinal);

    OnnxGraph(string name, ModelProto model) : base(name)
    {
        var graph = model.Graph ?? throw new InvalidDataException($"ONNX model '{name}' has no graph.");
        var initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        var data = graph.Input.Where(i => !initializers.ContainsKey(i.Name)).ToList();
        if (data.Count != 1)
            throw new NotSupportedException($"ONNX model '{name}' has {data.Count} data inputs ({string.Join(", ", data.Select(d => d.Name))}); an image model has one.");
        InputName = data[0].Name;
        InputShape = data[0].Type?.TensorType?.Shape?.Dim.Select(d => d.DimValue > 0 ? d.DimValue : -1).ToArray() ?? [];
        OutputNames = graph.Output.Select(o => o.Name).ToList();

        _operators = [];
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < graph.Node.Count; i++)
        {
            var node = graph.Node[i];
            var moduleName = UniqueName(node, i, names);
            var op = OnnxOperators.Create(node, moduleName, initializers);
            _operators.Add(op);
            register_module(moduleName, op);
        }
        foreach (var constant in _operators.SelectMany(op => op.DataInputs).Where(initializers.ContainsKey).Distinct())
        {
            _constants[constant] = "constant_" + Sanitize(constant);
            register_buffer(_constants[constant], OnnxTensors.ToTensor(initializers[constant]));
        }
        CheckOrder(initializers.Keys);
    }

    /// <summary>The graph's image input.</summary>
    public string InputName { get; }

    /// <summary>The declared input shape, -1 for a symbolic dimension (empty if undeclared).</summary>
    public IReadOnlyList<long> InputShape { get; }

    /// <summary>The graph's outputs.</summary>
    public IReadOnlyList<string> OutputNames { get; }

    /// <summary>The node operators in evaluation order.</summary>
    internal IReadOnlyList<OnnxOperator> Operators => _operators;

    /// <summary>Reads an ONNX file.</summary>
    /// <exception cref="FileNotFoundException">No such file.</exception>
    /// <exception cref="InvalidDataException">The file is not an ONNX model.</exception>
    /// <exception cref="NotSupportedException">A node uses an operator or attribute this importer does not run; the message names it.</exception>
    /// <param name="checkInputSize">Keep the declared input size (false lets a fully convolutional graph run at others).</param>
    public static OnnxGraph Load(string path, bool checkInputSize = true)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"ONNX model '{path}' does not exist.", path);
        ModelProto model;
        try
        {
            using var stream = File.OpenRead(path);
            model = ModelProto.Parser.ParseFrom(stream);
        }
        catch (Google.Protobuf.InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"'{path}' is not an ONNX model: {e.Message}", e);
        }
        var graph = FromModel(model, Path.GetFileNameWithoutExtension(path));
        graph.ChecksInputSize = checkInputSize;
        graph.SourcePath = Path.GetFullPath(path);
        return graph;
    }

    /// <summary>Whether a model built on this graph must take the graph's declared input size.</summary>
    public bool ChecksInputSize { get; private set; } = true;

    /// <summary>The file the graph was loaded from (what a PyTorch job carries to rebuild it), or null for a graph
    /// built in memory.</summary>
    public string? SourcePath { get; private set; }

    /// <summary>Builds the module from an ONNX model in memory.</summary>
    public static OnnxGraph FromModel(ModelProto model, string name = "onnx") => new(name, model);

    /// <summary>Runs the whole graph and returns the named values: the graph outputs, plus <paramref name="keep"/>.</summary>
    public IReadOnlyDictionary<string, Tensor> Run(Tensor input, IEnumerable<string>? keep = null)
    {
        var values = new Dictionary<string, Tensor>(StringComparer.Ordinal) { [InputName] = input };
        Evaluate(values, 0, _operators.Count);
        var wanted = OutputNames.Concat(keep ?? []).ToHashSet(StringComparer.Ordinal);
        return values.Where(v => wanted.Contains(v.Key)).ToDictionary(v => v.Key, v => v.Value, StringComparer.Ordinal);
    }

    /// <summary>Evaluates nodes [<paramref name="from"/>, <paramref name="to"/>) on the values given, adding theirs.</summary>
    internal void Evaluate(Dictionary<string, Tensor> values, int from, int to)
    {
        for (var i = from; i < to; i++)
        {
            var op = _operators[i];
            var inputs = new Tensor[op.DataInputs.Count];
            for (var j = 0; j < inputs.Length; j++)
                inputs[j] = values.TryGetValue(op.DataInputs[j], out var v) ? v
                    : _constants.TryGetValue(op.DataInputs[j], out var c) ? get_buffer(c)!
                    : throw new InvalidOperationException($"ONNX node '{op.GetName()}' needs '{op.DataInputs[j]}', which is not computed before it.");
            values[op.Output] = op.Run(inputs);
        }
    }

    /// <summary>The index of the node that writes <paramref name="value"/>.</summary>
    internal int ProducerOf(string value) => _operators.FindIndex(op => op.Output == value);

    void CheckOrder(IEnumerable<string> initializers)
    {
        var known = new HashSet<string>(initializers, StringComparer.Ordinal) { InputName };
        foreach (var op in _operators)
        {
            foreach (var input in op.DataInputs.Where(i => !known.Contains(i)))
                throw new NotSupportedException($"ONNX node '{op.GetName()}' reads '{input}' before any node writes it; the graph must be in topological order.");
            known.Add(op.Output);
        }
        foreach (var output in OutputNames.Where(o => !known.Contains(o)))
            throw new InvalidDataException($"ONNX graph output '{output}' is written by no node.");
    }

    static string UniqueName(NodeProto node, int index, HashSet<string> taken)
    {
        var name = Sanitize(string.IsNullOrEmpty(node.Name) ? $"{node.OpType}_{index}" : node.Name);
        while (!taken.Add(name))
            name += "_";
        return name;
    }

    // State-dict keys join module names with '.', so a name must not contain one.
    static string Sanitize(string name) => new(name.Select(c => char.IsLetterOrDigit(c) || c == '_' ? c : '_').ToArray());
}
