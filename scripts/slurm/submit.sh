#!/bin/sh
# Submits a data set's sharded extraction and its merge to Slurm, one line:
#   scripts/slurm/submit.sh DATASET MODEL N [TASKS]
# an array of N tasks (extract.sbatch: shard K of N each) and a merge job that starts when every
# task has succeeded (merge.sbatch, --dependency=afterok). TASKS (default 0-(N-1)) resubmits only
# some tasks, e.g. the one that failed: `scripts/slurm/submit.sh DATASET MODEL 8 5`; it starts
# from what the failed task saved, computes only what it lacks, and a new merge follows it (cancel
# the old merge, which waits for an array that failed).
# Environment: FEATCACHE_OUT (shards, logs and the merged cache; default ./featcache-slurm),
# FEATCACHE (featcache binary; default this checkout's build/featcache, else featcache on PATH),
# FEATCACHE_EXTRACT_ARGS (more extract options, e.g. "--size 160 --dtype f16"), SBATCH_ARGS (more
# sbatch options for both jobs, e.g. "--partition=cpu --time=2:00:00"), FEATCACHE_CPUS (CPUs per
# task, default 1: each task runs with that many threads).
# Prints the two job ids ("extract JOB merge JOB").
set -eu
[ $# -ge 3 ] && [ $# -le 4 ] || { echo "usage: $0 DATASET MODEL N [TASKS]" >&2; exit 64; }
N=$3
TASKS=${4:-0-$((N - 1))}
HERE=$(cd "$(dirname "$0")" && pwd)
abs() { case $1 in /*) echo "$1" ;; *) echo "$(pwd)/$1" ;; esac; }
DATASET=$(abs "$1") MODEL=$(abs "$2")
OUT=$(abs "${FEATCACHE_OUT:-featcache-slurm}")
if [ -z "${FEATCACHE:-}" ]; then
    if [ -x "$HERE/../../build/featcache" ]; then FEATCACHE=$(abs "$HERE/../../build/featcache"); else FEATCACHE=featcache; fi
fi
export FEATCACHE
mkdir -p "$OUT/logs"
# shellcheck disable=SC2086 # SBATCH_ARGS and FEATCACHE_EXTRACT_ARGS are word lists
ext=$(sbatch --parsable --array="$TASKS" --cpus-per-task="${FEATCACHE_CPUS:-1}" -o "$OUT/logs/extract_%A_%a.log" \
    ${SBATCH_ARGS:-} "$HERE/extract.sbatch" "$DATASET" "$MODEL" "$N" "$OUT" ${FEATCACHE_EXTRACT_ARGS:-})
ext=${ext%%;*}
# shellcheck disable=SC2086
mrg=$(sbatch --parsable --dependency="afterok:$ext" -o "$OUT/logs/merge_%j.log" ${SBATCH_ARGS:-} \
    "$HERE/merge.sbatch" "$N" "$OUT")
mrg=${mrg%%;*}
echo "extract $ext merge $mrg"
