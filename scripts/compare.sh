#!/usr/bin/env bash
# Compares two runs' curves (any supported format). Usage:
#   scripts/compare.sh RUN_A RUN_B [--metrics M,...] [--tolerance SPEC] [--out DIR]
# Exit status: 0 all metrics agree, 1 some metric differs, 2 unusable input.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
TFDPO_JAVA_OPTS="${TFDPO_JAVA_OPTS:--Xmx1g} -Djava.awt.headless=true"
tfdpo_java dev.tfdpo.report.CompareMain "$@"
