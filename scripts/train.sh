#!/usr/bin/env bash
# DPO training. Usage: scripts/train.sh [CONFIG.json] [--key value ...]
# With no config, trains the tiny model shipped in the repo (configs/default.json).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tfdpo_java dev.tfdpo.trainer.TrainMain "$@"
