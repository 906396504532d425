#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# bench/run.sh [BUILD_DIR]: the performance figures of docs/performance.md on the mock
# 8-GPU node. BUILD_DIR defaults to build-release (configured with `cmake --preset release`
# when missing); the plugin, the mock NVML and gdp-bench-client are (re)built in it.
#
# Environment: BENCH_CALLS (Allocate calls per concurrency, 10000), BENCH_RESTARTS (kubelet
# restarts, 1000), BENCH_RUNS (ListAndWatch connections, 200), BENCH_PREFERRED_REPEAT (answers
# per preferred-allocation request, 200), BENCH_CPUS (a taskset CPU
# list for the client and the plugin, e.g. 0; unset: the scheduler places them).
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build-release}
case $build in
/*) ;;
*) build=$root/$build ;;
esac

if [ ! -f "$build/CMakeCache.txt" ]; then
    if [ "$build" != "$root/build-release" ]; then
        echo "run.sh: $build is not a configured build directory" >&2
        exit 2
    fi
    (cd "$root" && cmake --preset release >/dev/null)
fi
cmake --build "$build" -j"$(nproc)" --target gpu-device-plugin mock-nvml gdp-bench-client >/dev/null

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gdp-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$tmp/root/usr/lib64" "$tmp/device-plugins"
ln -s "$build/tests/mock-nvml/libnvidia-ml.so.1" "$tmp/root/usr/lib64/libnvidia-ml.so.1"

echo "gpu-device-plugin benchmark: mock 8-GPU node (built-in dgx-a100), $(nproc) CPUs"
echo "build: $build ($(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")), $("$build/gpu-device-plugin" --version 2>/dev/null | paste -sd " ")"
if grep -q '^GDP_SANITIZE:[A-Z]*=.' "$build/CMakeCache.txt"; then
    echo "note: sanitized build; its figures say nothing about the targets (use build-release)"
fi

pin=
if [ -n "${BENCH_CPUS:-}" ]; then
    pin="taskset -c $BENCH_CPUS"
    echo "pinned: client and plugin on CPUs $BENCH_CPUS"
fi

# The plugin must not pick up a node file or a control FIFO from the caller's environment.
# shellcheck disable=SC2086 # $pin is a command prefix
if ! env -u MOCK_NVML_NODE -u MOCK_NVML_CONTROL -u LD_LIBRARY_PATH \
    $pin "$build/bench/gdp-bench-client" node \
    --plugin="$build/gpu-device-plugin" --driver-root="$tmp/root" --dir="$tmp/device-plugins" \
    --log="$tmp/plugin.log" --calls="${BENCH_CALLS:-10000}" \
    --restarts="${BENCH_RESTARTS:-1000}" --runs="${BENCH_RUNS:-200}"; then
    echo "run.sh: benchmark failed; last lines of the plugin's log:" >&2
    tail -n 20 "$tmp/plugin.log" >&2 || true
    exit 1
fi

echo
echo "health propagation (python3-grpcio client: figures are upper bounds)"
env -u MOCK_NVML_NODE -u LD_LIBRARY_PATH /usr/bin/python3 "$root/bench/health_propagation.py" "$build" "${BENCH_HEALTH_CYCLES:-100}"

echo
echo "GetPreferredAllocation, in process, whole GPUs (gdp-bench-preferred; targets: p99 <= 50 us on 8 GPUs, <= 1 ms on 16, 0 NVML calls)"
cmake --build "$build" -j"$(nproc)" --target gdp-bench-preferred >/dev/null
for node in dgx1-v100 pcie-8gpu-2switch dgx-a100 dgx2-v100x16; do
    echo "-- $node"
    # shellcheck disable=SC2086 # $pin is a command prefix
    env -u MOCK_NVML_CONTROL -u LD_LIBRARY_PATH $pin "$build/bench/gdp-bench-preferred" \
        --driver-root="$tmp/root" --node="$root/tests/mock-nvml/nodes/$node.yaml" \
        --repeat="${BENCH_PREFERRED_REPEAT:-200}"
done
echo "metrics endpoint cost (docs/metrics.md)"
env -u MOCK_NVML_NODE -u MOCK_NVML_CONTROL -u LD_LIBRARY_PATH /usr/bin/python3 "$root/bench/metrics_cost.py" "$build" "${BENCH_CALLS:-10000}"
