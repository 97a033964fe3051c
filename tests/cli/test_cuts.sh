#!/bin/sh
# CLI checks of `featcache cuts`: help and usage errors, a model that cannot be read, then on the
# shared MobileNetV2 the table and --json (the inputs of the last 1, 2, 3 blocks are t160, t153,
# t146; shapes, bytes, FLOPs and parameters consistent), --size, and an unknown --layer.
# Prints one PASS/FAIL/SKIP line per check for tests/run.sh.
NAME=cuts; . "$(dirname "$0")/../support/common.sh"

"$FC" cuts --help >"$T/help" 2>&1; rc=$?
[ $rc -eq 0 ] && grep -q "^usage: featcache cuts" "$T/help"; check "cuts --help" $?
"$FC" --help | grep -q "^  cuts "; check "cuts is listed in featcache --help" $?
"$FC" cuts >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 64 ] && grep -q -- "--model is required" "$T/err"; check "cuts without --model exits 64" $?
"$FC" cuts --model m.onnx --size big >/dev/null 2>"$T/err"; [ $? -eq 64 ]; check "cuts rejects a bad --size" $?
"$FC" cuts --model "$T/nope.onnx" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "nope.onnx: cannot open" "$T/err"; check "cuts names a missing model (exit 1)" $?
head -c 1000 /dev/urandom >"$T/garbage.onnx"
"$FC" cuts --model "$T/garbage.onnx" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "garbage.onnx: " "$T/err"; check "cuts names an unreadable model (exit 1)" $?

need_shared models "MobileNetV2 cuts"
M="$SHARED/models/mobilenet_v2_1.0_224.onnx"

"$FC" cuts --model "$M" >"$T/table" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && grep -q "^feature  pooled (input 224x224)" "$T/table" &&
    grep -q "^t146  *160x7x7 .* last 3 blocks$" "$T/table" && grep -q "^t153  *160x7x7 .* last 2 blocks$" "$T/table" &&
    grep -q "^t160  *160x7x7 .* last 1 block$" "$T/table" && [ "$(grep -c ' last [123] block' "$T/table")" -eq 3 ]
check "table marks t146, t153, t160 as the inputs of the last 3, 2, 1 blocks" $?

"$FC" cuts --model "$M" --json >"$T/json" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && $PY - "$T/json" >"$T/err" 2>&1 <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["feature"] == "pooled" and d["size"] == 224 and d["model"].endswith("mobilenet_v2_1.0_224.onnx"), d
cuts = {c["name"]: c for c in d["cuts"]}
marks = {c["name"]: c["block_input"] for c in d["cuts"] if c["block_input"] is not None}
assert marks == {"t146": 3, "t153": 2, "t160": 1}, marks
assert cuts["t146"]["shape"] == [160, 7, 7] and cuts["t146"]["bytes_f16"] == 160 * 49 * 2, cuts["t146"]
# the last 1x1 conv (320 -> 1280, bias) is all that is trainable above t166
assert cuts["t166"]["params_above"] == 320 * 1280 + 1280, cuts["t166"]
prev = None
for c in d["cuts"]:
    n = 1
    for x in c["shape"]:
        n *= x
    assert c["bytes_f32"] == 4 * n and c["bytes_f16"] == 2 * n, c
    assert c["flops_below"] + c["flops_above"] == d["flops"], c
    if prev:
        assert c["flops_below"] >= prev["flops_below"] and c["params_above"] <= prev["params_above"], c
    prev = c
assert "t62" in cuts and "t68" not in cuts, "inside a residual block is no cut"
EOF
check "--json: marks, shapes, bytes, FLOPs and parameters" $?

"$FC" cuts --model "$M" --size 160 --json >"$T/json160" 2>"$T/err"
grep -q '"size":160,' "$T/json160" && grep -q '{"name":"t146","shape":\[160,5,5\],' "$T/json160" &&
    grep -q '"name":"t160",[^}]*"block_input":1}' "$T/json160"
check "--size 160: shapes at 160, same marks" $?

"$FC" cuts --model "$M" --layer t140 --json >"$T/json140" 2>"$T/err"
grep -q '"feature":"t140"' "$T/json140" && ! grep -q '"name":"t146"' "$T/json140"
check "--layer t140: the cuts below it" $?

"$FC" cuts --model "$M" --layer nosuch >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "'nosuch'" "$T/err"; check "unknown --layer names the tensor (exit 1)" $?
