#!/bin/sh
# The extractor fingerprint covers every byte the features depend on (issue 13 point 3), with the
# tiny test model: a model whose weights live in an external data file gives features bitwise
# those of the same model inline, and a change to that file alone (the .onnx untouched, so its size
# and mtime too) gives a new extractor whose features are computed again; a crop that six decimals
# do not name is its own extractor; the id is the SHA-256 of its description (decoders and EXIF
# handling included); the extract run records
# the kernel level. A model rewritten in place with its size and mtime kept (so the catalog's facts
# name its old bytes) is refused when an image must be computed, and hashed again the next time. A head whose backbone changed is refused by predict (an image it must compute),
# eval (a data set extracted only with the changed file) and export-onnx, naming both fingerprints,
# and runs with --force.
NAME=fingerprint; . "$(dirname "$0")/../support/common.sh"
need_python "numpy, onnx, PIL" "python3 with numpy, onnx and PIL not installed"
cd "$T" || exit 1
$PY "$FX" model m.onnx && $PY "$FX" images set/a 8 1 && $PY "$FX" images set/b 8 2 && $PY "$FX" images new 1 3 ||
    { bad "fixtures"; exit 0; }
mkdir ext && $PY - <<'EOF' || { bad "external data model"; exit 0; }
import onnx
m = onnx.load("m.onnx")
onnx.save_model(m, "ext/m.onnx", save_as_external_data=True, all_tensors_to_one_file=True, location="m.data",
                size_threshold=0)
EOF
# flip_data: one weight of ext/m.data changed, its size kept and ext/m.onnx untouched
flip_data() {
    $PY -c "
b = bytearray(open('ext/m.data', 'rb').read()); b[2] ^= 0x40; open('ext/m.data', 'wb').write(b)"
}
id_of() { sed -n 's/.*"extractor":"\([0-9a-f]*\)".*/\1/p' "$1"; }

# ---- the ids: an inline model is named by its file's SHA-256; external data counts ----
"$FC" extract set --model m.onnx --layer gap --cache c --json >inline.json 2>"$T/err"
sha=$(sha256sum m.onnx | cut -c1-64)
# the decoders line as the run recorded it (libjpeg-turbo's and libwebp's versions)
dec=$($PY -c "import json, sqlite3, sys; print(json.loads(sqlite3.connect(sys.argv[1]).execute(\"SELECT params FROM runs WHERE kind = 'extract'\").fetchone()[0])['decoders'])" c/catalog.sqlite)
want=$(printf 'featcache-extractor/2\nmodel=%s\nlayer=gap\nsize=32x32\ncrop=1.000000\npreprocess=tf\ndtype=f32\ndecoders=%s\nexif=apply\n' \
    "$sha" "$dec" | sha256sum | cut -c1-64)
[ "$(id_of inline.json)" = "$want" ]
check "a model without data files: the extractor id is the SHA-256 of its description (model = the file's SHA-256; $dec)" $?

"$FC" extract set --model ext/m.onnx --layer gap --cache c --json >ext1.json 2>"$T/err" &&
    "$FC" export set --model m.onnx --layer gap --cache c -o x_inline 2>/dev/null &&
    "$FC" export set --model ext/m.onnx --layer gap --cache c -o x_ext1 2>/dev/null &&
    cmp -s x_inline/features.npy x_ext1/features.npy && [ "$(id_of ext1.json)" != "$want" ]
check "the same weights in an external data file: the same features, under a fingerprint that covers that file" $?

"$FC" train set --model ext/m.onnx --layer gap --cache c -o head.onnx >/dev/null 2>"$T/err"
"$FC" predict --model ext/m.onnx --head head.onnx --cache c new/img000.jpg >pred1 2>"$T/err"
check "train and predict on the external-data model" $?
flip_data
"$FC" extract set --model ext/m.onnx --layer gap --cache c --json >ext2.json 2>"$T/err"
[ "$(json_field computed ext2.json)" = 16 ] && [ "$(id_of ext2.json)" != "$(id_of ext1.json)" ] &&
    "$FC" export set --model ext/m.onnx --layer gap --cache c -o x_ext2 2>/dev/null &&
    ! cmp -s x_ext1/features.npy x_ext2/features.npy
check "only the data file changed (the .onnx untouched): a new extractor, all 16 features computed again" $?

# ---- heads on a changed backbone ----
"$FC" predict --model ext/m.onnx --head head.onnx --cache c new/img000.jpg >out 2>"$T/err"
[ $? -eq 1 ] && grep -q "backbone changed under the head" "$T/err" && grep -q "ext/m.onnx" "$T/err" && [ "$(grep -o 'fingerprint [0-9a-f]\{12\}' "$T/err" | sort -u | wc -l)" -eq 2 ]
check "predict refuses a head whose backbone changed for an image it must compute, naming the file and both fingerprints" $?
"$FC" predict --model ext/m.onnx --head head.onnx --cache c set/a/img001.jpg >out 2>"$T/err"
check "predict of a cached image still uses the head's own cached features (no backbone needed)" $?
"$FC" predict --model ext/m.onnx --head head.onnx --cache c --force new/img000.jpg >out 2>"$T/err"
[ $? -eq 0 ] && grep -q "^featcache predict: --force: head.onnx runs on ext/m.onnx" "$T/err" && [ -s out ]
check "predict --force runs it on the changed backbone and says so" $?

cp -r set set2
"$FC" extract set2 --model ext/m.onnx --layer gap --cache c --quiet 2>/dev/null
"$FC" eval set2 --head head.onnx --split all --cache c >out 2>"$T/err"
[ $? -eq 1 ] && grep -q "data set 'set2' was extracted with ext/m.onnx" "$T/err" &&
    [ "$(grep -o 'fingerprint [0-9a-f]\{12\}' "$T/err" | sort -u | wc -l)" -eq 2 ]
check "eval refuses a head on a data set extracted only with its changed backbone, naming both fingerprints" $?
"$FC" eval set2 --head head.onnx --split all --cache c --force >out 2>"$T/err"
[ $? -eq 0 ] && grep -q "accuracy" out && grep -q "^featcache eval: --force" "$T/err"
check "eval --force evaluates it on the changed backbone's features" $?
"$FC" eval set --head head.onnx --split all --cache c >out 2>"$T/err"
check "eval on the data set extracted with the head's own backbone still works" $?

"$FC" export-onnx --model ext/m.onnx --head head.onnx -o cls.onnx >out 2>"$T/err"
[ $? -eq 1 ] && grep -q "not the model the head was trained on.*fingerprint" "$T/err"
check "export-onnx refuses the changed backbone (fingerprint with its data file)" $?

# ---- crop bits, kernel level ----
"$FC" extract set --model m.onnx --layer gap --crop 0.875 --cache c --json >c1.json 2>/dev/null
"$FC" extract set --model m.onnx --layer gap --crop 0.8750001 --cache c --json >c2.json 2>/dev/null
[ "$(id_of c1.json)" != "$(id_of c2.json)" ] && [ "$(json_field computed c2.json)" = 16 ]
check "--crop 0.8750001 (another float than 0.875) is another extractor" $?
$PY - c/catalog.sqlite <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = [r[0] for r in db.execute("SELECT params FROM runs WHERE kind = 'extract'")]
sys.exit(0 if rows and all('"isa":"' in p for p in rows) else 1)
EOF
check "every extract run records the kernel level that computed its features" $?

# ---- an inline model rewritten with its size and mtime kept: the catalog's facts name other bytes ----
cp m.onnx r.onnx && touch -r r.onnx stamp
"$FC" extract set --model r.onnx --layer gap --cache cr --json >r1.json 2>"$T/err" || bad "extract with r.onnx"
# one weight's low bits changed in place (the protobuf stays valid, the size the same), the mtime restored
$PY - <<'EOF2' && touch -r stamp r.onnx || bad "rewrite r.onnx"
import onnx
from onnx import numpy_helper
b = bytearray(open("r.onnx", "rb").read())
w = max(onnx.load("r.onnx").graph.initializer, key=lambda t: len(t.raw_data)).raw_data
at = b.find(w)
assert at > 0 and len(w) >= 8
b[at + 4] ^= 0x01
open("r.onnx", "wb").write(b)
EOF2
"$FC" extract new --model r.onnx --layer gap --cache cr --json >r2.json 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && grep -q "r.onnx: the model file changed without its size or modification time changing" "$T/err" &&
    [ "$($PY -c "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM model_files').fetchone()[0])" cr/catalog.sqlite)" = 0 ]
check "a model rewritten with its size and mtime kept: extract of a new image refuses (exit $rc), the catalog forgets its facts" $?
"$FC" extract new --model r.onnx --layer gap --cache cr --json >r3.json 2>"$T/err" &&
    [ "$(json_field computed r3.json)" = 1 ] && [ "$(id_of r3.json)" != "$(id_of r1.json)" ]
check "the next extract hashes the file again: a new extractor, the image computed with the rewritten model" $?
exit 0
