#!/usr/bin/env bash
# Throughput benchmark (not part of the test suite). Usage:
#   scripts/bench.sh [CONFIG] [--warmup N] [--steps N] [--variant "NAME: --key value ..."]... [--key value ...]
# CONFIG defaults to configs/bench/perf-256.json. Prints one line per variant; see
# docs/packing-and-performance.md for the columns. Runs (logs, metrics, results) go to output/bench/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# This JVM only generates missing benchmark weights, in memory before writing them (2 GB for the 0.5B shape).
# Each variant's JVM gets a heap sized to its model (BenchMain.heapFor).
TFDPO_JAVA_OPTS="${TFDPO_JAVA_OPTS:--Xmx4g}"
tfdpo_java dev.tfdpo.bench.BenchMain "$@"
