#!/bin/sh
# `featcache finetune` against PyTorch: fine-tunes the top of MobileNetV2 above t146 (the last 3
# blocks) on ants/bees for one epoch (SGD, constant lr, no dropout) writing a --trace, then
# scripts/finetune_torch.py replays the same steps in PyTorch (the top built from the same ONNX
# weights, BatchNorm folded, same inputs, batches and starting head) and requires every step's loss
# (at most the first 20) within 1e-3 relative of featcache's. SKIP without ../shared or PyTorch.
# Prints one PASS/FAIL/SKIP line per check for tests/run.sh.
NAME=finetune_torch; . "$(dirname "$0")/../support/common.sh"

need_shared
# Until the finetune command is built, this test has nothing to run (remove when it is wired in).
"$FC" finetune --help >/dev/null 2>&1 || { echo "SKIP $NAME: featcache has no finetune command"; exit 0; }
need_python "torch, numpy, onnx" "PyTorch not installed (the loss cross-check needs python3-torch)"
M="$SHARED/models/mobilenet_v2_1.0_224.onnx"
H="$SHARED/data/hymenoptera"
C="--cache $T/c"

"$FC" extract "$H" --model "$M" --layer t146 $C --threads 2 --quiet 2>/dev/null
"$FC" finetune "$H" --model "$M" $C --cut t146 --epochs 1 --optimizer sgd --dropout 0 \
    --schedule constant --threads 2 --trace "$T/trace" >"$T/out" 2>"$T/err"; rc=$?
missing=
for f in meta.json x.npy y.npy batches.npy head_W.npy head_b.npy; do
    [ -s "$T/trace/$f" ] || missing="$missing $f"
done
[ $rc -eq 0 ] && [ -z "$missing" ]
check "finetune --trace writes meta.json and the arrays${missing:+ (missing:$missing)}" $?
[ $rc -eq 0 ] && [ -z "$missing" ] || exit 0

$PY scripts/finetune_torch.py check "$T/trace" --steps 20 >"$T/check" 2>"$T/stderr"; rc=$?
if [ $rc -eq 77 ]; then
    grep '^SKIP ' "$T/check"
    exit 0
fi
{ grep -E 'TOO LARGE|^[{]' "$T/check"; cat "$T/stderr"; } >"$T/err"
steps=$(json_field steps "$T/check")
diff=$(json_field max_rel_diff "$T/check")
check "PyTorch replays featcache's first ${steps:-?} SGD steps, each loss within 1e-3 relative (largest difference ${diff:-?})" $rc
