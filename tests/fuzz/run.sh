#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs every libFuzzer target in BUILD_DIR/tests/fuzz for SECONDS each, starting from the
# checked-in seed corpus (new inputs go to a scratch directory, not into the repository).
# A target's extra libFuzzer flags live in <target>.options next to this script
# (fuzz_config: inputs up to the 1 MiB config file cap, not libFuzzer's default 4 KiB).
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
    extra=()
    if [[ -f "$here/$name.options" ]]; then
        read -r -a extra <"$here/$name.options"
    fi
    echo "fuzz: $name for ${seconds}s"
    "$bin" -max_total_time="$seconds" -print_final_stats=0 "${extra[@]}" "$scratch/$name" "$corpus" 2>"$scratch/$name.log" || {
        tail -50 "$scratch/$name.log"
        exit 1
    }
    grep -E '^#[0-9]+ *DONE' "$scratch/$name.log" || tail -1 "$scratch/$name.log"
done
