#!/bin/sh
# CLI checks of `featcache finetune` on a small ants/bees subset at --size 96 with MobileNetV2 cut at
# t146 (the input of the last 3 blocks): usage errors; a run with --views orig,flip and its JSON
# lines; a second run computes no cut activation; the classifier it writes names its classes
# (infer), and predict (cached: only the top runs, from the cut) / eval / infer agree; --lp-max-items
# samples the linear probe's items and says so; kill -9 and
# --resume give the same classifier bit for bit as a run never stopped; clear errors for a cut that
# is not a separator, a cut at the feature, an unknown tensor, a class without a training item and
# a loss that diverges (the last good checkpoint stays).
NAME=finetune; . "$(dirname "$0")/../support/common.sh"

"$FC" finetune --help >"$T/help" 2>&1; rc=$?
[ $rc -eq 0 ] && grep -q "^usage: featcache finetune" "$T/help" && grep -q -- "--backbone-lr-scale" "$T/help"
check "finetune --help" $?
"$FC" --help | grep -q "^  finetune "; check "finetune is listed in featcache --help" $?
"$FC" finetune ds --model m.onnx -o x.onnx >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 64 ] && grep -q -- "--cut" "$T/err"; check "finetune without --cut exits 64" $?
"$FC" finetune ds --model m.onnx --cut t -o x.onnx --optimizer rmsprop >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 64 ] && grep -q "unknown optimizer 'rmsprop'" "$T/err"; check "finetune names an unknown optimizer (exit 64)" $?
"$FC" finetune ds --model m.onnx --cut t -o x.onnx --split kfold:5 >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 64 ] && grep -q "kfold is not supported" "$T/err"; check "finetune refuses a k-fold split (exit 64)" $?
"$FC" finetune ds --model m.onnx --cut t -o x.onnx --precision fp8 >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 64 ] && grep -q "unknown precision 'fp8'" "$T/err"; check "finetune names an unknown precision (exit 64)" $?

need_shared data/hymenoptera "ants/bees"
need_shared models "MobileNetV2"
M="$SHARED/models/mobilenet_v2_1.0_224.onnx"
D="$T/ab"
ab_subset "$D" 12 6
C="$T/cache"
ARGS="--model $M --cut t146 --size 96 --threads 2 --batch 8 --cache $C"

"$FC" finetune "$D" $ARGS --views orig,flip --dtype f32 --epochs 3 --json -o "$T/c.onnx" >"$T/run1" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && $PY - "$T/run1" >"$T/err" 2>&1 <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
epochs = [l for l in lines if "epoch" in l and "run" not in l]
assert [e["epoch"] for e in epochs] == [0, 1, 2, 3], epochs
assert all(0 <= e["val_accuracy"] <= 1 for e in epochs) and epochs[0]["loss"] is None, epochs
assert all(e["steps"] == 3 for e in epochs[1:]), epochs  # 24 items, one view each per epoch, batches of 8
final = lines[-1]
assert all(k in final for k in ("val_accuracy", "train_accuracy", "epochs", "seconds")), final
assert final["epochs"] == 3 and final["cut_computed"] == 36 and final["train"] == 24 and final["val"] == 12, final
assert len(final["result"]["history"]) == 4, final
r = final["result"]
assert r["lp_train"] == 24 and r["lp_val"] == 12 and r["lp_sampled"] is False, r
EOF
check "finetune --json: epoch lines 0 (linear probe) to 3" $?

# --lp-max-items: the linear probe fits on a sample (every class in it) and says so; the epochs see every item
"$FC" finetune "$D" $ARGS --views orig,flip --dtype f32 --epochs 1 --lp-max-items 5 --json -o "$T/s.onnx" >"$T/runs" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && $PY - "$T/runs" >"$T/err" 2>&1 <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
final, r = lines[-1], lines[-1]["result"]
assert r["lp_train"] == 5 and r["lp_val"] == 5 and r["lp_sampled"] is True, r
assert lines[1]["steps"] == 3 and final["train"] == 24, lines
EOF
check "finetune --lp-max-items 5: the linear probe fits on 5 + 5 sampled items, the epoch on all 24" $?

"$FC" finetune "$D" $ARGS --views orig,flip --dtype f32 --epochs 3 --json -o "$T/c2.onnx" >"$T/run2" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && [ "$(json_field cut_computed "$T/run2")" = 0 ] && [ "$(json_field cut_cached "$T/run2")" = 36 ]
check "a second finetune computes no cut activation (36 cached)" $?
# validation reads orig only: the finetunes cached no flip of the 12 val items, which extract now adds
"$FC" extract "$D" --model "$M" --size 96 --layer t146 --views orig,flip --dtype f32 --cache "$C" --json >"$T/x" 2>"$T/err"
[ "$(json_field computed "$T/x")" = 12 ] && [ "$(json_field cached "$T/x")" = 24 ]
check "the val items' cut was cached for orig only (extract --views orig,flip then computes their 12)" $?

# --precision: the default (auto) is bf16 where the CPU has AVX512_BF16 (and FEATCACHE_ISA allows
# AVX-512), else f32; the final JSON and the classifier's recorded parameters say which ran; bf16 is
# refused where it cannot run
auto=f32
grep -qw avx512_bf16 /proc/cpuinfo && case ${FEATCACHE_ISA:-avx512} in avx512|"") auto=bf16 ;; esac
"$FC" finetune "$D" $ARGS --views orig,flip --dtype f32 --epochs 1 --precision f32 --json -o "$T/p.onnx" >"$T/runp" 2>"$T/err"
rc=$?
[ $rc -eq 0 ] && grep -q "\"precision\":\"$auto\"" "$T/run1" && grep -aq "\"precision\":\"$auto\"" "$T/c.onnx" &&
    tail -1 "$T/runp" | grep -q '"precision":"f32"' && grep -aq '"precision":"f32"' "$T/p.onnx"
check "finetune --precision: the default ran $auto, --precision f32 ran f32; the JSON and the classifier say so" $?
FEATCACHE_ISA=avx2 "$FC" finetune "$D" $ARGS --epochs 1 --precision bf16 -o "$T/x.onnx" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "bf16 training needs AVX512_BF16" "$T/err" && [ ! -f "$T/x.onnx" ]
check "--precision bf16 is refused (exit 1) where AVX512_BF16 cannot run (FEATCACHE_ISA=avx2)" $?
"$FC" extract "$D" --model "$M" --layer t146 --size 96 --dtype f32 --views orig,flip --cache "$C" --json >"$T/ex" 2>"$T/err"
rc=$?
[ $rc -eq 0 ] && [ "$(json_field computed "$T/ex")" = 0 ] && [ "$(json_field cached "$T/ex")" = 36 ]
check "extract --layer t146 --views orig,flip finds every cut activation finetune stored (same extractor)" $?

# the classifier: labels from its metadata, the same probabilities from predict (cached cut ->
# top), infer (the whole classifier on the images) and eval (the data set's cached cuts)
"$FC" infer --model "$T/c.onnx" --size 96 --top 2 --json "$D"/val/*/* >"$T/infer" 2>"$T/err" &&
    "$FC" predict --head "$T/c.onnx" --cache "$C" --top 2 --json "$D"/val/*/* >"$T/predict" 2>>"$T/err" &&
    "$FC" eval ab --head "$T/c.onnx" --cache "$C" --json >"$T/eval" 2>>"$T/err"; rc=$?
[ $rc -eq 0 ] && $PY - "$T/infer" "$T/predict" "$T/eval" "$T/run1" >>"$T/err" 2>&1 <<'EOF'
import json, sys
infer = [json.loads(l) for l in open(sys.argv[1])]
pred = [json.loads(l) for l in open(sys.argv[2])]
ev = json.load(open(sys.argv[3]))
run = [json.loads(l) for l in open(sys.argv[4])][-1]
assert len(infer) == len(pred) == 12
worst = 0
for a, b in zip(infer, pred):
    pa = {t["label"]: t["score"] for t in a["top"]}
    pb = {t["label"]: t["probability"] for t in b["top"]}
    assert set(pa) == set(pb) == {"ants", "bees"}, (pa, pb)
    worst = max(worst, max(abs(pa[k] - pb[k]) for k in pa))
assert worst <= 1e-4, worst
assert abs(ev["accuracy"] - run["val_accuracy"]) < 1e-6, (ev["accuracy"], run["val_accuracy"])
print("max |infer - predict| =", worst)
EOF
check "infer names the classes; predict (cut -> top) and infer agree within 1e-4; eval = the run's val accuracy" $?

# kill -9 during training, then --resume: the same classifier, bit for bit
RUN="$FC finetune $D $ARGS --views orig,flip --epochs 6 --seed 3 --json"
$RUN -o "$T/a.onnx" >"$T/runa" 2>"$T/err"; rc=$?
kill_at_epoch 2 "$T/runb" $RUN -o "$T/b.onnx"; killed=$?
$RUN --resume -o "$T/b.onnx" >"$T/runb2" 2>>"$T/err"; rc2=$?
from=$(json_field resumed_from "$T/runb2")
[ $rc -eq 0 ] && [ $killed -eq 0 ] && [ $rc2 -eq 0 ] && [ "${from:-0}" -ge 2 ] && [ ! -f "$T/b.onnx.head.tmp" ] &&
    cmp -s "$T/a.onnx" "$T/b.onnx"
check "kill -9 after epoch ${from:-?}, then --resume: the classifier equals an uninterrupted run's bit for bit" $?
[ -z "$(ls "$C/finetune/" 2>/dev/null)" ]; check "a finished run leaves no checkpoint behind" $?

# errors, each naming the tensor or the class
"$FC" finetune "$D" $ARGS --cut t68 -o "$T/x.onnx" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "'t68' is not a cut" "$T/err"; check "a cut inside a residual block is refused, naming it" $?
"$FC" finetune "$D" $ARGS --cut pooled -o "$T/x.onnx" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "pooled" "$T/err" && grep -q "is the feature tensor itself" "$T/err"
check "a cut at the feature tensor is refused" $?
"$FC" finetune "$D" $ARGS --cut no_such_tensor -o "$T/x.onnx" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "no tensor named 'no_such_tensor'" "$T/err"; check "an unknown cut tensor is named" $?
mkdir -p "$T/onlyants/train" "$T/onlyants/val"
cp -r "$D/train/ants" "$T/onlyants/train/" && cp -r "$D/val/ants" "$D/val/bees" "$T/onlyants/val/"
"$FC" finetune "$T/onlyants" $ARGS -o "$T/x.onnx" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "class 'bees' has no training item" "$T/err"
check "a class without a training item is named" $?
"$FC" finetune "$D" $ARGS --lr 1e30 --no-lp --epochs 4 -o "$T/x.onnx" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -Eq "the loss is (NaN|infinite) at epoch [0-9]+ step [0-9]+" "$T/err" &&
    grep -q "checkpoint of epoch [0-9]* is kept" "$T/err" && [ -n "$(ls "$C/finetune/")" ] && [ ! -f "$T/x.onnx" ]
check "a diverging loss stops training, keeps the last good checkpoint and writes no classifier" $?
# the precision is part of a run's identity: f32 keeps its own checkpoint beside the default's (one
# file when the default is f32 too), so --resume never continues a run in the other precision
"$FC" finetune "$D" $ARGS --lr 1e30 --no-lp --epochs 4 --precision f32 -o "$T/x.onnx" >/dev/null 2>"$T/err"
n=$(ls "$C/finetune/" | wc -l)
[ "$n" -eq "$([ $auto = bf16 ] && echo 2 || echo 1)" ]
check "the checkpoint of an f32 run is not the $auto run's ($n checkpoint files)" $?

# the report of the first run: recorded metrics and the training curves, nothing refitted
run=$(json_field run "$T/run1")
"$FC" report "$run" --cache "$C" -o "$T/report.html" >"$T/err" 2>&1; rc=$?
[ $rc -eq 0 ] && grep -q '<section id="training">' "$T/report.html" && grep -q '<section id="confusion">' "$T/report.html" &&
    [ "$(grep -c '<polyline' "$T/report.html")" -eq 4 ]
check "report of a fine-tuning run: metrics from the record, accuracy and loss curves per epoch" $?
