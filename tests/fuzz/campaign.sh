#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# One fuzzing campaign: runs libFuzzer target TARGET (config, requests, h2_server, ...) from
# BUILD_DIR until it has used CPU_SECONDS of CPU time (in slices of at most 10 minutes, each
# resuming from what the slices before found, so a busy machine makes the campaign longer,
# not smaller), starting from its corpus in tests/fuzz/corpus/TARGET. Then it merges what it
# found into that corpus (libFuzzer's -merge=1: an input is added only when it covers
# something the corpus does not; the seeds already there stay as they are) and appends one
# line to tests/fuzz/campaigns.tsv:
#   date  target  cpu_seconds  executions  corpus_before  corpus_after  coverage  result
# Campaigns add up: the CPU seconds of a target's lines are its total campaign time, which
# docs/reliability.md reports. A crash stops the campaign with the crashing input kept in
# tests/fuzz/findings/ and result "crash" in the ledger.
#   usage: campaign.sh BUILD_DIR TARGET CPU_SECONDS
#          campaign.sh --summary     (per target: campaigns, CPU hours, executions, corpus)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [[ ${1:-} == --summary ]]; then
    awk -F'\t' 'NR > 1 { n[$2]++; cpu[$2] += $3; ex[$2] += $4; corp[$2] = $6; cov[$2] = $7
                          if ($8 != "ok") bad[$2]++ }
        END { printf "%-12s %9s %9s %14s %8s %8s %8s\n", "target", "campaigns", "cpu_hours",
                     "executions", "corpus", "coverage", "crashes"
              for (t in n) printf "%-12s %9d %9.2f %14d %8d %8d %8d\n", t, n[t], cpu[t] / 3600,
                                  ex[t], corp[t], cov[t], bad[t] }' \
        "$here/campaigns.tsv" | (read -r h; echo "$h"; sort)
    exit 0
fi
build=${1:?usage: campaign.sh BUILD_DIR TARGET CPU_SECONDS}
target=${2:?usage: campaign.sh BUILD_DIR TARGET CPU_SECONDS}
seconds=${3:?usage: campaign.sh BUILD_DIR TARGET CPU_SECONDS}
bin="$build/tests/fuzz/fuzz_$target"
corpus="$here/corpus/$target"
[[ -x "$bin" ]] || { echo "campaign.sh: no fuzz target $bin" >&2; exit 2; }
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
extra=()
if [[ -f "$here/fuzz_$target.options" ]]; then
    read -r -a extra <"$here/fuzz_$target.options"
fi
mkdir -p "$scratch/new" "$here/findings"
before=$(find "$corpus" -type f | wc -l)
result=ok cpu=0 execs=0 cov=0
while [[ $result == ok && $cpu -lt $seconds ]]; do
    slice=$((seconds - cpu < 600 ? seconds - cpu : 600))
    slice=$((slice < 30 ? 30 : slice))
    /usr/bin/time -f '%U %S' -o "$scratch/cpu" \
        "$bin" -max_total_time="$slice" -print_final_stats=1 "${extra[@]}" \
        -artifact_prefix="$here/findings/${target}-" "$scratch/new" "$corpus" \
        >"$scratch/log" 2>&1 || result=crash
    cpu=$((cpu + $(awk '{printf "%d", $1 + $2}' "$scratch/cpu")))
    n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$scratch/log" | tail -1)
    execs=$((execs + ${n:-0}))
    c=$(grep -oE 'cov: [0-9]+' "$scratch/log" | tail -1 | cut -d' ' -f2)
    cov=${c:-$cov}
done
if [[ $result == ok ]]; then
    "$bin" -merge=1 "${extra[@]}" "$corpus" "$scratch/new" >"$scratch/merge.log" 2>&1
fi
after=$(find "$corpus" -type f | wc -l)
printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%F)" "$target" "$cpu" "$execs" \
    "$before" "$after" "$cov" "$result" >>"$here/campaigns.tsv"
tail -1 "$here/campaigns.tsv"
if [[ $result != ok ]]; then
    tail -60 "$scratch/log"
    exit 1
fi
