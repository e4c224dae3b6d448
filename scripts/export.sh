#!/usr/bin/env bash
# Exports a checkpoint or a finished run. Usage:
#   scripts/export.sh SRC OUT --format hf|savedmodel [--dtype float32|bfloat16] [--max-shard-size SIZE] [--overwrite]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tfdpo_java dev.tfdpo.export.ExportMain "$@"
