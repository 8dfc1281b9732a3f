using Onnx;

namespace ScaleKD.Torch.Onnx;

/// <summary>A node's attributes by name, with ONNX's defaults, and errors that name the node.</summary>
sealed class OnnxAttributes(NodeProto node, string name)
{
    readonly Dictionary<string, AttributeProto> _byName = node.Attribute.ToDictionary(a => a.Name, StringComparer.Ordinal);

    public long Int(string attribute, long fallback) => _byName.TryGetValue(attribute, out var a) ? a.I : fallback;

    public float Float(string attribute, float fallback) => _byName.TryGetValue(attribute, out var a) ? a.F : fallback;

    public string String(string attribute, string fallback) => _byName.TryGetValue(attribute, out var a) ? a.S.ToStringUtf8() : fallback;

    /// <summary>An integer list; without a fallback the attribute is required.</summary>
    public long[] Ints(string attribute, long[]? fallback) =>
        _byName.TryGetValue(attribute, out var a) ? a.Ints.ToArray()
        : fallback ?? throw new InvalidDataException($"ONNX node '{name}' ({node.OpType}) lacks its required attribute '{attribute}'.");

    public string Node => name;
    public string OpType => node.OpType;
}
