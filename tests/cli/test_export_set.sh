#!/bin/sh
# An export is a set (issue 13 point 5): features.npy, labels.txt, paths.txt, splits.txt of one run
# only, with manifest.json (rows, layer, each file's bytes and SHA-256). Tiny model, two layers
# (gap: 24 x 16, fmap: 24 x 4096) exported in turn into the same folder. Kills at exact moments
# through the test hook (FEATCACHE_TEST_PAUSE, FIFOs: no sleeping and hoping): killed with the new
# set written but not in place, the folder still holds the old set whole; into a folder with other
# files (the files renamed in one by one) killed after the first file, the folder has no
# manifest.json, so a reader knows it is no set. Then 20 SIGKILLs at random moments of exports
# alternating the layers: after each, the folder is one complete set (manifest matches every file,
# features bitwise those of the layer it names), and no hidden folder is left once an export ends.
NAME=export_set; . "$(dirname "$0")/../support/common.sh"
need_python "numpy, onnx, PIL" "python3 with numpy, onnx and PIL not installed"
cd "$T" || exit 1
$PY "$FX" model m.onnx && $PY "$FX" images set/a 12 1 && $PY "$FX" images set/b 12 2 || { bad "fixtures"; exit 0; }
"$FC" extract set --model m.onnx --layer gap --layer fmap --cache c --quiet 2>/dev/null
for l in gap fmap; do "$FC" export set --model m.onnx --layer $l --cache c -o ref_$l 2>/dev/null; done
# is_set DIR [LAYER]: DIR holds one complete set (manifest.json matches every file it lists, its
# features are those of ref_LAYER); prints the layer
is_set() {
    $PY - "$1" "${2:-}" <<'EOF'
import hashlib, json, os, sys
d, want = sys.argv[1], sys.argv[2]
try:
    m = json.load(open(os.path.join(d, "manifest.json")))
except Exception as e:
    print("no manifest: %s" % e); sys.exit(1)
for n, f in m["files"].items():
    b = open(os.path.join(d, n), "rb").read()
    if len(b) != f["bytes"] or hashlib.sha256(b).hexdigest() != f["sha256"]:
        print("%s does not match the manifest" % n); sys.exit(1)
if sorted(m["files"]) != ["features.npy", "labels.txt", "paths.txt", "splits.txt"] or (want and m["layer"] != want):
    print("files %s, layer %s" % (sorted(m["files"]), m["layer"])); sys.exit(1)
for n in m["files"]:
    if open(os.path.join(d, n), "rb").read() != open(os.path.join("ref_" + m["layer"], n), "rb").read():
        print("%s is not the %s export's" % (n, m["layer"])); sys.exit(1)
print(m["layer"])
EOF
}
hidden() { ls -a | grep -c '\.export-'; }
mkdir h && mkfifo h/export-written.reached h/export-written.go h/export-file.reached h/export-file.go
# killed_at POINT LAYER DIR: an export of LAYER into DIR killed when it reaches POINT
killed_at() {
    FEATCACHE_TEST_PAUSE=$1:$T/h "$FC" export set --model m.onnx --layer $2 --cache c -o $3 2>/dev/null &
    pid=$!
    reached=$(timeout 60 cat h/$1.reached)
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    [ "$reached" = "$pid" ]
}

"$FC" export set --model m.onnx --layer gap --cache c -o out 2>"$T/err" && [ "$(is_set out gap)" = gap ]
check "export writes the set with manifest.json (rows, layer, each file's bytes and SHA-256)" $?

killed_at export-written fmap out && [ "$(is_set out gap)" = gap ] && [ "$(hidden)" -eq 1 ]
check "killed with the new set written but not in place: the folder still holds the old set, whole" $?
"$FC" export set --model m.onnx --layer fmap --cache c -o out 2>"$T/err" && [ "$(is_set out fmap)" = fmap ] &&
    [ "$(hidden)" -eq 0 ]
check "the next export replaces the set as one and removes the killed one's hidden folder" $?

mkdir mixed && echo mine >mixed/notes.txt
"$FC" export set --model m.onnx --layer gap --cache c -o mixed 2>/dev/null
killed_at export-file fmap mixed && [ ! -e mixed/manifest.json ] && ! is_set mixed >/dev/null &&
    [ "$(cat mixed/notes.txt)" = mine ]
check "into a folder with other files, killed after the first file: no manifest.json (no set), its files kept" $?
"$FC" export set --model m.onnx --layer fmap --cache c -o mixed 2>"$T/err" && [ "$(is_set mixed fmap)" = fmap ] &&
    [ "$(cat mixed/notes.txt)" = mine ] && [ "$(hidden)" -eq 0 ]
check "the rerun puts the whole set and its manifest in place beside the folder's other files" $?

# ---- SIGKILLs at random moments ----
t0=$(date +%s%N)
"$FC" export set --model m.onnx --layer fmap --cache c -o rnd 2>/dev/null
t=$(( ($(date +%s%N) - t0) / 1000 )) # microseconds of one export
seed=${FEATCACHE_CRASH_SEED:-$$}
kills=0 wrong=""
for i in $(seq 1 20); do
    l=gap; [ $((i % 2)) -eq 0 ] && l=fmap
    at=$(awk -v s="$seed" -v i="$i" -v t="$t" 'BEGIN { srand(s * 100 + i); printf "%.4f", rand() * 1.2 * t / 1e6 }')
    $KILLABLE "$FC" export set --model m.onnx --layer $l --cache c -o rnd 2>/dev/null &
    pid=$!
    sleep "$at"
    kill -9 $pid 2>/dev/null && kills=$((kills + 1))
    wait $pid 2>/dev/null
    got=$(is_set rnd) || wrong="$wrong $i($got)"
done
"$FC" export set --model m.onnx --layer gap --cache c -o rnd 2>/dev/null
[ -z "$wrong" ] && [ "$(is_set rnd gap)" = gap ] && [ "$(hidden)" -eq 0 ]
check "20 exports killed at random moments ($kills before their end; seed $seed): always one complete set${wrong:+; not after:$wrong}" $?
exit 0
