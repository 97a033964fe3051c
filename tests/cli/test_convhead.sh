#!/bin/sh
# CLI checks of `featcache train --head conv` on a small ants/bees subset at --size 96 with
# MobileNetV2's t93 (32x12x12, the 28x28 stage at input 224): usage errors (conv options with
# another head, a bad --conv, a schedule it does not take, k-fold); a map of the wrong rank; a run
# with --views orig,flip and its JSON lines; a second run computes no map; the classifier (image ->
# probabilities, declared at the trained size, inference BatchNormalization) and the head-only file
# (map -> probabilities) give the same probabilities through infer, predict (cached and uncached
# images) and eval (= the run's val accuracy), export-onnx of the head-only file is the classifier,
# and ONNX Runtime agrees when it is installed; the
# data set by its catalog name; kill -9 and --resume give the same classifier bit for bit; sweep
# over conv= and epochs=; the report's curves.
NAME=convhead; . "$(dirname "$0")/../support/common.sh"

"$FC" train --help >"$T/help" 2>&1; rc=$?
[ $rc -eq 0 ] && grep -q -- "--conv SPEC" "$T/help" && grep -q -- "--head-output" "$T/help" && grep -q "onecycle" "$T/help"
check "train --help describes conv heads" $?
"$FC" train ds --model m.onnx --conv 64 >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 64 ] && grep -q "are for --head conv" "$T/err"; check "--conv without --head conv exits 64" $?
"$FC" train ds --model m.onnx --head conv --conv 64s3 >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 64 ] && grep -q "conv blocks '64s3'" "$T/err"; check "a bad --conv is named (exit 64)" $?
"$FC" train ds --model m.onnx --head conv --schedule constant >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 64 ] && grep -q "onecycle or cosine" "$T/err"; check "--schedule constant is refused for conv heads (exit 64)" $?
"$FC" train ds --model m.onnx --head conv --split kfold:5 >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 64 ] && grep -q "not kfold" "$T/err"; check "conv heads refuse a k-fold split (exit 64)" $?
"$FC" train ds --model m.onnx --precision bf16 >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 64 ] && grep -q "are for --head conv" "$T/err"; check "--precision without --head conv exits 64" $?
"$FC" train ds --model m.onnx --head conv --balanced >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 64 ] && grep -q "not for conv heads" "$T/err"; check "conv heads refuse --balanced (exit 64)" $?

need_shared data/hymenoptera "ants/bees"
need_shared models "MobileNetV2"
M="$SHARED/models/mobilenet_v2_1.0_224.onnx"
D="$T/ab"
ab_subset "$D" 12 6
C="$T/cache"
ARGS="--model $M --layer t93 --size 96 --threads 2 --batch 8 --cache $C --head conv --conv 16,16s2"

"$FC" train "$D" --model "$M" --layer pooled --size 96 --cache "$C" --head conv -o "$T/x.onnx" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "'pooled' has 1 dimensions per image: a conv head needs a map (C, H, W)" "$T/err"
check "a feature of rank 1 is refused, pointing at featcache cuts" $?

"$FC" train "$D" $ARGS --views orig,flip --epochs 3 --json -o "$T/c.onnx" >"$T/run1" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && $PY - "$T/run1" >"$T/err" 2>&1 <<'EOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
epochs = [l for l in lines if "epoch" in l and "run" not in l]
assert [e["epoch"] for e in epochs] == [0, 1, 2, 3], epochs
assert all(e["steps"] == 3 for e in epochs[1:]) and epochs[0]["loss"] is None, epochs  # 24 items, batches of 8
final = lines[-1]
assert final["head"] == "conv" and final["layer"] == "t93" and final["conv"] == "16,16s2", final
assert final["precision"] in ("f32", "bf16"), final  # auto: bf16 where the CPU has AVX512_BF16
assert final["map_computed"] == 36 and final["train"] == 24 and final["val"] == 12, final
assert final["head_output"].endswith("c.head.onnx") and len(final["result"]["history"]) == 4, final
EOF
check "train --head conv --json: epoch lines 0 to 3, the map computed for 36 items, both files named" $?
"$FC" train "$D" $ARGS --views orig,flip --epochs 1 --json --head-output "$T/h2.onnx" >"$T/run2" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && [ "$(json_field map_computed "$T/run2")" = 0 ] && [ "$(json_field map_cached "$T/run2")" = 36 ] &&
    [ -f "$T/h2.onnx" ]
check "a second run computes no map (36 cached); --head-output alone writes the head-only file" $?

# the files: the same probabilities through every path
"$PY" - "$D" "$T/new.png" <<'EOF'
import sys, glob
from PIL import Image
Image.open(sorted(glob.glob(sys.argv[1] + "/val/ants/*"))[0]).convert("RGB").rotate(90).save(sys.argv[2])
EOF
"$FC" infer --model "$T/c.onnx" --top 2 --json "$D"/val/*/* "$T/new.png" >"$T/infer" 2>"$T/err" &&
    "$FC" predict --head "$T/c.onnx" --cache "$C" --top 2 --json "$D"/val/*/* "$T/new.png" >"$T/pred" 2>>"$T/err" &&
    "$FC" predict --head "$T/c.head.onnx" --cache "$C" --top 2 --json "$D"/val/*/* "$T/new.png" >"$T/predh" 2>>"$T/err" &&
    "$FC" eval ab --head "$T/c.head.onnx" --cache "$C" --json >"$T/eval" 2>>"$T/err"; rc=$?
[ $rc -eq 0 ] && $PY - "$T/infer" "$T/pred" "$T/predh" "$T/eval" "$T/run1" "$T/c.onnx" >>"$T/err" 2>&1 <<'EOF'
import json, sys
import onnx
rows = [[json.loads(l) for l in open(f)] for f in sys.argv[1:4]]
ev = json.load(open(sys.argv[4]))
run = [json.loads(l) for l in open(sys.argv[5])][-1]
assert len(rows[0]) == len(rows[1]) == len(rows[2]) == 13, [len(r) for r in rows]
worst = 0
for a, b, c in zip(*rows):
    pa = {t["label"]: t["score"] for t in a["top"]}
    pb = {t["label"]: t["probability"] for t in b["top"]}
    pc = {t["label"]: t["probability"] for t in c["top"]}
    assert set(pa) == set(pb) == set(pc) == {"ants", "bees"}, (pa, pb, pc)
    worst = max([worst] + [abs(pa[k] - p[k]) for k in pa for p in (pb, pc)])
assert worst <= 1e-4, worst
assert abs(ev["accuracy"] - run["val_accuracy"]) < 1e-6, (ev["accuracy"], run["val_accuracy"])
m = onnx.load(sys.argv[6])
dims = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
ops = [n.op_type for n in m.graph.node]
assert dims[1:] == [3, 96, 96] and ops.count("BatchNormalization") == 2 and ops[-2:] == ["Gemm", "Softmax"], (dims, ops[-8:])
print("max |infer - predict| =", worst)
EOF
check "classifier (infer), classifier and head-only file (predict, cached and not) agree within 1e-4; eval = the run" $?
"$FC" export-onnx --model "$M" --head "$T/c.head.onnx" -o "$T/e.onnx" >"$T/err" 2>&1 && cmp -s "$T/c.onnx" "$T/e.onnx"
check "export-onnx of the head-only file writes the same classifier bit for bit" $?
if [ -d build/ort/node_modules/onnxruntime-node ] && command -v node >/dev/null; then
    $PY - "$D" "$T/in.npy" <<'EOF'
import sys, glob
import numpy as np
from PIL import Image
xs = [np.asarray(Image.open(f).convert("RGB").resize((96, 96), Image.BILINEAR), dtype=np.float32) / 127.5 - 1
      for f in sorted(glob.glob(sys.argv[1] + "/val/*/*"))[:4]]
np.save(sys.argv[2], np.stack(xs).transpose(0, 3, 1, 2).astype(np.float32))
EOF
    bash scripts/ort_check_classifier.sh "$T/c.onnx" "$T/in.npy" >"$T/err" 2>&1
    check "ONNX Runtime runs the classifier: $(grep -o 'max |diff|.*' "$T/err" | head -1)" $?
else
    echo "SKIP $NAME: ONNX Runtime is not installed in build/ort (scripts/ort/install.sh)"
fi

# the data set by its catalog name: the map is found in the cache
"$FC" train ab $ARGS --epochs 1 --json >"$T/byname" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && [ "$(json_field map_cached "$T/byname")" = 36 ]; check "DATASET as the catalog's name (ab)" $?
"$FC" train nosuch $ARGS --epochs 1 >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "no data set 'nosuch'" "$T/err"; check "an unknown data set is named" $?

# kill -9 during training, then --resume: the same classifier, bit for bit
RUN="$FC train $D $ARGS --views orig,flip --epochs 6 --seed 3 --json"
$RUN -o "$T/a.onnx" >"$T/runa" 2>"$T/err"; rc=$?
kill_at_epoch 2 "$T/runb" $RUN -o "$T/b.onnx"; killed=$?
$RUN --resume -o "$T/b.onnx" >"$T/runb2" 2>>"$T/err"; rc2=$?
from=$(json_field resumed_from "$T/runb2")
[ $rc -eq 0 ] && [ $killed -eq 0 ] && [ $rc2 -eq 0 ] && [ "${from:-0}" -ge 2 ] && cmp -s "$T/a.onnx" "$T/b.onnx" &&
    cmp -s "$T/a.head.onnx" "$T/b.head.onnx"
check "kill -9 after epoch ${from:-?}, then --resume: both files equal an uninterrupted run's bit for bit" $?
[ -z "$(ls "$C/finetune/" 2>/dev/null)" ]; check "a finished run leaves no checkpoint behind" $?

# sweep over the blocks and the epochs (maps from the cache, in memory)
"$FC" sweep ab --model "$M" --layer t93 --size 96 --cache "$C" --views orig,flip --grid 'head=conv conv=8+8s2,16 epochs=1,2 batch=8' \
    --json >"$T/sweep" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && $PY - "$T/sweep" >>"$T/err" 2>&1 <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["configs"] == 4 and all("val_accuracy" in r for r in j["results"]), j
assert {r["config"].split(" lr=")[0] for r in j["results"]} == {"conv 8,8s2", "conv 16"}, j
acc = [r["val_accuracy"] for r in j["results"]]
assert acc == sorted(acc, reverse=True), acc
EOF
check "sweep --grid 'head=conv conv=8+8s2,16 epochs=1,2': four conv heads, ranked" $?

# the report of the first run: recorded metrics and the training curves, nothing retrained
run=$(json_field run "$T/run1")
"$FC" report "$run" --cache "$C" -o "$T/report.html" >"$T/err" 2>&1; rc=$?
[ $rc -eq 0 ] && grep -q '<section id="training">' "$T/report.html" && grep -q "16,16s2" "$T/report.html" &&
    [ "$(grep -c '<polyline' "$T/report.html")" -eq 4 ]
check "report of a conv-head run: its blocks, metrics from the record, accuracy and loss curves per epoch" $?
first=$(json_field first_run "$T/sweep")
"$FC" report "$first" --cache "$C" -o "$T/sweep.html" >"$T/err" 2>&1; rc=$?
[ $rc -eq 0 ] && grep -q "conv 16" "$T/sweep.html"; check "report of the conv sweep (its best from the record)" $?
