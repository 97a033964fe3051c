#!/bin/sh
# Random damage to a cache, then every command on it: scripts/damage_loop.sh [ITERATIONS [SEED]]
# (default 200 iterations, seed from the clock; FEATCACHE_BIN picks the binary, default build/featcache).
# A long check, not part of `make test` (tests/cli/test_damage.sh runs 20 iterations of it).
# Builds a clean cache of 24 small images with the tiny test model (two extractors: a 16-value
# pooled feature stored inline in LMDB's leaf pages, a 16x16x16 map in overflow pages) and a head,
# records what every command prints on it, then per iteration copies the cache and damages it (one
# of: features.mdb cut short, bits flipped, a page zeroed; the same for catalog.sqlite; or, in 15%
# of the iterations, no damage but an extract of the data set with 8 more images (--name set) killed
# after its first or second batch was committed, through the test hook FEATCACHE_TEST_PAUSE: the data
# set is incomplete until the loop's extract of its original folder), then runs every command that
# reads or writes a cache: ls, verify, export (both extractors), train, sweep, eval, predict, report
# (of the clean cache's train run: what the run recorded, whatever today's data set), gc --dry-run, gc, extract, export again after the extract, advise, finetune
# (from the fmap cut), verify --repair, and extract + export after the repair (infer, bench, cuts
# and export-onnx read no cache). Outcomes: "same" (exit 0, or 3 for extract, with the clean run's
# data; repair: exit 0 or 2), "warned" (exit 3 with the warning that the data set is incomplete;
# verify: exit 0 with that note; report: the clean run's page but for its notes on what differs
# today; its image previews are not compared), "refused" (another non-zero exit with a message),
# "WRONG" (exit 0 with data that differs from the clean run; gc: an export right after it fares
# otherwise than right before it, or gc deletes another count than gc --dry-run said), "SIGNAL"
# (killed by a signal) and "HANG" (over 60 s). Prints a table of fault x command and exits 1 when
# any command was WRONG, SIGNAL or HANG. KEEP=1 keeps the work folder.
set -u
cd "$(dirname "$0")/.." || exit 1
N=${1:-200}
SEED=${2:-$(date +%s)}
FC=${FEATCACHE_BIN:-build/featcache}
case "$FC" in /*) ;; *) FC="$(pwd)/$FC" ;; esac
PY=/usr/bin/python3
FX="$(pwd)/tests/support/make_fixtures.py"
[ -x "$FC" ] || { echo "damage_loop: $FC is not built (make)" >&2; exit 1; }
$PY -c 'import numpy, onnx, PIL' 2>/dev/null || { echo "damage_loop: needs $PY with numpy, onnx, PIL" >&2; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/fc_damage.XXXXXX") || exit 1
[ -n "${KEEP:-}" ] || trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1

# ---- the clean cache and what every command prints on it ----
$PY "$FX" model m.onnx && $PY "$FX" images set/a 12 1 && $PY "$FX" images set/b 12 2 || exit 1
cp -r set set_more && $PY "$FX" images set_more/b/more 8 3 || exit 1
X="--model m.onnx --layer gap"
"$FC" extract set --model m.onnx --layer gap --layer fmap --cache clean --quiet 2>/dev/null
RUN=$("$FC" train set $X --cache clean -o head.onnx 2>/dev/null | sed -n 's/^run #\([0-9]*\) recorded$/\1/p')
[ -n "$RUN" ] || { echo "damage_loop: setup failed" >&2; exit 1; }
# no write-ahead log left beside the catalog: damage to catalog.sqlite is damage to the catalog
$PY -c "import sqlite3; c = sqlite3.connect('clean/catalog.sqlite'); c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.close()"
rm -f clean/catalog.sqlite-wal clean/catalog.sqlite-shm

# run NAME DIR: one command on cache DIR; prints its exit status, its data into out/NAME (what is
# compared with the clean run: times, run numbers and paths of the cache taken out)
CMDS="ls verify export_gap export_fmap train sweep eval predict report gc_dry gc extract export_after advise finetune
      repair export_repaired"
# gc's data is what it leaves: the exports right after it must fare as they did right before it
# (gc may drop what damage made unreferenced, never a feature an export could still use)
run() {
    d=$2 o=out/$1
    rm -rf "$o" && mkdir -p "$o"
    case $1 in
    ls) timeout 60 "$FC" ls --cache "$d" >"$o/data" 2>"$o/err" ;;
    verify) timeout 60 "$FC" verify --cache "$d" >"$o/data" 2>"$o/err" ;;
    export_gap | export_after) timeout 60 "$FC" export set $X --cache "$d" -o "$o/x" >/dev/null 2>"$o/err" ;;
    export_fmap) timeout 60 "$FC" export set --model m.onnx --layer fmap --cache "$d" -o "$o/x" >/dev/null 2>"$o/err" ;;
    train) timeout 60 "$FC" train set $X --cache "$d" -o "$o/h.onnx" >"$o/data" 2>"$o/err" ;;
    sweep) timeout 60 "$FC" sweep set $X --cache "$d" --grid 'head=softmax,ncm l2=0.1,10' >"$o/data" 2>"$o/err" ;;
    report) timeout 60 "$FC" report "$RUN" --cache "$d" -o "$o/r.html" >"$o/data" 2>"$o/err" ;;
    gc_dry) timeout 60 "$FC" gc --dry-run --cache "$d" >"$o/data" 2>"$o/err" ;;
    advise) timeout 60 "$FC" advise set --model m.onnx --cache "$d" >"$o/data" 2>"$o/err" ;;
    finetune) timeout 60 "$FC" finetune set --model m.onnx --cut fmap --epochs 2 --cache "$d" -o "$o/ft.onnx" \
        >"$o/data" 2>"$o/err" ;;
    repair) timeout 60 "$FC" verify --repair --cache "$d" >/dev/null 2>"$o/err" ;;
    export_repaired)
        timeout 60 "$FC" extract set --name set --model m.onnx --layer gap --layer fmap --cache "$d" --quiet \
            >/dev/null 2>"$o/err"
        rc=$?
        if [ $rc -le 128 ] && [ $rc -ne 124 ]; then
            timeout 60 "$FC" export set $X --cache "$d" -o "$o/x" >/dev/null 2>>"$o/err"
        else (exit $rc); fi ;;
    eval) timeout 60 "$FC" eval set --head head.onnx --split all --cache "$d" >"$o/data" 2>"$o/err" ;;
    predict) timeout 60 "$FC" predict --head head.onnx --model m.onnx --cache "$d" set/a/img003.jpg set/b/img007.jpg \
        >"$o/data" 2>"$o/err" ;;
    gc) timeout 60 "$FC" gc --cache "$d" >"$o/data" 2>"$o/err" ;;
    extract) timeout 60 "$FC" extract set --name set --model m.onnx --layer gap --layer fmap --cache "$d" --quiet \
        >/dev/null 2>"$o/err" ;;
    esac
    rc=$?
    sed -i -e 's/[0-9.]* s\b/T s/g' -e 's/runs\? #[0-9]*/run #N/g' -e 's/ *#[0-9]* .*//' -e 's/^cache .*/cache DIR/' \
        -e "s|--cache $d |--cache DIR |" -e 's/report [0-9]* -o/report N -o/' "$o/data" 2>/dev/null
    rm -f "$o/h.onnx" "$o/ft.onnx" # they record their run: their metrics are in data
    if [ -f "$o/r.html" ]; then # a report's notes on what differs today apart, and its previews (today's
        # image files, absent when the catalog cannot say where they are): the rest is what the run recorded
        $PY -c "import re, sys; p = sys.argv[1]; s = open(p).read(); n = re.findall(r'<p class=\"warn\">.*?</p>', s, re.S)
s = re.sub(r'<img [^>]*>|<div class=\"noimg\">[^<]*</div>', '', re.sub(r'<p class=\"warn\">.*?</p>', '', s, flags=re.S))
open(p, 'w').write(s); open(sys.argv[2], 'w').write(''.join(n))" "$o/r.html" "$o/notes"
    fi
    echo $rc
}

mkdir -p ref h && mkfifo h/extract-batch.reached h/extract-batch.go
for c in $CMDS; do
    case $c in export_after | export_repaired) continue ;; esac
    cp -r clean ref/c_$c
    rc=$(run $c ref/c_$c)
    mv out/$c ref/$c
    echo "$rc" >ref/$c/rc
done
cp -r ref/export_gap ref/export_after # after extract: the data of a clean export
rm -rf ref/export_repaired && cp -r ref/export_gap ref/export_repaired # after repair + extract: the same

# ---- iterations ----
rm -f results
i=0
while [ $i -lt "$N" ]; do
    i=$((i + 1))
    rm -rf w && cp -r clean w
    fault=$($PY - "$SEED" "$i" <<'EOF'
import os, random, sys
r = random.Random(int(sys.argv[1]) * 100003 + int(sys.argv[2]))
if r.random() < 0.15:  # no damage: an extract of 8 more images killed after its first or second batch
    print("kill %d" % r.randint(1, 2))
    sys.exit(0)
f = r.choice(["features.mdb", "catalog.sqlite"])
kind = r.choice(["cut", "flip", "page"])
p = "w/" + f
b = bytearray(open(p, "rb").read())
if kind == "cut":
    b = b[:r.randrange(len(b))]
elif kind == "flip":
    for _ in range(r.randint(1, 8)):
        b[r.randrange(len(b))] ^= 1 << r.randrange(8)
else:
    k = r.randrange(len(b) // 4096)
    b[k * 4096:(k + 1) * 4096] = bytes(4096)
open(p, "wb").write(b)
print("%s-%s" % ("mdb" if f == "features.mdb" else "sql", kind))
EOF
)
    case $fault in kill*) # 'set' now stands for set_more (32 images), of which it has 24 or 28
        FEATCACHE_TEST_PAUSE=extract-batch#${fault#kill }:$T/h "$FC" extract set_more --name set --model m.onnx \
            --layer gap --layer fmap --cache w --batch 4 --quiet 2>/dev/null &
        pid=$!
        timeout 60 cat h/extract-batch.reached >/dev/null
        kill -9 $pid 2>/dev/null
        wait $pid 2>/dev/null
        fault=extract-killed ;;
    esac
    for c in $CMDS; do
        rc=$(run $c w)
        r=ref/$c
        if [ "$rc" -eq 124 ]; then o=HANG
        elif [ "$rc" -gt 128 ]; then o=SIGNAL
        elif [ $c = repair ]; then # its data is checked by export_repaired
            if [ "$rc" -eq 0 ] || [ "$rc" -eq 2 ]; then o=same; else o=refused; fi
        elif [ "$rc" -eq 3 ] && [ $c != extract ] && grep -q "warning: data set .* is incomplete" "out/$c/err"; then o=warned
        elif [ "$rc" -eq 0 ] && [ $c = verify ] && grep -q "note: data set .* is incomplete" "out/$c/data"; then o=warned
        elif [ "$rc" -ne 0 ] && ! { [ $c = extract ] && [ "$rc" -eq 3 ]; }; then o=refused
        elif [ $c = extract ] || [ $c = gc_dry ]; then o=same # checked by export_after, by gc
        elif [ $c = gc ]; then
            o=same
            for e in export_gap export_fmap; do
                was=$(awk -v i=$i -v e=$e '$1 == i && $3 == e { print $5 }' results)
                now=$(run $e w)
                if [ "$was" != "$now" ] || { [ "$now" -eq 0 ] && ! diff -r ref/$e out/$e -x err -x rc -x notes >/dev/null 2>&1; }; then
                    o=WRONG
                    echo "    after gc: $e exits $now (before: $was)" >>out/gc/err
                fi
            done
            dry=$(awk -v i=$i '$1 == i && $3 == "gc_dry" { print $5 }' results)
            said=$(sed -n 's/^would delete //p' out/gc_dry/data) did=$(sed -n 's/^deleted //p' out/gc/data)
            if [ "$dry" -eq 0 ] && [ "$said" != "$did" ]; then
                o=WRONG
                echo "    gc --dry-run said '$said', gc '$did'" >>out/gc/err
            fi
        elif diff -r "$r" "out/$c" -x err -x rc -x notes >/dev/null 2>&1; then
            o=same; [ -s "out/$c/notes" ] && o=warned # the recorded data, with a note on what differs today
        else o=WRONG
        fi
        echo "$i $fault $c $o $rc" >>results
        if [ $o != same ] && [ $o != refused ] && [ $o != warned ]; then
            echo "iteration $i ($fault): $c -> $o (exit $rc)"; head -3 "out/$c/err" | sed 's/^/    /'
            diff -r "$r" "out/$c" -x err -x rc -x notes 2>/dev/null | head -6 | sed 's/^/    /'
            mkdir -p "$T/kept" && cp -r w "$T/kept/w$i" 2>/dev/null
        fi
    done
done

# ---- the table ----
echo "damage loop: $N iterations, seed $SEED, $(wc -l <results) commands run"
awk -v list="$CMDS" '{ k = $2 " " $3; n[k]++; c[k, $4]++; f[$2] = 1; t[$4]++ }
END {
    printf "%-14s %-15s %6s %7s %8s %6s %7s %5s\n", "fault", "command", "same", "warned", "refused", "WRONG", "SIGNAL", "HANG"
    nc = split(list, cmds, " ")
    nf = 0; for (x in f) faults[++nf] = x
    for (a = 1; a <= nf; a++) for (b = a + 1; b <= nf; b++) if (faults[b] < faults[a]) { t2 = faults[a]; faults[a] = faults[b]; faults[b] = t2 }
    for (a = 1; a <= nf; a++) for (j = 1; j <= nc; j++) { k = faults[a] " " cmds[j]; if (!n[k]) continue
        printf "%-14s %-15s %6d %7d %8d %6d %7d %5d\n", faults[a], cmds[j], c[k, "same"], c[k, "warned"], c[k, "refused"], c[k, "WRONG"], c[k, "SIGNAL"], c[k, "HANG"] }
    printf "total: %d same, %d warned, %d refused, %d WRONG, %d SIGNAL, %d HANG\n", t["same"], t["warned"], t["refused"], t["WRONG"], t["SIGNAL"], t["HANG"]
}' results
bad=$(awk '$4 == "WRONG" || $4 == "SIGNAL" || $4 == "HANG"' results | wc -l)
[ -n "${KEEP:-}" ] && echo "work folder kept: $T"
[ "$bad" -eq 0 ]
