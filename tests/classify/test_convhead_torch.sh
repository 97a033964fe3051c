#!/bin/sh
# `featcache train --head conv` against PyTorch: two new conv blocks (3x3 conv + BatchNorm in
# training mode + ReLU, the second with stride 2) and a softmax head on MobileNetV2's t93 map of an
# ants/bees subset at input 96, 20 steps of batch 8 (AdamW, one-cycle, no dropout, f32 products), writing a
# --trace with the blocks' starting graph; scripts/finetune_torch.py replays the same steps in
# PyTorch (the blocks built from that graph with training-mode BatchNorm, the same inputs, batches,
# starting head and learning rates) and requires every step's loss within 1e-3 relative of
# featcache's. SKIP without ../shared or PyTorch.
NAME=convhead_torch; . "$(dirname "$0")/../support/common.sh"

need_shared
need_python "torch, numpy, onnx" "PyTorch not installed (the loss cross-check needs python3-torch)"
M="$SHARED/models/mobilenet_v2_1.0_224.onnx"
H="$T/ab"
ab_subset "$H" 12 4 # 24 training items: 3 steps of 8 per epoch, 7 epochs

"$FC" train "$H" --model "$M" --cache "$T/c" --layer t93 --size 96 --head conv --conv 32,32s2 --epochs 7 --batch 8 \
    --dropout 0 --precision f32 --threads 2 --trace "$T/trace" --trace-steps 20 --quiet -o "$T/c.onnx" >"$T/out" 2>"$T/err"; rc=$?
trace_replay "$T/trace" "meta.json top.onnx x.npy y.npy batches.npy head_W.npy head_b.npy" \
    "conv-head steps (training-mode BatchNorm, AdamW, one-cycle)"
