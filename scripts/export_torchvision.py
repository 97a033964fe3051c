#!/usr/bin/python3
"""Export torchvision CNNs with seeded random weights to ONNX test models plus PyTorch reference outputs.

For each model, in OUTDIR:
  <name>.onnx         opset 13, input `input` [B,3,S,S], output `output` [B,K], static shapes
  <name>.dyn.onnx     the same with a dynamic batch axis `N` (benchmarks at another batch size use it;
                      it may contain extra shape ops, listed as ops_dynamic in the json)
  <name>.input.npy    seeded random float32 [B,3,S,S], O(1) values (see random_images)
  <name>.output.npy   PyTorch's output (logits, no softmax) for that input
  <name>.pooled.npy   PyTorch's value of the tensor that feeds the last Gemm/MatMul (the classifier),
                      renamed `pooled` in the ONNX graph. SqueezeNet has no Gemm: its classifier is a
                      1x1 Conv, so `features` [B,512,13,13] (the input of that Conv) is named instead.
  <name>.json         name, input_size, batch, output, pooled, pooled_shape, ops (op type -> count),
                      op_attrs, output stats, ORT-vs-PyTorch max |diff| / max |output|. Written last:
                      its presence (with the same batch and size) makes re-runs skip the model.

Weights are not pretrained (no network): torch.manual_seed(0), every Conv/Linear re-drawn as
normal(0, gain/sqrt(fan_in)) (gain sqrt(2), 1 for the last Linear), biases U(-0.1, 0.1), BatchNorm
gamma U(0.5, 1.5) and beta N(0, 0.2); then BatchNorm running mean/var are calibrated on 32 seeded random
images (cumulative average of batch statistics), so activations stay O(1) through deep nets and the
running stats are far from the trivial 0/1; last, the classifier is scaled so logits have std ~1. The export keeps BatchNormalization nodes (no
exporter-side Conv+BN folding), so featcache's own BN folding is really exercised.
Each export is checked with onnx.checker and, unless --no-ort (or node/npm is missing: a warning),
run in ONNX Runtime (scripts/ort/run.js, installed into build/ort) and compared with PyTorch.

Usage: /usr/bin/python3 scripts/export_torchvision.py OUTDIR [--models a,b,...] [--batch 2] [--size S]
                                                              [--no-ort]
  --size overrides every model's input size (default 224, 299 for inception_v3).
"""
import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import torch
import torchvision
from torch import nn

HERE = Path(__file__).resolve().parent
MODELS = {  # name -> (constructor kwargs besides weights=None, default input size)
    "resnet18": ({}, 224),
    "resnet34": ({}, 224),
    "resnet50": ({}, 224),
    "vgg11_bn": ({}, 224),
    "mobilenet_v2": ({}, 224),
    "mobilenet_v3_large": ({}, 224),
    "efficientnet_b0": ({}, 224),
    "densenet121": ({}, 224),
    "squeezenet1_1": ({}, 224),
    "googlenet": ({"aux_logits": False, "init_weights": True}, 224),
    "inception_v3": ({"aux_logits": False, "init_weights": True}, 299),
    "shufflenet_v2_x1_0": ({}, 224),
}
INPUT_SEED = 2024
CALIB_SEED = 1


def fail(msg):
    print(f"export_torchvision.py: {msg}", file=sys.stderr)
    sys.exit(1)


def sanitize(name):  # same rule as scripts/ort/common.js
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def random_images(n, size, seed):
    """Per image: a random mix of smooth noise (coarse 8..32 grid, bilinear upsampled) and white
    Gaussian noise, random contrast and per-channel offset. Plain i.i.d. noise images all have the
    same statistics, so globally pooled features (and outputs) barely depend on the image."""
    gen = torch.Generator().manual_seed(seed)
    images = []
    for _ in range(n):
        grid = 2 ** int(torch.randint(3, 6, (1,), generator=gen))
        smooth = nn.functional.interpolate(torch.randn(1, 3, grid, grid, generator=gen), size=(size, size),
                                           mode="bilinear", align_corners=False)
        w = 0.3 + 0.4 * float(torch.rand(1, generator=gen))
        x = w * smooth / smooth.std() + (1 - w) * torch.randn(1, 3, size, size, generator=gen)
        images.append(x * (0.75 + 0.5 * float(torch.rand(1, generator=gen))) + 0.25 * torch.randn(1, 3, 1, 1, generator=gen))
    return torch.cat(images)


def build(name, size):
    kwargs, _ = MODELS[name]
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None, **kwargs).eval()
    layers = []  # Conv/Linear modules in execution order: the last one is the classifier
    hooks = [m.register_forward_hook(lambda m, i, o: layers.append(m))
             for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    for h in hooks:
        h.remove()
    linears = [m for m in layers if isinstance(m, nn.Linear)]
    head = linears[-1] if linears else layers[-1]

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                gain = 1.0 if m is head and isinstance(m, nn.Linear) else math.sqrt(2.0)
                m.weight.normal_(0.0, gain / math.sqrt(m.weight[0].numel()))
                if m.bias is not None:
                    m.bias.uniform_(-0.1, 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.2)
        bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        for m in bns:  # only BN in train mode: dropout / stochastic depth stay off
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration passes
            m.train()
        for i in range(4 if bns else 0):
            model(random_images(8, size, CALIB_SEED + i))
        for m in bns:
            m.momentum = 0.1
        model.eval()
        scale = float(model(random_images(8, size, CALIB_SEED + 100)).std())
        head.weight /= scale  # logits std ~1 (the head is linear, or Conv+ReLU for SqueezeNet)
        if head.bias is not None:
            head.bias /= scale
    return model, head


def rename_tensor(model, old, new):
    for node in model.graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]
    for vi in list(model.graph.value_info) + list(model.graph.output):
        if vi.name == old:
            vi.name = new


def classifier_input(model):
    """Return (tensor name, op type) of the input of the last Gemm/MatMul, else of the last Conv."""
    for ops in (("Gemm", "MatMul"), ("Conv",)):
        nodes = [n for n in model.graph.node if n.op_type in ops]
        if nodes:
            return nodes[-1].input[0], nodes[-1].op_type
    fail("no Gemm, MatMul or Conv in the graph")


def attr_signature(node):
    parts = []
    for a in node.attribute:
        v = onnx.helper.get_attribute_value(a)
        if isinstance(v, bytes):
            v = v.decode()
        if isinstance(v, onnx.TensorProto):
            v = "tensor"
        parts.append(f"{a.name}={list(v) if isinstance(v, (list, tuple)) else v}")
    return ",".join(sorted(parts))


def export(model, x, path, pooled_new, dynamic):
    """Export to path; rename the classifier input to pooled_new. Returns (graph, original name, op)."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "raw.onnx")
        axes = {"input": {0: "N"}, "output": {0: "N"}} if dynamic else None
        with warnings.catch_warnings():  # PRESERVE + folding and int(size) tracer warnings are expected
            warnings.simplefilter("ignore")
            # PRESERVE with an eval-mode model: inference graph, but skips the exporter's eval-only
            # peephole that would fold BatchNormalization into Conv before featcache ever sees it.
            torch.onnx.export(model, x, raw, opset_version=13, input_names=["input"],
                              output_names=["output"], dynamic_axes=axes, do_constant_folding=True,
                              training=torch.onnx.TrainingMode.PRESERVE)
        graph = onnx.load(raw)
    old, op = classifier_input(graph)
    rename_tensor(graph, old, pooled_new)
    onnx.checker.check_model(graph)
    onnx.save(graph, tmp_name(path))
    os.replace(tmp_name(path), path)
    return graph, old, op


def run_ort(onnx_path, input_path, names):
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["node", str(HERE / "ort" / "run.js"), str(onnx_path), str(input_path), tmp,
               "--outputs", ",".join(names)]
        if subprocess.run(cmd).returncode != 0:
            fail(f"ONNX Runtime failed on {onnx_path}")
        return [np.load(os.path.join(tmp, sanitize(n) + ".npy")) for n in names]


def tmp_name(path):  # per process: two concurrent runs (e.g. two `make test`) must not share it
    return f"{path}.{os.getpid()}.tmp"


def rel_diff(a, b):
    if a.shape != b.shape:
        fail(f"shape mismatch ORT {a.shape} vs PyTorch {b.shape}")
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def save_npy(path, array):
    with open(tmp_name(path), "wb") as f:
        np.save(f, array.astype(np.float32))
    os.replace(tmp_name(path), path)


def export_one(name, outdir, batch, size, use_ort):
    out = outdir / name
    model, head = build(name, size)
    x = random_images(batch, size, INPUT_SEED)
    captured = {}
    hook = head.register_forward_pre_hook(lambda m, inp: captured.update(pooled=inp[0].detach().clone()))
    with torch.no_grad():
        y = model(x).numpy()
    hook.remove()
    pooled = captured["pooled"].numpy()
    pooled_name = "pooled" if isinstance(head, nn.Linear) else "features"

    graph, orig_name, pooled_op = export(model, x, f"{out}.onnx", pooled_name, dynamic=False)
    dyn_graph, _, _ = export(model, x, f"{out}.dyn.onnx", pooled_name, dynamic=True)
    save_npy(f"{out}.input.npy", x.numpy())
    save_npy(f"{out}.output.npy", y)
    save_npy(f"{out}.pooled.npy", pooled)

    attrs = {}
    for node in graph.graph.node:
        attrs.setdefault(node.op_type, set()).add(attr_signature(node))
    info = {
        "name": name, "input": "input", "input_size": size, "batch": batch,
        "output": "output", "output_shape": list(y.shape),
        "pooled": pooled_name, "pooled_shape": list(pooled.shape), "pooled_op": pooled_op,
        "pooled_exported_name": orig_name,
        "onnx": f"{name}.onnx", "onnx_dynamic": f"{name}.dyn.onnx",
        "onnx_bytes": os.path.getsize(f"{out}.onnx"),
        "ops": dict(sorted(Counter(n.op_type for n in graph.graph.node).items())),
        "ops_dynamic": dict(sorted(Counter(n.op_type for n in dyn_graph.graph.node).items())),
        "op_attrs": {k: sorted(v) for k, v in sorted(attrs.items())},
        "output_std": float(y.std()),
        "output_std_across_classes": float(y.std(axis=1).mean()),
        "output_std_across_batch": float(y.std(axis=0).mean()) if batch > 1 else None,
        "pooled_std": float(pooled.std()),
        "weights": "seeded random (torch.manual_seed(0)), BN stats calibrated, see export_torchvision.py",
        "torch": torch.__version__, "torchvision": torchvision.__version__,
    }
    if not np.isfinite(y).all() or info["output_std_across_classes"] < 1e-3:
        print(f"warning: {name}: output looks degenerate (std {info['output_std']:.3g})", file=sys.stderr)
    if use_ort:
        o, p = run_ort(f"{out}.onnx", f"{out}.input.npy", ["output", pooled_name])
        (od,) = run_ort(f"{out}.dyn.onnx", f"{out}.input.npy", ["output"])
        info["ort_rel_diff_output"] = rel_diff(o, y)
        info["ort_rel_diff_pooled"] = rel_diff(p, pooled)
        info["ort_rel_diff_output_dynamic"] = rel_diff(od, y)
        worst = max(v for k, v in info.items() if k.startswith("ort_rel_diff_"))
        if not worst <= 1e-4:
            fail(f"{name}: ONNX Runtime differs from PyTorch by {worst:.3g} of max |output|")
    with open(tmp_name(f"{out}.json"), "w") as f:
        json.dump(info, f, indent=1)
    os.replace(tmp_name(f"{out}.json"), f"{out}.json")
    return info


def done(outdir, name, batch, size):
    try:
        info = json.load(open(outdir / f"{name}.json"))
    except (OSError, ValueError):
        return None
    files = [f"{name}{s}" for s in (".onnx", ".dyn.onnx", ".input.npy", ".output.npy", ".pooled.npy")]
    if info.get("batch") != batch or info.get("input_size") != size:
        return None
    return info if all((outdir / f).exists() for f in files) else None


def summary(info):
    diffs = " ".join(f"{k[len('ort_rel_diff_'):]}={info[k]:.1e}" for k in info if k.startswith("ort_rel_diff_"))
    print(f"{info['name']:>20}: {info['onnx_bytes'] / 1e6:7.1f} MB  in {info['input_size']}  "
          f"out std {info['output_std']:.3f} (classes {info['output_std_across_classes']:.3f}, "
          f"batch {info['output_std_across_batch'] or 0:.3f})  pooled {info['pooled']} {info['pooled_shape']}  "
          f"ORT rel diff {diffs or 'not checked'}")
    print(f"{'':>22}ops: " + ", ".join(f"{k}x{v}" for k, v in info["ops"].items()))
    extra = sorted(set(info["ops_dynamic"]) - set(info["ops"]))
    if extra:
        print(f"{'':>22}extra ops in .dyn.onnx: {', '.join(extra)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--size", type=int)
    ap.add_argument("--no-ort", action="store_true", help="skip the ONNX Runtime check")
    args = ap.parse_args()
    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        fail(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(MODELS)}")
    if args.batch < 1 or (args.size is not None and args.size < 32):
        fail("--batch must be >= 1 and --size >= 32")
    use_ort = not args.no_ort
    if use_ort and not shutil.which("node"):
        print("warning: node not found (apt-get install nodejs npm): ONNX Runtime check skipped", file=sys.stderr)
        use_ort = False
    if use_ort and subprocess.run(["bash", str(HERE / "ort" / "install.sh")]).returncode != 0:
        print("warning: cannot install onnxruntime-node: ONNX Runtime check skipped", file=sys.stderr)
        use_ort = False
    outdir = Path(args.outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(min(2, os.cpu_count() or 1))

    for name in names:
        size = args.size or MODELS[name][1]
        info = done(outdir, name, args.batch, size)
        if info is None:
            print(f"exporting {name} ({size}x{size}, batch {args.batch}) ...", file=sys.stderr, flush=True)
            info = export_one(name, outdir, args.batch, size, use_ort)
        summary(info)


if __name__ == "__main__":
    main()
