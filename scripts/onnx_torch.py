"""A small ONNX -> PyTorch interpreter: the part of an ONNX CNN between two tensors as a torch Module.

Used by scripts/finetune_torch.py as the PyTorch reference of `featcache finetune` (the trainable
top, from a cached cut tensor to the feature tensor) and for the whole model run from images.
OnnxNet(model, start, end) executes, in the graph's order, the nodes that `end` depends on and that
depend on `start` (or every node from the model's input when start is that input). It mirrors what
featcache's trainable net (engine/train/net.h) does with the same graph, so that both compute the
same function with the same parameters:
  - a BatchNormalization that is the sole reader of a Conv's output is folded into that Conv in
    float32 (s = gamma / sqrt(var + eps); W' = W s, b' = (b - mean) s + beta, as the engine's
    fold), so its statistics stay frozen; any other BatchNormalization keeps frozen statistics and a
    trainable scale and shift;
  - Conv and Gemm/MatMul weights and biases (when present; a Conv without bias and without a folded
    BatchNormalization gets none) are nn.Parameters; every other initializer is a constant;
  - nodes that depend only on constants (Constant, shape arithmetic on initializers) are evaluated
    once at build; Shape of a computed tensor is evaluated per call (it is cheap);
  - Dropout is the inference no-op;
  - with bn_train=True (a conv head's new blocks, engine/train/net.h's bn_train) no BatchNormalization
    is folded: each trains in training mode while the module is in training mode (batch statistics,
    running mean and var updated in place with momentum 1 - the node's ONNX momentum, unbiased
    variance), and uses its running statistics in eval mode (module.eval()).
Ops: Conv (2-D, groups, strides, pads or auto_pad, dilations), Gemm, MatMul, Add, Sub, Mul, Div
(broadcast, so squeeze-and-excitation), Relu, Clip, Sigmoid, HardSigmoid, HardSwish, Tanh,
GlobalAveragePool, ReduceMean, AveragePool, MaxPool, Flatten, Reshape, Squeeze, Unsqueeze, Concat,
BatchNormalization, Identity, Dropout, Constant, Shape, Gather, Cast. Anything else is refused with
the node's name. Intermediate tensors are dropped after their last reader (a whole-model batch
under no_grad stays small). Not here: training loops, data, the head (finetune_torch.py).
"""
import math

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper


def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _pads2d(attrs, x_shape, w_hw, strides, dilations):
    """ONNX pads (top, left, bottom, right) for a 2-D window, auto_pad resolved for x's shape."""
    auto = attrs.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = [0, 0, 0, 0]
        for i in range(2):
            n = x_shape[2 + i]
            out = -(-n // strides[i])
            total = max(0, (out - 1) * strides[i] + (w_hw[i] - 1) * dilations[i] + 1 - n)
            small, big = total // 2, total - total // 2
            pads[i], pads[i + 2] = (small, big) if auto == "SAME_UPPER" else (big, small)
        return pads
    if auto == "VALID":
        return [0, 0, 0, 0]
    return list(attrs.get("pads", [0, 0, 0, 0]))


def _pad_input(x, pads, value=0.0):
    """(padding for torch, x): symmetric pads go to the op, asymmetric ones are applied here."""
    t, l, b, r = pads
    if t == b and l == r:
        return (t, l), x
    return (0, 0), F.pad(x, (l, r, t, b), value=value)


def _axes(attrs, inputs):
    """The axes of Squeeze/Unsqueeze/ReduceMean: an attribute before opset 13/18, then an input."""
    if "axes" in attrs:
        return list(attrs["axes"])
    if len(inputs) > 1 and inputs[1] is not None:
        return [int(a) for a in inputs[1].reshape(-1).tolist()]
    return None


class OnnxNet(torch.nn.Module):
    """The ONNX subgraph from tensor `start` to tensor `end` of `model` (a path or ModelProto)."""

    def __init__(self, model, start, end, bn_train=False):
        super().__init__()
        self.bn_train = bn_train
        if not isinstance(model, onnx.ModelProto):
            model = onnx.load(model)
        g = model.graph
        self.start, self.end = start, end
        inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        producer = {o: i for i, n in enumerate(g.node) for o in n.output if o}
        names = set(inits) | set(producer) | {i.name for i in g.input}
        for t in (start, end):
            if t not in names:
                raise ValueError(f"no tensor named '{t}' in the model")
        nodes = self._select(g, producer, inits, start, end)
        used = {i for n in nodes for i in n.input}
        # tensor name -> torch tensor, computed once: the initializers the nodes read, then the
        # outputs of nodes that read only constants
        self._consts = {name: torch.from_numpy(np.array(arr))
                        for name, arr in inits.items() if name in used}
        self.params = torch.nn.ParameterList()
        self.decay = []  # per parameter: 1 for Conv/Gemm/MatMul weights, 0 for biases, BN scale/shift
        self._steps = []  # (node, attrs, sources, outputs), see _prepare
        folded = self._fold_batchnorm(g, nodes, inits) if not bn_train else {"skip": set()}
        for n in nodes:
            if id(n) in folded["skip"]:
                continue
            attrs = _attrs(n)
            if n.op_type == "Constant":
                self._consts[n.output[0]] = self._constant(n, attrs)
                continue
            if self._is_static(n):
                with torch.no_grad():
                    outs = self._run(n, attrs, [self._consts.get(i) if i else None for i in n.input])
                for o, v in zip(n.output, outs):
                    self._consts[o] = v
                continue
            self._steps.append(self._prepare(n, attrs, folded))
        self._last_use = self._plan_frees()

    # ---- graph analysis -------------------------------------------------------------------------

    @staticmethod
    def _select(g, producer, inits, start, end):
        """Nodes end depends on, below start excluded; refuses a start that does not separate."""
        needed, stack, seen, reached = set(), [end], set(), start == end
        graph_inputs = {i.name for i in g.input} - set(inits)
        while stack:
            t = stack.pop()
            reached |= t == start
            if t in seen or t == start or t in inits or not t:
                continue
            seen.add(t)
            if t not in producer:
                if t in graph_inputs:
                    raise ValueError(f"'{start}' is not a cut: '{end}' depends on the input "
                                     f"'{t}' by a path around it")
                raise ValueError(f"tensor '{t}' has no producer")
            i = producer[t]
            needed.add(i)
            stack.extend(g.node[i].input)
        if not reached:
            raise ValueError(f"'{end}' does not depend on '{start}'")
        return [g.node[i] for i in sorted(needed)]

    def _is_static(self, n):
        return all((not i) or i in self._consts for i in n.input) and n.op_type not in (
            "Conv", "Gemm", "MatMul", "BatchNormalization")

    @staticmethod
    def _constant(n, attrs):
        if "value" in attrs:
            return torch.from_numpy(np.array(numpy_helper.to_array(attrs["value"])))
        for key, dtype in (("value_float", torch.float32), ("value_int", torch.int64),
                           ("value_floats", torch.float32), ("value_ints", torch.int64)):
            if key in attrs:
                return torch.tensor(attrs[key], dtype=dtype)
        raise NotImplementedError(f"node '{n.name}' (Constant): unsupported value attribute")

    def _fold_batchnorm(self, g, nodes, inits):
        """Conv -> BatchNormalization pairs to fold: {'skip': BN node ids, conv id: (w, b, out)}."""
        readers = {o.name: 1 for o in g.output}
        for n in g.node:
            for i in n.input:
                readers[i] = readers.get(i, 0) + 1
        by_input = {}
        for n in nodes:
            if n.op_type == "BatchNormalization":
                by_input[n.input[0]] = n
        folded = {"skip": set()}
        for n in nodes:
            if n.op_type != "Conv" or n.output[0] not in by_input or readers[n.output[0]] != 1:
                continue
            if n.output[0] in (self.start, self.end) or n.input[1] not in inits:
                continue
            bn = by_input[n.output[0]]
            if len(bn.input) != 5 or not all(t in inits for t in bn.input[1:]):
                continue
            gamma, beta, mean, var = (inits[t].astype(np.float32) for t in bn.input[1:])
            eps = np.float32(_attrs(bn).get("epsilon", 1e-5))
            s = gamma / np.sqrt(var + eps)  # float32 throughout, as the engine's fold
            w = inits[n.input[1]].astype(np.float32)
            b = inits[n.input[2]].astype(np.float32) if len(n.input) > 2 and n.input[2] else 0
            w2 = w * s.reshape(-1, *([1] * (w.ndim - 1)))
            b2 = (b - mean) * s + beta
            folded[id(n)] = (w2.astype(np.float32), b2.astype(np.float32), bn.output[0])
            folded["skip"].add(id(bn))
        return folded

    def _param(self, arr, decay):
        self.params.append(torch.nn.Parameter(torch.from_numpy(np.array(arr, dtype=np.float32))))
        self.decay.append(decay)
        return len(self.params) - 1

    def _const_array(self, name):
        return self._consts[name].numpy() if name in self._consts else None

    def _prepare(self, n, attrs, folded):
        """One executable step (node, attrs, sources, outputs): sources[j], the j-th input, is a
        parameter index (int), a tensor name or None; outputs are the names the results get."""
        pidx = {}
        outputs = list(n.output)
        if n.op_type == "Conv":
            if id(n) in folded:
                w, b, out = folded[id(n)]
                outputs = [out]
            else:
                w = self._const_array(n.input[1])
                b = self._const_array(n.input[2]) if len(n.input) > 2 and n.input[2] else None
            if w is None:
                raise NotImplementedError(f"node '{n.name}' (Conv): the weight is not a constant")
            pidx[1] = self._param(w, 1)
            if b is not None:
                pidx[2] = self._param(b, 0)
        elif n.op_type in ("Gemm", "MatMul"):
            for k in (1, 2):
                if len(n.input) > k and n.input[k] and n.input[k] in self._consts:
                    pidx[k] = self._param(self._const_array(n.input[k]), 1 if k == 1 else 0)
        elif n.op_type == "BatchNormalization":  # not after a Conv: trainable scale and shift
            for k in (1, 2):
                pidx[k] = self._param(self._const_array(n.input[k]), 0)
        if n.op_type not in _OPS:  # refused at build, not at the first forward
            raise NotImplementedError(f"node '{n.name}' ({n.op_type}): not supported")
        sources = [pidx.get(j, name or None) for j, name in enumerate(n.input)]
        if 2 in pidx and len(sources) < 3:  # a folded Conv that had no bias
            sources.append(pidx[2])
        return n, attrs, sources, outputs

    def _plan_frees(self):
        """Per step, the computed tensors whose last reader it is (dropped after the step)."""
        last = {}
        for k, (_, _, sources, _) in enumerate(self._steps):
            for src in sources:
                if isinstance(src, str) and src not in self._consts:
                    last[src] = k
        frees = [[] for _ in self._steps]
        for t, k in last.items():
            if t not in (self.start, self.end):
                frees[k].append(t)
        return frees

    # ---- execution ------------------------------------------------------------------------------

    def weights_and_biases(self):
        """(parameters with weight decay, parameters without), in node order."""
        w = [p for p, d in zip(self.params, self.decay) if d]
        b = [p for p, d in zip(self.params, self.decay) if not d]
        return w, b

    def forward(self, x):
        env = {self.start: x}
        for (n, attrs, sources, outputs), frees in zip(self._steps, self._last_use):
            ins = [self.params[s] if isinstance(s, int) else None if s is None else
                   env[s] if s in env else self._consts[s] for s in sources]
            if self.bn_train and n.op_type == "BatchNormalization":
                outs = (_batchnorm_train(attrs, ins, self.training),)
            else:
                outs = self._run(n, attrs, ins)
            for o, v in zip(outputs, outs):
                env[o] = v
            for t in frees:
                env.pop(t, None)
        return env[self.end]

    @staticmethod
    def _run(n, attrs, ins):
        op = _OPS.get(n.op_type)
        if op is None:
            raise NotImplementedError(f"node '{n.name}' ({n.op_type}): not supported")
        out = op(attrs, ins)
        return out if isinstance(out, tuple) else (out,)


# ---- operators: f(attrs, inputs) -> output or tuple of outputs ---------------------------------------

def _conv(a, ins):
    x, w = ins[0], ins[1]
    b = ins[2] if len(ins) > 2 else None
    if x.dim() != 4:
        raise NotImplementedError("Conv: only 2-D convolutions")
    strides = list(a.get("strides", [1, 1]))
    dil = list(a.get("dilations", [1, 1]))
    pad, x = _pad_input(x, _pads2d(a, x.shape, w.shape[2:], strides, dil))
    return F.conv2d(x, w, b, stride=strides, padding=pad, dilation=dil, groups=a.get("group", 1))


def _gemm(a, ins):
    x, w = ins[0], ins[1]
    x = x.t() if a.get("transA", 0) else x
    w = w.t() if a.get("transB", 0) else w
    y = torch.matmul(x, w)
    if a.get("alpha", 1.0) != 1.0:
        y = y * a["alpha"]
    if len(ins) > 2 and ins[2] is not None:
        y = y + (ins[2] * a["beta"] if a.get("beta", 1.0) != 1.0 else ins[2])
    return y


def _clip(a, ins):
    """hardtanh when both bounds are given (ReLU6): its gradient is zero at the bounds, as
    featcache's, and it is one fused op (clamp's backward is four). A bfloat16 input (under
    torch.autocast) takes clamp: PyTorch 1.13 has no bfloat16 hardtanh backward on the CPU (the
    same forward; the gradients differ only at inputs exactly on a bound)."""
    lo = ins[1] if len(ins) > 1 and ins[1] is not None else a.get("min")
    hi = ins[2] if len(ins) > 2 and ins[2] is not None else a.get("max")
    lo = None if lo is None else float(lo)
    hi = None if hi is None else float(hi)
    if lo is not None and hi is not None and ins[0].dtype != torch.bfloat16:
        return F.hardtanh(ins[0], lo, hi)
    return torch.clamp(ins[0], lo, hi)


def _hardsigmoid(a, ins):
    alpha, beta = a.get("alpha", 0.2), a.get("beta", 0.5)
    if abs(alpha - 1 / 6) < 1e-7 and beta == 0.5:  # PyTorch's own (torchvision exports it)
        return F.hardsigmoid(ins[0])
    return F.hardtanh(ins[0] * alpha + beta, 0.0, 1.0)


def _reduce_mean(a, ins):
    x = ins[0]
    axes = _axes(a, ins)
    axes = list(range(x.dim())) if axes is None else [v % x.dim() for v in axes]
    return x.mean(dim=axes, keepdim=bool(a.get("keepdims", 1)))


def _pool(a, ins, kind):
    x = ins[0]
    k = list(a["kernel_shape"])
    s = list(a.get("strides", [1, 1]))
    d = list(a.get("dilations", [1, 1]))
    ceil = bool(a.get("ceil_mode", 0))
    if kind == "max":
        pad, x = _pad_input(x, _pads2d(a, x.shape, k, s, d), value=-math.inf)
        return F.max_pool2d(x, k, s, pad, d, ceil_mode=ceil)
    pads = _pads2d(a, x.shape, k, s, [1, 1])
    if pads[0] != pads[2] or pads[1] != pads[3]:
        raise NotImplementedError("AveragePool: asymmetric pads")
    return F.avg_pool2d(x, k, s, (pads[0], pads[1]), ceil_mode=ceil,
                        count_include_pad=bool(a.get("count_include_pad", 0)))


def _batchnorm(a, ins):
    x, scale, shift, mean, var = ins[:5]
    return F.batch_norm(x, mean, var, scale, shift, training=False, eps=a.get("epsilon", 1e-5))


def _batchnorm_train(a, ins, training):
    """Training-mode BatchNormalization (bn_train): mean and var are the running statistics,
    updated in place while training."""
    x, scale, shift, mean, var = ins[:5]
    return F.batch_norm(x, mean, var, scale, shift, training=training, momentum=1.0 - a.get("momentum", 0.9),
                        eps=a.get("epsilon", 1e-5))


def _flatten(a, ins):
    x = ins[0]
    axis = a.get("axis", 1)
    axis = axis + x.dim() if axis < 0 else axis
    return x.reshape(int(np.prod(x.shape[:axis])), -1)


def _reshape(a, ins):
    x = ins[0]
    shape = [int(v) for v in ins[1].reshape(-1).tolist()]
    if not a.get("allowzero", 0):
        shape = [x.shape[i] if v == 0 else v for i, v in enumerate(shape)]
    return x.reshape(shape)


def _squeeze(a, ins):
    x = ins[0]
    axes = _axes(a, ins)
    if axes is None:
        return x.squeeze()
    for ax in sorted((v % x.dim() for v in axes), reverse=True):
        x = x.squeeze(ax)
    return x


def _unsqueeze(a, ins):
    x = ins[0]
    axes = _axes(a, ins)
    rank = x.dim() + len(axes)
    for ax in sorted(v % rank for v in axes):
        x = x.unsqueeze(ax)
    return x


def _gather(a, ins):
    x, idx = ins[0], ins[1].long()
    axis = a.get("axis", 0)
    axis = axis + x.dim() if axis < 0 else axis
    idx = torch.where(idx < 0, idx + x.shape[axis], idx)
    out = torch.index_select(x, axis, idx.reshape(-1))
    return out.reshape(x.shape[:axis] + idx.shape + x.shape[axis + 1:])


_CAST = {1: torch.float32, 6: torch.int32, 7: torch.int64, 9: torch.bool, 11: torch.float64}

_OPS = {
    "Conv": _conv,
    "Gemm": _gemm,
    "MatMul": lambda a, i: torch.matmul(i[0], i[1]),
    "Add": lambda a, i: i[0] + i[1],
    "Sub": lambda a, i: i[0] - i[1],
    "Mul": lambda a, i: i[0] * i[1],
    "Div": lambda a, i: i[0] / i[1],
    "Relu": lambda a, i: torch.relu(i[0]),
    "Clip": _clip,
    "Sigmoid": lambda a, i: torch.sigmoid(i[0]),
    "HardSigmoid": _hardsigmoid,
    "HardSwish": lambda a, i: F.hardswish(i[0]),
    "Tanh": lambda a, i: torch.tanh(i[0]),
    "GlobalAveragePool": lambda a, i: i[0].mean(dim=list(range(2, i[0].dim())), keepdim=True),
    "ReduceMean": _reduce_mean,
    "AveragePool": lambda a, i: _pool(a, i, "avg"),
    "MaxPool": lambda a, i: _pool(a, i, "max"),
    "BatchNormalization": _batchnorm,
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "Concat": lambda a, i: torch.cat([t for t in i if t is not None], dim=a["axis"]),
    "Identity": lambda a, i: i[0],
    "Dropout": lambda a, i: i[0],
    "Shape": lambda a, i: torch.tensor(list(i[0].shape), dtype=torch.int64),
    "Gather": _gather,
    "Cast": lambda a, i: i[0].to(_CAST[a["to"]]),
}
