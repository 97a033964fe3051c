#!/bin/sh
# `featcache extract --shard K/N` and `featcache merge` on a small ants/bees subset (24 JPEGs and the
# GIF, a bad file): three shards compute disjoint parts that add up to the whole; a shard depends
# on the bytes only (renamed files fall in the same shard); every shard lists the whole data set;
# the merge of the shards exports bitwise what one process exports (features, labels, paths,
# splits), keeps the bad file bad, appends (shards in order) and passes verify; merging again
# copies nothing; a merge killed with SIGKILL at random moments and run again ends with the same
# export and catalog rows; a data set of the same name with other items is refused with the item
# named and nothing written; usage errors.
NAME=merge; . "$(dirname "$0")/../support/common.sh"
need_shared
M="$SHARED/models/mobilenet_v2_1.0_224.onnx"
ab_subset "$T/set" 4 2
printf 'GIF89a\001\000\001\000' >"$T/set/train/ants/imageNotFound.gif" # a cut GIF: the bad file
OPTS="--model $M --size 96 --batch 4 --threads 1 --quiet"
N=$(find "$T/set" -type f | wc -l)

"$FC" extract "$T/set" $OPTS --cache "$T/one" --json >"$T/one.json" 2>"$T/err"
check "one process: exit 3 (the GIF is bad)" $([ $? -eq 3 ]; echo $?)
total=0 items_ok=1
for k in 0 1 2; do
    "$FC" extract "$T/set" $OPTS --cache "$T/s$k" --shard $k/3 --json >"$T/s$k.json" 2>"$T/err"
    rc=$?
    [ $rc -eq 0 ] || [ $rc -eq 3 ] || { bad "shard $k/3: exit $rc"; cat "$T/err"; }
    c=$(json_field computed "$T/s$k.json") e=$(json_field elsewhere "$T/s$k.json") b=$(json_field bad "$T/s$k.json")
    total=$((total + c))
    [ "$(json_field items "$T/s$k.json")" = "$N" ] && [ $((c + e + b)) -eq "$N" ] || items_ok=0
done
check "three shards compute $(json_field computed "$T/one.json") items between them, as one process ($total)" \
    $([ "$total" = "$(json_field computed "$T/one.json")" ]; echo $?)
check "every shard lists the $N items: computed + other shards + bad" $([ $items_ok = 1 ]; echo $?)
"$FC" extract "$T/set" $OPTS --cache "$T/s1" --shard 1/3 --json >"$T/again.json" 2>/dev/null
check "a shard run again computes nothing" $([ "$(json_field computed "$T/again.json")" = 0 ]; echo $?)

# the same images under other names, in another order: the same items in shard 1
mkdir -p "$T/renamed"
find "$T/set" -name '*.jpg' | sort | awk '{ printf "%s %05d\n", $0, 99999 - NR }' | while read -r f n; do cp "$f" "$T/renamed/z$n.jpg"; done
"$FC" extract "$T/renamed" $OPTS --cache "$T/r1" --shard 1/3 --json >"$T/r1.json" 2>/dev/null
"$FC" merge "$T/s1" "$T/r1" --cache "$T/both" --json >"$T/both.json" 2>"$T/err"
check "a shard depends on the bytes only: renamed files, the same $(json_field computed "$T/r1.json") features" \
    $([ "$(json_field values_present "$T/both.json")" = "$(json_field computed "$T/r1.json")" ] &&
        [ "$(json_field values_copied "$T/both.json")" = "$(json_field computed "$T/s1.json")" ]; echo $?)

t0=$(date +%s%N)
"$FC" merge "$T/s0" "$T/s1" "$T/s2" --cache "$T/m" --json >"$T/m.json" 2>"$T/err"
check "merge: exit 0" $?
ms=$((($(date +%s%N) - t0) / 1000000)) # the whole command, start-up included
check "merge: $(json_field values_copied "$T/m.json") values, all appended (shards in order)" \
    $([ "$(json_field values_copied "$T/m.json")" = "$total" ] &&
        [ "$(json_field values_appended "$T/m.json")" = "$total" ]; echo $?)
"$FC" export set --model "$M" --size 96 --cache "$T/one" -o "$T/x_one" 2>"$T/err" &&
    "$FC" export set --model "$M" --size 96 --cache "$T/m" -o "$T/x_m" 2>>"$T/err"
same=0
for f in features.npy labels.txt paths.txt splits.txt; do cmp -s "$T/x_one/$f" "$T/x_m/$f" || same=1; done
check "the merged cache exports bitwise what one process exports" $same
"$FC" ls --cache "$T/m" >"$T/ls" 2>"$T/err"
check "the GIF is bad in the merged cache" $(grep -q "imageNotFound.gif" "$T/ls"; echo $?)
"$FC" verify --cache "$T/m" >"$T/err" 2>&1
check "verify: the merged cache is clean" $?

dump() { # every catalog row but the creation times of the destination's own schema
    $PY - "$1/catalog.sqlite" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for t in ("datasets", "items", "extractors", "runs"):
    for r in db.execute("SELECT * FROM %s ORDER BY 1" % t):
        print(t, r)
EOF
}
dump "$T/m" >"$T/rows_m"
"$FC" merge "$T/s0" "$T/s1" "$T/s2" --cache "$T/m" --json >"$T/m2.json" 2>"$T/err"
dump "$T/m" >"$T/rows_m2"
check "merging again copies nothing and changes no row" \
    $([ "$(json_field values_copied "$T/m2.json")" = 0 ] && [ "$(json_field runs_added "$T/m2.json")" = 0 ] &&
        cmp -s "$T/rows_m" "$T/rows_m2"; echo $?)

# kill -9 at random moments of a clean merge's duration (start-up, values, catalog, or after the end)
killed=0 same=0
for i in 1 2 3 4; do
    rm -rf "$T/k"
    $KILLABLE "$FC" merge "$T/s0" "$T/s1" "$T/s2" -o "$T/k" --quiet 2>/dev/null &
    pid=$!
    sleep "$(awk -v s="$$$i" -v ms="$ms" 'BEGIN { srand(s); printf "%.3f", rand() * ms * 1.2 / 1000 }')"
    kill -9 $pid 2>/dev/null
    wait $pid 2>/dev/null
    [ $? = 137 ] && killed=$((killed + 1))
    "$FC" merge "$T/s0" "$T/s1" "$T/s2" -o "$T/k" --quiet 2>"$T/err" &&
        "$FC" export set --model "$M" --size 96 --cache "$T/k" -o "$T/x_k" 2>>"$T/err" &&
        cmp -s "$T/x_one/features.npy" "$T/x_k/features.npy" && cmp -s "$T/x_one/paths.txt" "$T/x_k/paths.txt" &&
        dump "$T/k" >"$T/rows_k" && cmp -s "$T/rows_m" "$T/rows_k" && same=$((same + 1))
done
echo "  $killed of 4 merges killed before they ended (a clean one takes $ms ms)"
check "killed (kill -9) and run again: 4 of 4 end with the same export and catalog rows ($same)" $([ $same = 4 ]; echo $?)

# the same name for other items: refused, nothing written
mkdir -p "$T/other" && cp -r "$T/set/." "$T/other/" && rm "$(find "$T/other" -name '*.jpg' | sort | head -1)"
"$FC" extract "$T/other" $OPTS --name set --cache "$T/o" 2>/dev/null
"$FC" merge "$T/s0" "$T/s1" "$T/s2" "$T/o" --cache "$T/c" >"$T/out" 2>"$T/err"
rc=$?
check "a data set with other items under the same name: exit 1, the item named" \
    $([ $rc = 1 ] && grep -q "data set 'set' is not the same" "$T/err" && grep -q "is in .*, not in" "$T/err"; echo $?)
check "nothing of the refused merge is written" $([ ! -e "$T/c/features.mdb" ]; echo $?)

"$FC" merge --cache "$T/u" >/dev/null 2>"$T/err"
check "no source: usage error (64)" $([ $? = 64 ]; echo $?)
"$FC" merge "$T/nowhere" --cache "$T/u" >/dev/null 2>"$T/err"
check "a missing source: exit 1, named" $([ $? = 1 ] && grep -q nowhere "$T/err"; echo $?)
"$FC" extract "$T/set" $OPTS --cache "$T/u" --shard 3/3 >/dev/null 2>"$T/err"
check "--shard 3/3: usage error (64)" $([ $? = 64 ] && grep -q "0 <= K < N" "$T/err"; echo $?)
