#!/bin/sh
# `featcache train --head conv` against PyTorch: two new conv blocks (3x3 conv + BatchNorm in
# training mode + ReLU, the second with stride 2) and a softmax head on MobileNetV2's t93 map of an
# ants/bees subset at input 96, 20 steps of batch 8 (AdamW, one-cycle, no dropout), writing a
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
    --dropout 0 --threads 2 --trace "$T/trace" --trace-steps 20 --quiet -o "$T/c.onnx" >"$T/out" 2>"$T/err"; rc=$?
missing=
for f in meta.json top.onnx x.npy y.npy batches.npy head_W.npy head_b.npy; do
    [ -s "$T/trace/$f" ] || missing="$missing $f"
done
[ $rc -eq 0 ] && [ -z "$missing" ]
check "train --head conv --trace writes meta.json, the blocks' graph and the arrays${missing:+ (missing:$missing)}" $?
[ $rc -eq 0 ] && [ -z "$missing" ] || exit 0

$PY scripts/finetune_torch.py check "$T/trace" --steps 20 >"$T/check" 2>"$T/stderr"; rc=$?
if [ $rc -eq 77 ]; then
    grep '^SKIP ' "$T/check"
    exit 0
fi
{ grep -E 'TOO LARGE|^[{]' "$T/check"; cat "$T/stderr"; } >"$T/err"
steps=$(json_field steps "$T/check")
diff=$(json_field max_rel_diff "$T/check")
check "PyTorch replays featcache's first ${steps:-?} conv-head steps (training-mode BatchNorm, AdamW, one-cycle), each loss within 1e-3 relative (largest difference ${diff:-?})" $rc
