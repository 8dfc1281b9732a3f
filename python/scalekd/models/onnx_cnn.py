"""A CNN imported from an ONNX graph, as ScaleKD.Torch imports it (src/ScaleKD.Torch/Onnx/OnnxGraph.cs,
OnnxOperators.cs, Padding2d.cs and Models/OnnxCnn.cs): the same small operator set with the same semantics, the same
module, parameter and buffer names (so a teacher ScaleKD.Torch saved loads here by name, strictly), the same stage
detection and the same input convention. A job carries such a teacher as its ONNX file (the graph) and its
safetensors (the weights, which may have been probed or fine-tuned since the file was written).

Names: the graph is the module `graph`; each node is its child named after the node (sanitised: a state-dict key
joins names with '.'), holding its initialisers as `weight`/`bias` (and BatchNorm's `running_mean`/`running_var`);
initialisers read as data are the graph's `constant_*` buffers; the new classifier is `head`, the input statistics the
buffers `input_mean` and `input_std`."""
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

from .. import onnx_proto
from ..onnx_proto import OnnxError

SUPPORTED = ("Add", "AveragePool", "BatchNormalization", "Conv", "Dropout", "Flatten", "Gemm", "GlobalAveragePool",
             "Identity", "MaxPool", "Relu")

# ScaleKD.Torch reads a float attribute as float32 and widens it; its defaults are float32 literals, widened the same way.
_EPSILON_DEFAULT = struct.unpack("<f", struct.pack("<f", 1e-5))[0]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def sanitize(name):
    """char.IsLetterOrDigit or '_' kept, anything else '_' (as OnnxGraph.Sanitize)."""
    return "".join(c if c.isalpha() or c.isdecimal() or c == "_" else "_" for c in name)


class _Attributes:
    def __init__(self, node, name):
        self.node, self.name = node, name

    def get(self, attribute, default):
        return self.node.attributes.get(attribute, default)

    def ints(self, attribute, default=None):
        value = self.node.attributes.get(attribute, default)
        if value is None:
            raise OnnxError(f"ONNX node '{self.name}' ({self.node.op_type}) lacks its required attribute '{attribute}'")
        return list(value)


class _Padding:
    """ONNX 2-D pads [top, left, bottom, right] (or auto_pad VALID); asymmetric ones become an explicit pad first."""

    def __init__(self, attributes):
        auto_pad = attributes.get("auto_pad", "NOTSET")
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            raise OnnxError(f"ONNX node '{attributes.name}' ({attributes.node.op_type}) uses auto_pad = {auto_pad}; "
                            f"give explicit pads")
        pads = [0, 0, 0, 0] if auto_pad == "VALID" else attributes.ints("pads", [0, 0, 0, 0])
        if len(pads) != 4:
            raise OnnxError(f"ONNX node '{attributes.name}' ({attributes.node.op_type}) has {len(pads)} pads; "
                            f"2-D layers have 4")
        self.top, self.left, self.bottom, self.right = pads
        self.is_symmetric = self.top == self.bottom and self.left == self.right
        self.symmetric = [self.top, self.left] if self.is_symmetric else [0, 0]

    def apply(self, x, value):
        return x if self.is_symmetric else F.pad(x, [self.left, self.right, self.top, self.bottom], value=value)


def _weight(initializers, name, value, role):
    if value not in initializers:
        raise OnnxError(f"ONNX node '{name}' takes its {role} from '{value}', which is not an initialiser; only constant "
                        f"weights are supported")
    return initializers[value].to_torch()


def _has(node, index):
    return len(node.inputs) > index and node.inputs[index] != ""


class OnnxOperator(nn.Module):
    """One node: `data_inputs` are the graph values it reads that are not its own weights, `output` what it writes."""

    def __init__(self, node, name):
        super().__init__()
        self.node_name, self.op_type = name, node.op_type
        self.data_inputs = [node.inputs[0]]
        self.output = node.outputs[0]


class Elementwise(OnnxOperator):
    def __init__(self, node, name, run):
        super().__init__(node, name)
        self.data_inputs = [i for i in node.inputs if i]
        self.run = run

    def forward(self, *inputs):
        return self.run(inputs)


class Conv(OnnxOperator):
    """2-D, any group count; asymmetric pads (CNTK's stride-2 layers pad top and left only) as an explicit zero pad."""

    def __init__(self, node, name, attributes, initializers):
        super().__init__(node, name)
        w = _weight(initializers, name, node.inputs[1], "weight")
        if w.dim() != 4:
            raise OnnxError(f"ONNX node '{name}' is a {w.dim() - 2}-D convolution; only 2-D is supported")
        self.weight = nn.Parameter(w)
        self.register_parameter("bias", nn.Parameter(_weight(initializers, name, node.inputs[2], "bias"))
                                if _has(node, 2) else None)
        self.strides = attributes.ints("strides", [1, 1])
        self.dilations = attributes.ints("dilations", [1, 1])
        self.groups = attributes.get("group", 1)
        self.padding = _Padding(attributes)

    def forward(self, x):
        return F.conv2d(self.padding.apply(x, 0), self.weight, self.bias, self.strides, self.padding.symmetric,
                        self.dilations, self.groups)


class BatchNorm(OnnxOperator):
    """Spatial BatchNormalization: inference statistics in eval mode, batch statistics in training mode."""

    def __init__(self, node, name, attributes, initializers):
        super().__init__(node, name)
        if attributes.get("spatial", 1) != 1:
            raise OnnxError(f"ONNX node '{name}' is a per-activation BatchNormalization (spatial = 0); only spatial is "
                            f"supported")
        self.weight = nn.Parameter(_weight(initializers, name, node.inputs[1], "scale"))
        self.bias = nn.Parameter(_weight(initializers, name, node.inputs[2], "bias"))
        self.register_buffer("running_mean", _weight(initializers, name, node.inputs[3], "mean"))
        self.register_buffer("running_var", _weight(initializers, name, node.inputs[4], "variance"))
        self.epsilon = attributes.get("epsilon", _EPSILON_DEFAULT)

    def forward(self, x):
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, self.training, 0.1,
                            self.epsilon)


class Gemm(OnnxOperator):
    """alpha A B + beta C with constant B and C, stored as a Linear's (out, in) weight and bias."""

    def __init__(self, node, name, attributes, initializers):
        super().__init__(node, name)
        if attributes.get("transA", 0) != 0:
            raise OnnxError(f"ONNX node '{name}' is a Gemm with transA = 1; only untransposed inputs are supported")
        b = _weight(initializers, name, node.inputs[1], "weight")
        self.weight = nn.Parameter((b if attributes.get("transB", 0) != 0 else b.t()).contiguous() * attributes.get("alpha", 1.0))
        self.register_parameter("bias", nn.Parameter(_weight(initializers, name, node.inputs[2], "bias") * attributes.get("beta", 1.0))
                                if _has(node, 2) else None)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)


class Pool(OnnxOperator):
    """MaxPool and AveragePool, 2-D, with ONNX's pads, ceil_mode and (average) count_include_pad."""

    def __init__(self, node, name, attributes, is_max):
        super().__init__(node, name)
        self.is_max = is_max
        self.kernel = attributes.ints("kernel_shape")
        if len(self.kernel) != 2:
            raise OnnxError(f"ONNX node '{name}' is a {len(self.kernel)}-D pool; only 2-D is supported")
        self.strides = attributes.ints("strides", [1, 1])
        self.ceil_mode = attributes.get("ceil_mode", 0) != 0
        self.count_include_pad = attributes.get("count_include_pad", 0) != 0
        if any(d != 1 for d in attributes.ints("dilations", [1, 1])):
            raise OnnxError(f"ONNX node '{name}' is a dilated pool; only dilation 1 is supported")
        if is_max and attributes.get("storage_order", 0) != 0:
            raise OnnxError(f"ONNX node '{name}' asks for column-major indices (storage_order = 1)")
        self.padding = _Padding(attributes)
        if not is_max and not self.padding.is_symmetric and not self.count_include_pad:
            raise OnnxError(f"ONNX node '{name}' averages with asymmetric pads excluded from the count; not supported")

    def forward(self, x):
        x = self.padding.apply(x, float("-inf") if self.is_max else 0.0)
        if self.is_max:
            return F.max_pool2d(x, self.kernel, self.strides, self.padding.symmetric, ceil_mode=self.ceil_mode)
        return F.avg_pool2d(x, self.kernel, self.strides, self.padding.symmetric, self.ceil_mode,
                            self.count_include_pad or not self.padding.is_symmetric)


def _flatten(axis):
    def run(inputs):
        x = inputs[0]
        leading = 1
        for d in x.shape[:axis]:
            leading *= d
        return x.reshape(leading, -1)
    return run


def create_operator(node, name, initializers):
    """The module for `node`, its weights taken from `initializers`; an operator outside SUPPORTED fails, named."""
    if node.domain not in ("", "ai.onnx"):
        raise OnnxError(f"ONNX node '{name}' is {node.domain}:{node.op_type}; only the default operator domain is supported")
    attributes = _Attributes(node, name)
    op = node.op_type
    if op == "Conv":
        return Conv(node, name, attributes, initializers)
    if op == "BatchNormalization":
        return BatchNorm(node, name, attributes, initializers)
    if op == "Gemm":
        return Gemm(node, name, attributes, initializers)
    if op in ("MaxPool", "AveragePool"):
        return Pool(node, name, attributes, is_max=op == "MaxPool")
    if op == "Relu":
        return Elementwise(node, name, lambda i: F.relu(i[0]))
    if op == "Add":
        return Elementwise(node, name, lambda i: i[0] + i[1])
    if op == "GlobalAveragePool":
        return Elementwise(node, name, lambda i: i[0].mean((2, 3), keepdim=True))
    if op == "Flatten":
        return Elementwise(node, name, _flatten(attributes.get("axis", 1)))
    if op in ("Identity", "Dropout"):
        return Elementwise(node, name, lambda i: i[0])
    raise OnnxError(f"ONNX node '{name}' uses operator {op}, which the importer does not support. "
                    f"Supported: {', '.join(SUPPORTED)}")


class OnnxGraph(nn.Module):
    """The graph's nodes in their (topological) order as child modules; `evaluate` runs a span of them."""

    def __init__(self, graph, name="onnx"):
        super().__init__()
        data = [i for i in graph.inputs if i.name not in graph.initializers]
        if len(data) != 1:
            raise OnnxError(f"ONNX model '{name}' has {len(data)} data inputs ({', '.join(d.name for d in data)}); "
                            f"an image model has one")
        self.input_name, self.input_shape = data[0].name, data[0].shape
        self.output_names = [o.name for o in graph.outputs]
        self.operators, taken = [], set()
        for i, node in enumerate(graph.nodes):
            module_name = sanitize(node.name or f"{node.op_type}_{i}")
            while module_name in taken:
                module_name += "_"
            taken.add(module_name)
            op = create_operator(node, module_name, graph.initializers)
            if hasattr(self, module_name):
                raise OnnxError(f"ONNX node '{module_name}' has a name torch's Module reserves; rename the node")
            self.add_module(module_name, op)
            self.operators.append(op)
        # Initialisers read as data (an Add of a constant), as buffers, looked up by name when a node reads them so
        # that they follow the module's device and dtype.
        self.constants = {}
        for value in dict.fromkeys(v for op in self.operators for v in op.data_inputs if v in graph.initializers):
            self.constants[value] = "constant_" + sanitize(value)
            self.register_buffer(self.constants[value], graph.initializers[value].to_torch())
        known = set(graph.initializers) | {self.input_name}
        for op in self.operators:
            for value in op.data_inputs:
                if value not in known:
                    raise OnnxError(f"ONNX node '{op.node_name}' reads '{value}' before any node writes it; the graph "
                                    f"must be in topological order")
            known.add(op.output)
        for output in self.output_names:
            if output not in known:
                raise OnnxError(f"ONNX graph output '{output}' is written by no node")

    def evaluate(self, values, start, stop):
        """Runs nodes [start, stop) on the values given (name -> tensor), adding theirs."""
        for op in self.operators[start:stop]:
            inputs = []
            for value in op.data_inputs:
                if value in values:
                    inputs.append(values[value])
                elif value in self.constants:
                    inputs.append(getattr(self, self.constants[value]))
                else:
                    raise OnnxError(f"ONNX node '{op.node_name}' needs '{value}', which is not computed before it")
            values[op.output] = op(*inputs)

    def producer_of(self, value):
        return next(i for i, op in enumerate(self.operators) if op.output == value)


class OnnxCnn(nn.Module):
    """An imported CNN as a model and a teacher: its four stage maps are the last values at stride 4, 8, 16 and 32 in
    node order (where a ResNet's layer1-layer4 end); what the graph does after the stride-32 map is replaced by global
    average pooling and a new linear `head`. It takes timm-standardised RGB images, as every model here does, and
    turns them into the graph's convention: `bgr` channel order, pixels times `pixel_scale`, minus `input_mean`
    ((1, C, 1, 1) per channel or (1, C, H, W) a mean image), divided by `input_std`; give the shapes of the buffers
    (their values load with the weights) or None for none."""

    def __init__(self, graph, num_classes, image_size, in_chans=3, bgr=False, pixel_scale=1.0, mean_shape=None,
                 std_shape=None, name="onnx"):
        super().__init__()
        self.name, self.image_size, self.in_chans = name, image_size, in_chans
        self.graph = graph
        self.bgr, self.pixel_scale = bgr, pixel_scale
        self.register_buffer("input_mean", torch.zeros(mean_shape) if mean_shape else None)
        self.register_buffer("input_std", torch.ones(std_shape) if std_shape else None)
        self.stage_values, shapes = self._find_stages()
        self.stage_ends = [graph.producer_of(v) + 1 for v in self.stage_values]
        self._check_stage_four_reads_only_stage_three()
        self.stage_shapes = shapes
        self.num_features = shapes[3][0]
        self.head = nn.Linear(self.num_features, num_classes)

    def forward_stages(self, images):
        values = {self.graph.input_name: self._to_graph_input(images)}
        self.graph.evaluate(values, 0, self.stage_ends[3])
        stages = [values[v] for v in self.stage_values]
        pre_logits = stages[3].mean((2, 3))
        return stages, pre_logits, self.head(pre_logits)

    def forward_from_stage(self, tokens, stage):
        """TPP: the nodes between the stage-3 and stage-4 maps on stage-3 tokens (N, H*W, C) laid out as the map."""
        if stage != 3:
            raise ValueError(f"{self.name} runs its later stages from stage 3 only, not {stage}")
        c, h, w = self.stage_shapes[2]
        values = {self.stage_values[2]: tokens.transpose(1, 2).reshape(tokens.shape[0], c, h, w)}
        self.graph.evaluate(values, self.stage_ends[2], self.stage_ends[3])
        return values[self.stage_values[3]].flatten(2).transpose(1, 2)

    def _to_graph_input(self, images):
        if not self.bgr and self.pixel_scale == 1 and self.input_mean is None and self.input_std is None:
            return images  # the graph takes timm's convention itself
        x = images * torch.tensor(IMAGENET_STD, dtype=images.dtype, device=images.device).view(1, 3, 1, 1) \
            + torch.tensor(IMAGENET_MEAN, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
        if self.pixel_scale != 1:
            x = x * self.pixel_scale
        if self.bgr:
            x = x.flip(1)
        if self.input_mean is not None:
            x = x - self.input_mean.to(images.dtype)
        if self.input_std is not None:
            x = x / self.input_std.to(images.dtype)
        return x

    def _find_stages(self):
        """One blank image through the graph node by node; for stride 4, 8, 16, 32 the last 4-D value at it. A node
        that cannot run at this size (a fixed 7x7 pool after the last stage at 64 px) ends the probe: the stages end
        before it and the model never runs it."""
        graph, size = self.graph, self.image_size
        was_training = graph.training
        graph.eval()
        values = {graph.input_name: torch.zeros(1, self.in_chans, size, size)}
        with torch.no_grad():
            for i in range(len(graph.operators)):
                try:
                    graph.evaluate(values, i, i + 1)
                except (RuntimeError, ValueError):
                    break
        graph.train(was_training)
        maps = [(op.output, values[op.output]) for op in graph.operators if op.output in values and values[op.output].dim() == 4]
        names, shapes = [], []
        for k in range(4):
            stride = 4 << k
            side = (size + stride - 1) // stride
            match = [(n, v) for n, v in maps if v.shape[2] == side]
            if not match:
                raise OnnxError(f"{self.name}: no value of the ONNX graph has a {side}x{side} map (stride {stride} at "
                                f"{size} px), so its four stages cannot be found")
            names.append(match[-1][0])
            shapes.append(tuple(match[-1][1].shape[1:]))
        for k in range(1, 4):
            if graph.producer_of(names[k]) <= graph.producer_of(names[k - 1]):
                raise OnnxError(f"{self.name}: the ONNX graph's stride-{4 << k} map comes before its stride-{2 << k} map")
        return names, shapes

    def _check_stage_four_reads_only_stage_three(self):
        available = {self.stage_values[2]}
        for op in self.graph.operators[self.stage_ends[2]:self.stage_ends[3]]:
            for value in op.data_inputs:
                if value not in available:
                    raise OnnxError(f"{self.name}: ONNX node '{op.node_name}' in stage 4 reads '{value}' from before "
                                    f"stage 3, so the teacher's stage 4 cannot run on its own (TPP)")
            available.add(op.output)


def load(path, num_classes, image_size, in_chans=3, bgr=False, pixel_scale=1.0, mean_shape=None, std_shape=None,
         name=None):
    """The OnnxCnn of the ONNX file at `path` (its initialisers as the starting weights); errors name the file."""
    name = name or os.path.splitext(os.path.basename(path))[0]
    graph = onnx_proto.load(path)  # its errors name the file
    try:
        return OnnxCnn(OnnxGraph(graph, name), num_classes, image_size, in_chans, bgr, pixel_scale, mean_shape,
                       std_shape, name)
    except OnnxError as e:
        raise OnnxError(f"{path}: {e}") from e
