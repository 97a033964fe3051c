#!/bin/sh
# A damaged cache through the commands (tiny model, 24 images, two extractors). features.mdb cut
# short: every command refuses with "features.mdb is damaged ... (truncated?)", none dies by a
# signal, predict computes what it cannot read; verify --repair rebuilds the store and extract
# completes it to the clean run's bits. A flipped byte in a stored feature: export and train refuse
# and name the image, extract computes it again (and says so), export then equals the clean run.
# verify runs SQLite's integrity_check and shows its time; a damaged catalog index is found by
# verify, stops gc, and verify --repair rebuilds it; a damaged catalog table is reported as beyond
# repair. Then 20 iterations of scripts/damage_loop.sh (random damage, every command): no signal,
# no hang, no command that succeeds with data other than the clean run's.
NAME=damage; . "$(dirname "$0")/../support/common.sh"
need_python "numpy, onnx, PIL" "python3 with numpy, onnx and PIL not installed"
ROOT=$(pwd)
cd "$T" || exit 1
$PY "$FX" model m.onnx && $PY "$FX" images set/a 12 1 && $PY "$FX" images set/b 12 2 || { bad "fixtures"; exit 1; }
X="--model m.onnx --layer gap"
"$FC" extract set --model m.onnx --layer gap --layer fmap --cache clean --json >ex.json 2>/dev/null
"$FC" train set $X --cache clean -o head.onnx >/dev/null 2>&1
"$FC" export set $X --cache clean -o ref >/dev/null 2>&1
"$FC" predict --head head.onnx --model m.onnx --cache clean set/a/img003.jpg >ref_pred 2>/dev/null
$PY -c "import sqlite3; c = sqlite3.connect('clean/catalog.sqlite'); c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.close()"
[ -s ref/features.npy ] && [ -s ref_pred ] || { bad "clean cache"; exit 1; }
GAP=$(sed -n 's/.*"name":"gap","extractor":"\([0-9a-f]*\)".*/\1/p' ex.json)
fresh() { rm -rf c && cp -r clean c; }
# damage_sql TABLE_OR_INDEX entry|page: flips a byte inside the first entry of its root page, or
# zeroes that page, in c/catalog.sqlite
damage_sql() {
    $PY - "$1" "$2" <<'EOF'
import sqlite3, sys
c = sqlite3.connect("c/catalog.sqlite")
root = c.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (sys.argv[1],)).fetchone()[0]
ps = c.execute("PRAGMA page_size").fetchone()[0]
c.close()
b = bytearray(open("c/catalog.sqlite", "rb").read())
p = (root - 1) * ps
if sys.argv[2] == "page":
    b[p:p + ps] = bytes(ps)
else:
    hdr = 8 if b[p] in (0x0a, 0x0d) else 12  # leaf or interior page header
    cell = b[p + hdr] << 8 | b[p + hdr + 1]
    b[p + cell + 12] ^= 1
open("c/catalog.sqlite", "wb").write(b)
EOF
}
# no_signal RC: PASS unless RC says a signal (128 + n) or a timeout
sig=0
run() { timeout 60 "$FC" "$@"; rc=$?; [ $rc -gt 128 ] || [ $rc -eq 124 ] && sig=$((sig + 1)); return $rc; }

# ---- point 1: features.mdb cut short, then a flipped value ----
fresh
size=$(wc -c <c/features.mdb)
truncate -s $((size / 2)) c/features.mdb
fails=""
for cmd in "ls" "export set $X -o o" "train set $X" "eval set --head head.onnx --split all" "gc" \
    "extract set --model m.onnx --layer gap --layer fmap"; do
    run $cmd --cache c >/dev/null 2>err; rc=$?
    [ $rc -eq 1 ] && grep -q "features.mdb is damaged.*truncated?" err || fails="$fails ${cmd%% *}($rc)"
done
run verify --cache c >out 2>err; rc=$? # a finding, not a failure: exit 2
[ $rc -eq 2 ] && grep -q "features.mdb is damaged.*truncated?" out || fails="$fails verify($rc)"
[ -z "$fails" ] && [ $sig -eq 0 ]
check "features.mdb cut in half: every command refuses, naming the file (truncated?), none killed by a signal" $?
[ -n "$fails" ] && echo "    wrong outcome:$fails"

run predict --head head.onnx --model m.onnx --cache c set/a/img003.jpg >pred 2>err
cmp -s pred ref_pred; check "predict with a damaged cache computes the features and prints the clean run's answer" $?

run verify --repair --cache c >out 2>err; rc=$?
grep -q "features.mdb rebuilt with" out && [ -f c/features.mdb.damaged ] && [ $rc -eq 2 ] &&
    grep -q "featcache extract computes the missing features" out
check "verify --repair rebuilds a cut features.mdb from what it still holds (the damaged file kept aside)" $?
run extract set --model m.onnx --layer gap --layer fmap --cache c >/dev/null 2>&1
run export set $X --cache c -o o >/dev/null 2>&1 && cmp -s o/features.npy ref/features.npy &&
    run verify --cache c >out 2>&1 && grep -q "^clean" out
check "after the rebuild, extract completes the cache: export bitwise the clean run's, verify clean" $?

fresh
item=$(sha256sum set/a/img003.jpg | cut -c1-64)
$PY - "$GAP" "$item" <<'EOF'
import sys
key = bytes.fromhex(sys.argv[1]) + bytes.fromhex(sys.argv[2]) + b"\0\0"
b = bytearray(open("c/features.mdb", "rb").read())
at, n = b.find(key), 0
while at >= 0:  # every copy (older snapshots keep some): the live one is among them
    if b[at + 66:at + 70] == b"FCFT":
        b[at + 66 + 32 + 8] ^= 0x04
        n += 1
    at = b.find(key, at + 1)
open("c/features.mdb", "wb").write(b)
sys.exit(0 if n else 1)
EOF
[ $? -eq 0 ] || bad "no stored value of a/img003.jpg found to damage"
run export set $X --cache c -o o >/dev/null 2>err; rc=$?
[ $rc -eq 1 ] && grep -q "a/img003.jpg" err && grep -q "damaged" err && grep -q "${GAP%${GAP#????????????}}" err
check "a flipped byte in a stored feature: export refuses, naming the image, the extractor and the damage" $?
run train set $X --cache c >/dev/null 2>err; rc=$?
[ $rc -eq 1 ] && grep -q "a/img003.jpg.*damaged" err; check "train refuses the same way" $?
run extract set --model m.onnx --layer gap --layer fmap --cache c >/dev/null 2>err; rc=$?
[ $rc -eq 0 ] && grep -q "1 stored features failed their checksum and were computed again" err
check "extract computes the damaged feature again and says so" $?
run export set $X --cache c -o o >/dev/null 2>&1 && cmp -s o/features.npy ref/features.npy
check "export after that extract: bitwise the clean run's" $?

# ---- point 2: verify runs integrity_check; repair ----
fresh
run verify --cache c >out 2>&1; rc=$?
[ $rc -eq 0 ] && grep -q "catalog checked in [0-9.]* s, SQLite integrity_check included" out
check "verify runs SQLite's integrity_check and shows its time" $?

damage_sql items_sha256 entry # a byte inside the first entry's SHA-256
run verify --cache c >out 2>&1; rc=$?
[ $rc -eq 2 ] && grep -q "SQLite integrity_check" out; check "verify finds a damaged catalog index (exit 2)" $?
run gc --cache c >/dev/null 2>err; rc=$?
[ $rc -eq 1 ] && grep -q "gc deletes nothing" err; check "gc refuses to delete anything while the catalog has problems" $?
run verify --repair --cache c >out 2>&1; rc=$?
[ $rc -eq 0 ] && grep -q "0 problems left" out && grep -q "^clean" out
check "verify --repair rebuilds the index: clean" $?

fresh
damage_sql items page # the table's root page zeroed
run verify --repair --cache c >out 2>err; rc=$?
[ $rc -eq 2 ] && grep -q "cannot repair .*catalog.sqlite" out
check "a damaged catalog table: verify --repair says it cannot repair it and what to do (exit 2)" $?
run export set $X --cache c -o o >/dev/null 2>err; rc=$?
[ $rc -eq 1 ] && grep -q "catalog.sqlite" err; check "export then refuses, naming catalog.sqlite" $?
[ $sig -eq 0 ]; check "no command above was killed by a signal or hung ($sig)" $?

# ---- the random damage loop, short ----
n=20
[ -n "$FEATCACHE_SANITIZE" ] && n=8 && echo "  FEATCACHE_SANITIZE set: $n iterations instead of 20"
cd "$ROOT" || exit 1
sh scripts/damage_loop.sh $n "${FEATCACHE_DAMAGE_SEED:-$$}" >"$T/loop" 2>&1; rc=$?
grep "^total:" "$T/loop" | sed 's/^/  /'
[ $rc -eq 0 ]; check "$n random damages or killed extracts x every command: no signal, no hang, nothing served that differs from the clean run" $?
[ $rc -eq 0 ] || grep -v "^mdb\|^sql" "$T/loop" | head -30 | sed 's/^/    /'
