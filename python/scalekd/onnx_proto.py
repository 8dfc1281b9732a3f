"""ONNX model files read without the onnx or protobuf packages (Debian's PyTorch has neither): a decoder of protobuf's
wire format and of the onnx.proto messages an image CNN's graph needs (ModelProto.graph; GraphProto's nodes,
initialisers, inputs and outputs; NodeProto; AttributeProto; TensorProto with float32 or int64 data, raw or typed;
ValueInfoProto's tensor shape). Fields outside that set are skipped, as protobuf skips unknown fields.

The field numbers are onnx.proto's (onnx/onnx, onnx/onnx.proto), stable since IR version 3."""
import struct
from dataclasses import dataclass, field

import torch

# Protobuf wire types.
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5

# TensorProto.DataType values this reader converts.
FLOAT, INT64 = 1, 7


class OnnxError(Exception):
    """The file is not an ONNX model this reader understands, or its graph uses something models/onnx_cnn.py does not
    run; the message names the file, field, node or attribute."""


def _varint(buf, pos):
    value, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise OnnxError("a varint runs past the end of its message")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7
        if shift >= 70:
            raise OnnxError("a varint is longer than 10 bytes")


def _int64(value):
    """A varint as protobuf's int64: two's complement over 64 bits (a negative int64 takes all ten bytes)."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


def _fields(buf):
    """(field number, wire type, value) of each field of a message, in order: an int for varints and fixed-width
    fields (their raw bits), a memoryview for length-delimited ones (strings, bytes, sub-messages, packed lists)."""
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
        elif wire == _FIXED64:
            value, pos = int.from_bytes(buf[pos:pos + 8], "little"), pos + 8
        elif wire == _BYTES:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + length], pos + length
        elif wire == _FIXED32:
            value, pos = int.from_bytes(buf[pos:pos + 4], "little"), pos + 4
        else:
            raise OnnxError(f"field {number} has wire type {wire}, which onnx.proto does not use")
        if pos > end:
            raise OnnxError(f"field {number} runs past the end of its message")
        yield number, wire, value


def _ints(wire, value):
    """A repeated int64 field's entries from one occurrence: packed (one length-delimited run) or one varint."""
    if wire == _VARINT:
        return [_int64(value)]
    out, pos = [], 0
    while pos < len(value):
        v, pos = _varint(value, pos)
        out.append(_int64(v))
    return out


def _float_bytes(wire, value):
    """A repeated float field's little-endian bytes from one occurrence: packed or one fixed32."""
    return value.to_bytes(4, "little") if wire == _FIXED32 else bytes(value)


def _floats(wire, value):
    data = _float_bytes(wire, value)
    return list(struct.unpack(f"<{len(data) // 4}f", data))


def _float(bits):
    return struct.unpack("<f", bits.to_bytes(4, "little"))[0]


def _text(value):
    return bytes(value).decode("utf-8")


@dataclass
class Tensor:
    """TensorProto: name (8), dims (1), data_type (2), float_data (4), int64_data (7), raw_data (9)."""
    name: str = ""
    dims: list = field(default_factory=list)
    data_type: int = 0
    raw_data: bytes = b""
    float_data: bytearray = field(default_factory=bytearray)  # as stored (little-endian float32): millions of weights
    int64_data: list = field(default_factory=list)

    @staticmethod
    def parse(buf):
        t = Tensor()
        for number, wire, value in _fields(buf):
            if number == 1:
                t.dims.extend(_ints(wire, value))
            elif number == 2:
                t.data_type = value
            elif number == 4:
                t.float_data += _float_bytes(wire, value)
            elif number == 7:
                t.int64_data.extend(_ints(wire, value))
            elif number == 8:
                t.name = _text(value)
            elif number == 9:
                t.raw_data = bytes(value)
        return t

    def to_torch(self):
        """A float32 or int64 tensor of its shape (raw data is little-endian, as onnx.proto requires). An initialiser
        stored without values (a job's weight-free teacher graph, whose weights come from its safetensors) gives
        zeros of its shape."""
        if not (self.raw_data or self.float_data or self.int64_data) and self.data_type in (FLOAT, INT64):
            return torch.zeros(self.dims, dtype=torch.float32 if self.data_type == FLOAT else torch.int64)
        if self.data_type == FLOAT:
            data = self.raw_data or self.float_data
            values = torch.frombuffer(bytearray(data), dtype=torch.float32) if data else torch.zeros(0)
        elif self.data_type == INT64:
            values = torch.frombuffer(bytearray(self.raw_data), dtype=torch.int64) if self.raw_data \
                else torch.tensor(self.int64_data, dtype=torch.int64)
        else:
            raise OnnxError(f"initialiser '{self.name}' has element type {self.data_type}; only float32 (1) and int64 (7) "
                            f"are supported")
        expected = 1
        for d in self.dims:
            expected *= d
        if values.numel() != expected:
            raise OnnxError(f"initialiser '{self.name}' holds {values.numel()} values for shape {tuple(self.dims)}")
        return values.reshape(self.dims)


@dataclass
class Attribute:
    """AttributeProto: name (1), f (2), i (3), s (4), t (5), floats (7), ints (8), type (20) (which tells an empty list
    from an absent value)."""
    name: str = ""
    value: object = None

    @staticmethod
    def parse(buf):
        a, floats, ints, kind = Attribute(), [], [], 0
        for number, wire, value in _fields(buf):
            if number == 1:
                a.name = _text(value)
            elif number == 2:
                a.value = _float(value)
            elif number == 3:
                a.value = _int64(value)
            elif number == 4:
                a.value = _text(value)
            elif number == 5:
                a.value = Tensor.parse(value)
            elif number == 7:
                floats.extend(_floats(wire, value))
            elif number == 8:
                ints.extend(_ints(wire, value))
            elif number == 20:
                kind = value
        if floats or kind == 6:
            a.value = floats
        elif ints or kind == 7:
            a.value = ints
        elif a.value is None and kind in _SCALAR_DEFAULTS:
            # A writer that omits fields holding their default (proto3's, Google.Protobuf's in .NET) leaves out an
            # INT attribute's i = 0, a FLOAT's f = 0 and a STRING's empty s: the value is the default, not absent.
            a.value = _SCALAR_DEFAULTS[kind]
        return a


_SCALAR_DEFAULTS = {1: 0.0, 2: 0, 3: ""}  # AttributeProto.AttributeType FLOAT, INT, STRING


@dataclass
class Node:
    """NodeProto: input (1), output (2), name (3), op_type (4), attribute (5), domain (7)."""
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)
    name: str = ""
    op_type: str = ""
    domain: str = ""
    attributes: dict = field(default_factory=dict)

    @staticmethod
    def parse(buf):
        n = Node()
        for number, _, value in _fields(buf):
            if number == 1:
                n.inputs.append(_text(value))
            elif number == 2:
                n.outputs.append(_text(value))
            elif number == 3:
                n.name = _text(value)
            elif number == 4:
                n.op_type = _text(value)
            elif number == 5:
                a = Attribute.parse(value)
                n.attributes[a.name] = a.value
            elif number == 7:
                n.domain = _text(value)
        return n


@dataclass
class ValueInfo:
    """ValueInfoProto: name (1), type (2) -> TypeProto.tensor_type (1) -> shape (2) -> dim (1) -> dim_value (1);
    shape holds -1 for a symbolic or missing dimension, and is empty when undeclared."""
    name: str = ""
    shape: list = field(default_factory=list)

    @staticmethod
    def parse(buf):
        v = ValueInfo()
        for number, _, value in _fields(buf):
            if number == 1:
                v.name = _text(value)
            elif number == 2:
                for n_type, _, tensor_type in _fields(value):
                    if n_type == 1:
                        v.shape = _shape(tensor_type)
        return v


def _shape(tensor_type):
    for number, _, shape in _fields(tensor_type):
        if number == 2:
            dims = []
            for n_dim, _, dim in _fields(shape):
                if n_dim == 1:
                    size = -1
                    for n_value, wire, value in _fields(dim):
                        if n_value == 1 and wire == _VARINT and _int64(value) > 0:
                            size = _int64(value)
                    dims.append(size)
            return dims
    return []


@dataclass
class Graph:
    """GraphProto: node (1), initializer (5), input (11), output (12), in file order (nodes are topologically sorted)."""
    nodes: list = field(default_factory=list)
    initializers: dict = field(default_factory=dict)
    inputs: list = field(default_factory=list)
    outputs: list = field(default_factory=list)

    @staticmethod
    def parse(buf):
        g = Graph()
        for number, _, value in _fields(buf):
            if number == 1:
                g.nodes.append(Node.parse(value))
            elif number == 5:
                t = Tensor.parse(value)
                g.initializers[t.name] = t
            elif number == 11:
                g.inputs.append(ValueInfo.parse(value))
            elif number == 12:
                g.outputs.append(ValueInfo.parse(value))
        return g


def load(path):
    """The graph of the ONNX model at `path` (ModelProto.graph, field 7)."""
    try:
        with open(path, "rb") as f:
            buf = memoryview(f.read())
    except OSError as e:
        raise OnnxError(f"{path}: cannot read the ONNX model: {e}") from e
    graph = None
    try:
        for number, wire, value in _fields(buf):
            if number == 7 and wire == _BYTES:
                graph = Graph.parse(value)
    except OnnxError as e:
        raise OnnxError(f"{path} is not an ONNX model: {e}") from e
    if graph is None:
        raise OnnxError(f"{path} is not an ONNX model: it has no graph (ModelProto field 7)")
    return graph
