#!/usr/bin/env bash
# Throughput benchmark (not part of the test suite). Usage:
#   scripts/bench.sh [CONFIG] [--warmup N] [--steps N] [--variant "NAME: --key value ..."]... [--key value ...]
# CONFIG defaults to configs/bench/perf-256.json. Prints one line per variant; see
# docs/packing-and-performance.md for the columns. Runs (logs, metrics, results) go to output/bench/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
TFDPO_JAVA_OPTS="${TFDPO_JAVA_OPTS:--Xmx2g}"
tfdpo_java dev.tfdpo.bench.BenchMain "$@"
