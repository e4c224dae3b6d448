#!/usr/bin/env bash
# PNG charts of a run's metrics. Usage: scripts/plot.sh RUN_DIR [--out DIR]  (default DIR: RUN_DIR/plots)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
TFDPO_JAVA_OPTS="${TFDPO_JAVA_OPTS:--Xmx1g} -Djava.awt.headless=true"
tfdpo_java dev.tfdpo.report.PlotMain "$@"
