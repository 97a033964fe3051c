#!/bin/sh
# CLI checks of `featcache advise`: usage errors; on a tiny model, a pooled earlier layer stored as
# its own extractor (avgpool(fmap) probes as the model's own global average pool), a second advise
# computes nothing, the JSON contract (recommendation, command, evidence), the report page, clear
# errors for an unknown layer, missing labels and too few items. Then the acceptance cases with
# MobileNetV2 at --size 96: ants/bees -> a head on the final features (and that command runs);
# Fashion-MNIST with 10 images per class -> collect more data; Fashion-MNIST with 3500 training
# images -> the big-data row, a fine-tuning or conv-head command (5000/5000 gives partial reuse:
# train --head conv --layer t140; running it is a measurement too slow for this test).
NAME=advise; . "$(dirname "$0")/../support/common.sh"

"$FC" advise --help >"$T/help" 2>&1; rc=$?
[ $rc -eq 0 ] && grep -q "^usage: featcache advise" "$T/help" && grep -q -- "--layers" "$T/help"
check "advise --help" $?
"$FC" --help | grep -q "^  advise "; check "advise is listed in featcache --help" $?
"$FC" advise ds >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 64 ] && grep -q -- "--model is required" "$T/err"; check "advise without --model exits 64" $?
"$FC" advise ds --model m.onnx --folds 1 >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 64 ] && grep -q -- "--folds" "$T/err"; check "advise --folds 1 exits 64" $?
"$FC" advise ds --model m.onnx --dtype f16 >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 64 ]; check "advise takes no --dtype (exit 64)" $?

need_python "numpy, PIL, onnx" "python3 with numpy, PIL and onnx is needed for the fixtures"
$PY "$FX" model "$T/tiny.onnx" || { bad "tiny model fixture"; exit 0; }
for c in a b; do $PY "$FX" images "$T/tiny/$c" 12 $([ $c = a ] && echo 1 || echo 2); done
C="$T/c1"
"$FC" advise "$T/tiny" --model "$T/tiny.onnx" --layers fmap --folds 3 --cache "$C" --json >"$T/j1" 2>"$T/e1"; rc=$?
[ $rc -eq 0 ] && tail -1 "$T/j1" | $PY -c '
import json, sys
j = json.loads(sys.stdin.read())
assert j["recommendation"] in ("head", "finetune", "partial", "more-data", "scratch"), j
assert j["command"].startswith("featcache "), j
e = j["evidence"]
assert e["items"] == 24 and e["classes"] == 2 and e["folds"] == 3 and e["per_class_min"] == 12, e
names = [(l["name"], l["pooled"], l["dim"]) for l in e["layers"]]
assert names == [("fmap", True, 16), ("gap", False, 16)], names
# the pooled map is the model s own global average pool (gap): the same probe, up to an item of rounding
assert abs(e["layers"][0]["accuracy"] - e["layers"][1]["accuracy"]) <= 1 / 24 + 1e-9, e
assert [c["fraction"] for c in e["curve"]] == [0.25, 0.5, 1], e
' 2>"$T/err"
check "advise --json on a tiny model: contract fields, fmap average-pooled to 16 values" $?
"$FC" ls --cache "$C" >"$T/ls" 2>&1 && grep -q "layer avgpool(fmap) (16)" "$T/ls" && grep -q "layer gap (16)" "$T/ls"
check "the pooled layer is its own extractor (ls: avgpool(fmap))" $?
"$FC" advise "$T/tiny" --model "$T/tiny.onnx" --layers fmap --folds 3 --cache "$C" --json >"$T/j2" 2>"$T/e2"; rc=$?
[ $rc -eq 0 ] && grep -q "(0 computed, 24 cached" "$T/e2" && [ "$(tail -1 "$T/j1" | sed 's/"run":[0-9]*//')" = "$(tail -1 "$T/j2" | sed 's/"run":[0-9]*//')" ]
check "a second advise computes nothing and says the same" $?
run=$(json_field run "$T/j2")
"$FC" report "$run" --cache "$C" -o "$T/advice.html" >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && grep -q "Advice: " "$T/advice.html" && [ "$(grep -c "<svg " "$T/advice.html")" = 2 ] &&
    grep -q "k-fold accuracy vs layer" "$T/advice.html" && grep -q 'class="l mark"' "$T/advice.html"
check "report RUN draws the advice: the table with its cell, probe and learning curve charts" $?
"$FC" advise "$T/tiny" --model "$T/tiny.onnx" --layers fmap,nope --cache "$C" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "unknown layer 'nope'" "$T/err"; check "advise names an unknown layer (exit 1)" $?
mkdir -p "$T/flat" && cp "$T"/tiny/a/* "$T/flat/"
"$FC" advise "$T/flat" --model "$T/tiny.onnx" --cache "$C" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "has no label" "$T/err"; check "advise on unlabeled images: missing labels (exit 1)" $?
for c in a b; do mkdir -p "$T/few/$c" && cp $(ls "$T"/tiny/$c/* | head -4) "$T/few/$c/"; done
"$FC" advise "$T/few" --model "$T/tiny.onnx" --folds 2 --cache "$C" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "too few items" "$T/err"; check "advise with 4 images per class: too few items (exit 1)" $?

need_shared data/hymenoptera "ants/bees"
need_shared models "MobileNetV2"
M="$(cd "$SHARED/models" && pwd)/mobilenet_v2_1.0_224.onnx" # absolute: the advised command runs in $T
AB="$(cd "$SHARED/data/hymenoptera" && pwd)"
C="$T/c2"
# decision: ant/bee photos are ImageNet's own kind: the feature tensor probes best -> a head
"$FC" advise "$AB" --model "$M" --size 96 --cache "$C" --json >"$T/ab" 2>"$T/err"; rc=$?
cmd=$(tail -1 "$T/ab" | $PY -c 'import json, sys; j = json.loads(sys.stdin.read()); print(j["command"] if j["recommendation"] == "head" and j["cell"] == {"data": "small", "domain": "similar"} else "")')
[ $rc -eq 0 ] && case "$cmd" in "featcache train "*"--head softmax"*"-o head.onnx") true ;; *) false ;; esac
check "ants/bees -> train a head on the final features ($cmd)" $?
(cd "$T" && eval "$FC${cmd#featcache}") >"$T/out" 2>"$T/err" && [ -s "$T/head.onnx" ] && grep -q "val      accuracy" "$T/out"
check "the advised train command runs from the cache" $?

[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || {
    echo "SKIP $NAME: Fashion-MNIST cases: dataset-fashion-mnist is not installed"; exit 0; }
bash scripts/fashion_mnist.sh "$T/fmsrc" --limit 3500 >/dev/null 2>"$T/err" || { bad "fashion_mnist.sh"; exit 0; }
for c in "$T"/fmsrc/train/*; do
    mkdir -p "$T/fm10/${c##*/}" && cp $(ls "$c"/*.png | head -10) "$T/fm10/${c##*/}/"
done
"$FC" advise "$T/fm10" --model "$M" --size 96 --cache "$C" --json >"$T/fm10.json" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && tail -1 "$T/fm10.json" | $PY -c '
import json, sys
j = json.loads(sys.stdin.read())
assert j["recommendation"] == "more-data" and j["cell"] == {"data": "small", "domain": "different"}, j
assert j["command"].startswith("featcache advise ") and j["evidence"]["per_class_median"] == 10, j
acc = {l["name"]: l["accuracy"] for l in j["evidence"]["layers"]}
assert max(acc["t93"], acc["t140"], acc["t166"]) > acc["pooled"], acc
' 2>"$T/err"
check "Fashion-MNIST, 10 per class -> collect more data (an earlier layer probes better)" $?
"$FC" advise "$T/fmsrc/train" --model "$M" --size 96 --layers t140 --cache "$C" --json >"$T/fm.json" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && tail -1 "$T/fm.json" | $PY -c '
import json, sys
j = json.loads(sys.stdin.read())
assert j["recommendation"] in ("finetune", "partial") and j["cell"]["data"] == "big", j
c = j["command"]
assert (c.startswith("featcache finetune ") and " --cut t1" in c) or \
       (j["recommendation"] == "partial" and c.startswith("featcache train ") and " --layer t1" in c and " --head conv" in c), j
' 2>"$T/err"
check "Fashion-MNIST, 3500 training images -> big data, a fine-tuning or conv-head command" $?
