#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs every libFuzzer target in BUILD_DIR/tests/fuzz for SECONDS each, starting from the
# checked-in seed corpus (new inputs go to a scratch directory, not into the repository).
set -euo pipefail
build=${1:?usage: run.sh BUILD_DIR SECONDS}
seconds=${2:?usage: run.sh BUILD_DIR SECONDS}
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for bin in "$build"/tests/fuzz/fuzz_*; do
    name=$(basename "$bin")
    corpus="$here/corpus/${name#fuzz_}"
    mkdir -p "$scratch/$name"
    echo "fuzz: $name for ${seconds}s"
    "$bin" -max_total_time="$seconds" -print_final_stats=0 "$scratch/$name" "$corpus" 2>"$scratch/$name.log" || {
        tail -50 "$scratch/$name.log"
        exit 1
    }
    grep -E '^#[0-9]+ *DONE' "$scratch/$name.log" || tail -1 "$scratch/$name.log"
done
