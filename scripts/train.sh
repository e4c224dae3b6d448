#!/usr/bin/env bash
# DPO training. Usage: scripts/train.sh [CONFIG.json] [--key value | --key=value ...] [--debug]
# With no config, trains the tiny model shipped in the repo (configs/default.json). --help lists the keys.
# Exit status: 0 done, 1 failed while running, 2 bad config/data/output_dir, 130 interrupted.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# The JVM heap follows the model (tfdpo_train_heap in lib.sh); TFDPO_JAVA_OPTS overrides it.
TFDPO_JAVA_OPTS="${TFDPO_JAVA_OPTS:-$(tfdpo_train_heap "$@")}"
tfdpo_java dev.tfdpo.trainer.TrainMain "$@"
