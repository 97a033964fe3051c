#!/bin/sh
# `featcache finetune` against PyTorch: fine-tunes the top of MobileNetV2 above t146 (the last 3
# blocks) on an ants/bees subset at input 96 for 20 steps of batch 8 (SGD, constant lr, no
# dropout, a new head: the losses stay far from 0 where relative differences mean little) writing
# a --trace, then scripts/finetune_torch.py replays the same steps in PyTorch (the top built from the same ONNX
# weights, BatchNorm folded, same inputs, batches and starting head) and requires every step's loss
# (at most the first 20) within 1e-3 relative of featcache's. featcache runs f32 products here
# (--precision f32; PyTorch replays in float32). SKIP without ../shared or PyTorch.
# Prints one PASS/FAIL/SKIP line per check for tests/run.sh.
NAME=finetune_torch; . "$(dirname "$0")/../support/common.sh"

need_shared
need_python "torch, numpy, onnx" "PyTorch not installed (the loss cross-check needs python3-torch)"
M="$SHARED/models/mobilenet_v2_1.0_224.onnx"
H="$T/ab"
C="--cache $T/c"
ab_subset "$H" 12 4 # at input 96: 24 training items, 3 steps of 8 per epoch, 7 epochs

"$FC" finetune "$H" --model "$M" $C --cut t146 --size 96 --epochs 7 --batch 8 --optimizer sgd --dropout 0 \
    --schedule constant --no-lp --threads 2 --precision f32 --trace "$T/trace" --trace-steps 20 -o "$T/c.onnx" >"$T/out" 2>"$T/err"; rc=$?
trace_replay "$T/trace" "meta.json x.npy y.npy batches.npy head_W.npy head_b.npy" "SGD steps"
