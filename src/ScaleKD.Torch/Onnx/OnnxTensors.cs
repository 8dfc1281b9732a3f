using Google.Protobuf;
using Onnx;
using static TorchSharp.torch;

namespace ScaleKD.Torch.Onnx;

/// <summary>ONNX initialisers (<c>TensorProto</c>) as TorchSharp tensors.</summary>
static class OnnxTensors
{
    /// <summary>A float32 (or int64) initialiser as a tensor of its shape; other element types fail with the tensor's name.</summary>
    public static Tensor ToTensor(TensorProto proto)
    {
        var shape = proto.Dims.ToArray();
        switch ((TensorProto.Types.DataType)proto.DataType)
        {
            case TensorProto.Types.DataType.Float:
                var floats = proto.RawData.Length > 0 ? FromRaw<float>(proto.RawData) : proto.FloatData.ToArray();
                CheckCount(proto, floats.Length, shape);
                return tensor(floats, dtype: ScalarType.Float32).reshape(shape);
            case TensorProto.Types.DataType.Int64:
                var longs = proto.RawData.Length > 0 ? FromRaw<long>(proto.RawData) : proto.Int64Data.ToArray();
                CheckCount(proto, longs.Length, shape);
                return tensor(longs, dtype: ScalarType.Int64).reshape(shape);
            default:
                throw new NotSupportedException(
                    $"ONNX initialiser '{proto.Name}' has element type {(TensorProto.Types.DataType)proto.DataType}; only float32 and int64 are supported.");
        }
    }

    /// <summary>A tensor as a float32 initialiser named <paramref name="name"/> (raw little-endian data).</summary>
    public static TensorProto FromTensor(string name, Tensor value)
    {
        var contiguous = value.detach().cpu().to(ScalarType.Float32).contiguous();
        var proto = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float };
        proto.Dims.AddRange(contiguous.shape);
        proto.RawData = ByteString.CopyFrom(contiguous.bytes);
        return proto;
    }

    /// <summary>An int64 initialiser (shapes, axes, gather indices) named <paramref name="name"/> (raw little-endian data).</summary>
    public static TensorProto FromInt64(string name, long[] values, long[] shape)
    {
        var proto = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Int64 };
        proto.Dims.AddRange(shape);
        proto.RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        return proto;
    }

    static T[] FromRaw<T>(ByteString raw) where T : unmanaged =>
        System.Runtime.InteropServices.MemoryMarshal.Cast<byte, T>(raw.Span).ToArray();

    static void CheckCount(TensorProto proto, int count, long[] shape)
    {
        var expected = shape.Aggregate(1L, (a, b) => a * b);
        if (count != expected)
            throw new InvalidDataException($"ONNX initialiser '{proto.Name}' holds {count} values for shape ({string.Join(", ", shape)}).");
    }
}
