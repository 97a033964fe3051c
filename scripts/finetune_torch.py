#!/usr/bin/python3
"""PyTorch reference and speed anchor of `featcache finetune` (fine-tuning the top of a backbone from a
cached cut tensor).

Why: featcache trains the top of an ONNX backbone (the nodes from a cut tensor to the feature tensor,
BatchNormalization folded into the Conv before it) plus a linear head with its own kernels. This
script builds the same top from the same ONNX weights in PyTorch (scripts/onnx_torch.py), so that
  check   proves featcache's losses right: it replays the steps of a trace that
          `featcache finetune ... --trace DIR` wrote (same inputs, same batches, same starting head,
          same optimizer and learning rates) in float32 and compares the loss of each step;
  bench   times PyTorch epochs on the same cached inputs (the epoch-time anchor);
  images  runs the whole job the usual PyTorch way, from the images, with the bottom of the
          network recomputed every epoch (the anchor of caching the cut once).

Trace (DIR, written by featcache finetune or featcache train --head conv):
  meta.json   {"model", "cut", "feature", "batch", "optimizer": "sgd"|"adamw", "lr_per_step": [head
              lr of each step], "backbone_lr_scale", "momentum", "weight_decay", "beta1", "beta2",
              "eps" (adamw), "l2sp_pull" (0 when absent), "steps": S, "losses": [S floats],
              "threads", "bn_train" (a conv head:
              its blocks' BatchNorms train in training mode; "model" is then DIR/top.onnx, the
              blocks' starting values)}
  x.npy       float32 (R, C, H, W): every training row's cut activation
  y.npy       int64 (R): class of each row
  batches.npy int64 (S, B): row indices of each step's batch, -1 pads a short last batch
  head_W.npy  float32 (K, D), head_b.npy float32 (K): the head's starting values
The recipe: logits = head(flatten(top(x))); loss = softmax cross-entropy, mean over the batch's rows;
parameter groups backbone weights (lr * backbone_lr_scale, weight decay), backbone biases and
BatchNorm scale/shift (lr * backbone_lr_scale, no decay), head weight (lr, decay), head bias (lr, no
decay); every backbone parameter's gradient gains l2sp_pull * (p - p0), p0 its starting value
(L2-SP); SGD (momentum, dampening 0) or AdamW exactly as torch.optim implements them. The loss of a
step is the batch's loss before that step's update. AdamW divides by sqrt(v), so parameters whose
gradient is about zero move by about lr on rounding noise alone: expect larger differences there.

Usage (from the repository root, with /usr/bin/python3):
  scripts/finetune_torch.py check DIR [--steps 20] [--tol 1e-3] [--model M.onnx]
      prints per step featcache's loss, torch's loss and |diff|/|featcache|, then
      {"steps":S,"max_rel_diff":...}; exit 0 when every step is within --tol, else 1.
  scripts/finetune_torch.py bench DIR --epochs E [--threads T] [--memory-format channels_last]
      [--autocast bf16]
      E shuffled epochs over the trace's rows, batch as the trace's; prints
      {"epoch_seconds":[...],"median_epoch_seconds":...}. Each batch is gathered from the in-memory
      float32 rows into a tensor inside the timed loop. Weights and batches are channels_last by
      default: PyTorch's CPU training steps of these tops are ~15% faster so than in contiguous
      NCHW (--memory-format contiguous); check runs plain NCHW. --autocast bf16 runs the forward
      (and so its backward) under torch.autocast("cpu", dtype=torch.bfloat16): PyTorch's own bf16
      (weights and optimizer stay float32).
  scripts/finetune_torch.py images --model M.onnx --cut T --feature F --data DATASET
      [--views orig,flip] [--epochs 15] [--batch 32] [--size 224] [--threads 2] [--preprocess tf]
      [--crop 1] [--lr 0.01] [--backbone-lr-scale 0.1] [--momentum 0.9] [--weight-decay 1e-4]
      [--memory-format channels_last]
      DATASET/{train,val}/<class>/*.jpg|png; each epoch decodes every training image with PIL in one
      random view, preprocesses it as featcache extract does (--crop F of the largest centred square,
      Pillow bilinear resize to size x size, --preprocess tf|torch|caffe), runs the bottom under
      no_grad and trains top + head (head from torch's default init) with SGD at a constant lr;
      then validates on val (orig); prints {"seconds":...,"epochs":E,"val_accuracy":...,...}.
      JPEGs are decoded at full size, as torchvision's loader does (featcache decodes very large
      ones at a reduced DCT scale, so those few inputs differ slightly).
Exit 77 with "SKIP finetune_torch: ..." when PyTorch (or the onnx package) is not installed.
"""
import argparse
import importlib
import json
import os
import statistics
import sys
import time

SKIP = 77


def need_torch():
    """Imports numpy, torch and the interpreter (globals np, torch, F, OnnxNet), or prints the SKIP
    line and exits 77."""
    global np, torch, F, OnnxNet
    for module, what in (("torch", "PyTorch"), ("numpy", "numpy"), ("onnx", "the onnx Python package")):
        try:
            importlib.import_module(module)
        except ImportError:
            print(f"SKIP finetune_torch: {what} not installed")
            sys.exit(SKIP)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import numpy as np
    import torch
    import torch.nn.functional as F
    from onnx_torch import OnnxNet


# ---- the recipe: top + head, optimizer, one step -----------------------------------------------------

def build_net(model, cut, feature, head_w, head_b, bn_train=False):
    """(top, head, net): net = head(flatten(top(x))); head (K, D) from head_w / head_b; bn_train: the
    top's BatchNormalizations train in training mode (a conv head's new blocks)."""
    top = OnnxNet(model, cut, feature, bn_train)
    head = torch.nn.Linear(head_w.shape[1], head_w.shape[0])
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(np.array(head_w, dtype=np.float32)))
        head.bias.copy_(torch.from_numpy(np.array(head_b, dtype=np.float32)))
    return top, head, torch.nn.Sequential(top, torch.nn.Flatten(1), head)


def build_optimizer(top, head, kind, lr, backbone_lr_scale, weight_decay, momentum=0.0,
                    betas=(0.9, 0.999), eps=1e-8, l2sp_pull=0.0):
    """SGD or AdamW over the four groups of the recipe; each group keeps its lr scale in "scale".
    l2sp_pull > 0: every parameter of the top (pretrained) is pulled toward its starting value,
    l2sp_pull * (p - p0) added to its gradient before the step (train_step), as featcache does."""
    weights, biases = top.weights_and_biases()
    groups = [(weights, backbone_lr_scale, weight_decay), (biases, backbone_lr_scale, 0.0),
              ([head.weight], 1.0, weight_decay), ([head.bias], 1.0, 0.0)]
    groups = [{"params": p, "scale": s, "lr": lr * s, "weight_decay": wd} for p, s, wd in groups if p]
    if kind == "sgd":
        opt = torch.optim.SGD(groups, lr=lr, momentum=momentum)
    elif kind == "adamw":
        opt = torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps)
    else:
        raise SystemExit(f"finetune_torch: unknown optimizer '{kind}' (sgd, adamw)")
    opt.l2sp_pull = l2sp_pull
    opt.anchors = [(p, p.detach().clone()) for p in weights + biases] if l2sp_pull > 0 else []
    return opt


def set_lr(opt, lr):
    for g in opt.param_groups:
        g["lr"] = lr * g["scale"]


def channels_last(*modules):
    """Puts every 4-D parameter of the modules in channels_last order (PyTorch's faster CPU
    convolution layout here; the speed anchors use it, inputs are converted with to_format)."""
    for m in modules:
        for p in m.parameters():
            if p.dim() == 4:
                p.data = p.data.contiguous(memory_format=torch.channels_last)


def to_format(x, fmt):
    if fmt == "channels_last" and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def train_step(net, opt, xb, yb, autocast=None):
    """One step on a batch (tensors); returns the batch's mean cross-entropy before the update.
    autocast "bf16": the forward under torch.autocast (CPU, bfloat16)."""
    opt.zero_grad(set_to_none=True)
    if autocast == "bf16":
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = net(xb)
        loss = F.cross_entropy(logits.float(), yb)
    else:
        loss = F.cross_entropy(net(xb), yb)
    loss.backward()
    with torch.no_grad():
        for p, p0 in opt.anchors:  # L2-SP: the gradient of (pull / 2) ||p - p0||^2
            p.grad.add_(p - p0, alpha=opt.l2sp_pull)
    opt.step()
    return loss.item()


# ---- trace modes ----------------------------------------------------------------------------------

def load_trace(d, model=None):
    """(meta, arrays) of trace folder d; model replaces meta's model path."""
    try:
        with open(os.path.join(d, "meta.json")) as f:
            meta = json.load(f)
        t = {name: np.load(os.path.join(d, name + ".npy"), mmap_mode="r" if name == "x" else None)
             for name in ("x", "y", "batches", "head_W", "head_b")}
    except (OSError, ValueError) as e:
        raise SystemExit(f"finetune_torch: trace {d}: {e}")
    if model:
        meta["model"] = model
    missing = [k for k in ("model", "cut", "feature", "optimizer", "lr_per_step", "backbone_lr_scale",
                           "weight_decay", "steps", "losses") if k not in meta]
    if missing:
        raise SystemExit(f"finetune_torch: trace {d}: meta.json lacks {', '.join(missing)}")
    if t["x"].dtype != np.float32 or t["x"].shape[0] != t["y"].shape[0]:
        raise SystemExit(f"finetune_torch: {d}: x.npy must be float32 (R, ...) with R = len(y.npy)")
    if t["batches"].shape[0] < meta["steps"] or len(meta["losses"]) != meta["steps"]:
        raise SystemExit(f"finetune_torch: {d}: {meta['steps']} steps but {t['batches'].shape[0]} "
                         f"batches and {len(meta['losses'])} losses")
    return meta, t


def trace_net(meta, t):
    top, head, net = build_net(meta["model"], meta["cut"], meta["feature"], t["head_W"], t["head_b"],
                               meta.get("bn_train", False))
    opt = build_optimizer(top, head, meta["optimizer"], meta["lr_per_step"][0],
                          meta["backbone_lr_scale"], meta["weight_decay"], meta.get("momentum", 0.0),
                          (meta.get("beta1", 0.9), meta.get("beta2", 0.999)), meta.get("eps", 1e-8),
                          meta.get("l2sp_pull", 0.0))
    return net, opt


def set_threads(n):
    if n and n > 0:
        torch.set_num_threads(int(n))


def cmd_check(args):
    meta, t = load_trace(args.dir, args.model)
    if meta.get("dropout", 0):
        raise SystemExit("finetune_torch: check needs a trace without dropout (--dropout 0)")
    if meta.get("precision", "f32") != "f32":
        raise SystemExit(f"finetune_torch: check replays float32 steps; the trace ran {meta['precision']} "
                         "products (featcache finetune --precision f32)")
    set_threads(meta.get("threads"))
    net, opt = trace_net(meta, t)
    x, y = t["x"], torch.from_numpy(t["y"].astype(np.int64))
    steps = meta["steps"] if args.steps <= 0 else min(args.steps, meta["steps"])
    worst = 0.0
    print(f"{'step':>4} {'featcache':>12} {'torch':>12} {'rel diff':>10}")
    for s in range(steps):
        rows = t["batches"][s]
        rows = rows[rows >= 0]
        set_lr(opt, meta["lr_per_step"][s])
        loss = train_step(net, opt, torch.from_numpy(x[rows]), y[rows])
        ref = meta["losses"][s]
        rel = abs(loss - ref) / max(abs(ref), 1e-12) if np.isfinite([loss, ref]).all() else np.inf
        worst = max(worst, rel)
        print(f"{s:4d} {ref:12.6f} {loss:12.6f} {rel:10.2e}{'' if rel <= args.tol else '  TOO LARGE'}")
    worst_json = float(f"{worst:.3g}") if np.isfinite(worst) else "inf"  # a loss was not finite
    print(json.dumps({"steps": steps, "max_rel_diff": worst_json}, separators=(",", ":")))
    return 0 if worst <= args.tol else 1


def cmd_bench(args):
    meta, t = load_trace(args.dir, args.model)
    set_threads(args.threads if args.threads else meta.get("threads"))
    net, opt = trace_net(meta, t)
    if args.memory_format == "channels_last":
        channels_last(net)
    x = np.array(t["x"])  # read into memory, as featcache holds its cached rows
    y = torch.from_numpy(t["y"].astype(np.int64))
    batch = t["batches"].shape[1]
    rng = np.random.default_rng(args.seed)
    times, cpu = [], []
    for _ in range(args.epochs):
        order = rng.permutation(x.shape[0])
        start, cpu0 = time.perf_counter(), time.process_time()
        for i in range(0, len(order), batch):
            rows = order[i:i + batch]
            train_step(net, opt, to_format(torch.from_numpy(x[rows]), args.memory_format), y[rows], args.autocast)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - cpu0)
    print(json.dumps({"epoch_seconds": [round(v, 4) for v in times],
                      "median_epoch_seconds": round(statistics.median(times), 4),
                      "epoch_cpu_seconds": [round(v, 4) for v in cpu],
                      "rows": int(x.shape[0]), "batch": int(batch), "threads": torch.get_num_threads(),
                      "memory_format": args.memory_format, "autocast": args.autocast or "none",
                      "engine": f"torch {torch.__version__}"}))
    return 0


# ---- images mode ----------------------------------------------------------------------------------

def list_split(root, split, classes=None):
    """(classes, [(path, class index)]) of root/split/<class>/*: JPEG and PNG only (as featcache),
    classes sorted unless given."""
    from PIL import Image
    d = os.path.join(root, split)
    classes = classes or sorted(c for c in os.listdir(d) if os.path.isdir(os.path.join(d, c)))
    items = []
    for k, c in enumerate(classes):
        cd = os.path.join(d, c)
        for name in sorted(os.listdir(cd)) if os.path.isdir(cd) else []:
            path = os.path.join(cd, name)
            try:
                with Image.open(path) as im:
                    ok = im.format in ("JPEG", "PNG")
            except OSError:
                ok = False
            if ok:
                items.append((path, k))
    return classes, items


def preprocess_table(preset):
    """(3, 256) float32: the value of channel c at 8-bit level v, featcache's presets."""
    v = np.arange(256, dtype=np.float32)
    if preset == "tf":
        return np.stack([v / np.float32(127.5) - np.float32(1)] * 3)
    if preset == "torch":
        mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)[:, None]
        std = np.array([0.229, 0.224, 0.225], dtype=np.float32)[:, None]
        return (v[None] / np.float32(255) - mean) / std
    if preset == "caffe":
        return v[None] - np.array([123.68, 116.779, 103.939], dtype=np.float32)[:, None]
    raise SystemExit(f"finetune_torch: unknown --preprocess '{preset}' (tf, torch, caffe)")


def load_image(path, size, crop, flip, table, bgr):
    """(3, size, size) float32 as featcache extract makes it: the largest centred square scaled by
    crop (crop 1 keeps the whole image, aspect not kept), Pillow bilinear resize, optional mirror,
    per-channel table (caffe: BGR order)."""
    from PIL import Image
    with Image.open(path) as im:
        im = im.convert("RGB")
        if 0 < crop < 1:
            side = min(im.width, im.height)
            cw = min(max(round(crop * side), 1), im.width)
            ch = min(max(round(crop * side), 1), im.height)
            x0, y0 = (im.width - cw) // 2, (im.height - ch) // 2
            im = im.crop((x0, y0, x0 + cw, y0 + ch))
        im = im.resize((size, size), Image.BILINEAR)
        if flip:
            im = im.transpose(Image.FLIP_LEFT_RIGHT)
        rgb = np.asarray(im)
    out = np.stack([table[c][rgb[:, :, c]] for c in range(3)])
    return out[::-1].copy() if bgr else out


def cmd_images(args):
    t0 = time.perf_counter()
    set_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    views = args.views.split(",")
    if not views or any(v not in ("orig", "flip") for v in views):
        raise SystemExit("finetune_torch: --views takes orig and/or flip")
    classes, train = list_split(args.data, "train")
    _, val = list_split(args.data, "val", classes)
    table, bgr = preprocess_table(args.preprocess), args.preprocess == "caffe"

    import onnx
    model = onnx.load(args.model)
    inits = {i.name for i in model.graph.initializer}
    image_input = next(i.name for i in model.graph.input if i.name not in inits)
    bottom = OnnxNet(model, image_input, args.cut)
    top = OnnxNet(model, args.cut, args.feature)
    with torch.no_grad():
        dim = top(bottom(torch.zeros(1, 3, args.size, args.size))).reshape(1, -1).shape[1]
    head = torch.nn.Linear(dim, len(classes))
    net = torch.nn.Sequential(top, torch.nn.Flatten(1), head)
    if args.memory_format == "channels_last":
        channels_last(bottom, top)
    opt = build_optimizer(top, head, "sgd", args.lr, args.backbone_lr_scale, args.weight_decay,
                          args.momentum, l2sp_pull=args.l2sp / max(len(train), 1))

    def batches(items, order, pick_view):
        for i in range(0, len(order), args.batch):
            rows = order[i:i + args.batch]
            x = np.stack([load_image(items[r][0], args.size, args.crop, pick_view() == "flip",
                                     table, bgr) for r in rows])
            y = torch.tensor([items[r][1] for r in rows], dtype=torch.int64)
            yield to_format(torch.from_numpy(x), args.memory_format), y

    epoch_seconds, losses = [], []
    for _ in range(args.epochs):
        start, total = time.perf_counter(), 0.0
        for x, y in batches(train, rng.permutation(len(train)), lambda: views[rng.integers(len(views))]):
            with torch.no_grad():
                cut = bottom(x)
            total += train_step(net, opt, cut, y) * len(y)
        epoch_seconds.append(time.perf_counter() - start)
        losses.append(total / len(train))
    correct = 0
    with torch.no_grad():
        for x, y in batches(val, np.arange(len(val)), lambda: "orig"):
            correct += int((net(bottom(x)).argmax(1) == y).sum())
    print(json.dumps({"seconds": round(time.perf_counter() - t0, 3), "epochs": args.epochs,
                      "val_accuracy": round(correct / max(len(val), 1), 4),
                      "epoch_seconds": [round(v, 3) for v in epoch_seconds],
                      "train_loss": [round(v, 4) for v in losses], "train_items": len(train),
                      "val_items": len(val), "threads": torch.get_num_threads(),
                      "memory_format": args.memory_format,
                      "engine": f"torch {torch.__version__}"}))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    c = sub.add_parser("check", help="replay a featcache trace and compare the losses")
    c.add_argument("dir")
    c.add_argument("--steps", type=int, default=20, help="compare the first N steps (0: all)")
    c.add_argument("--tol", type=float, default=1e-3, help="largest relative loss difference")
    c.add_argument("--model", help="the ONNX model, when meta.json's path does not resolve here")
    b = sub.add_parser("bench", help="time PyTorch epochs on a trace's cached rows")
    b.add_argument("dir")
    b.add_argument("--epochs", type=int, default=5)
    b.add_argument("--threads", type=int, default=0, help="default: the trace's")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--model")
    b.add_argument("--memory-format", choices=("channels_last", "contiguous"), default="channels_last")
    b.add_argument("--autocast", choices=("bf16",), help="PyTorch's own bf16: the forward under torch.autocast")
    i = sub.add_parser("images", help="the whole fine-tuning job from the images")
    i.add_argument("--model", required=True)
    i.add_argument("--cut", required=True)
    i.add_argument("--feature", required=True)
    i.add_argument("--data", required=True)
    i.add_argument("--views", default="orig,flip")
    i.add_argument("--epochs", type=int, default=15)
    i.add_argument("--batch", type=int, default=32)
    i.add_argument("--size", type=int, default=224)
    i.add_argument("--threads", type=int, default=2)
    i.add_argument("--preprocess", default="tf")
    i.add_argument("--crop", type=float, default=1.0)
    i.add_argument("--lr", type=float, default=0.01)
    i.add_argument("--backbone-lr-scale", type=float, default=0.1)
    i.add_argument("--momentum", type=float, default=0.9)
    i.add_argument("--weight-decay", type=float, default=1e-4)
    i.add_argument("--l2sp", type=float, default=250.0,
                   help="the top's pull toward its pretrained values: l2sp / training items per step")
    i.add_argument("--seed", type=int, default=0)
    i.add_argument("--memory-format", choices=("channels_last", "contiguous"), default="channels_last")
    args = ap.parse_args()
    need_torch()
    return {"check": cmd_check, "bench": cmd_bench, "images": cmd_images}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
