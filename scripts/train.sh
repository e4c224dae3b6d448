#!/usr/bin/env bash
# DPO training. Usage: scripts/train.sh [CONFIG.json] [--key value | --key=value ...] [--debug]
#                      [--nproc_per_node N]
# With no config, trains the tiny model shipped in the repo (configs/default.json). --help lists the keys.
# --nproc_per_node N (as torchrun's): N local worker processes over TensorFlow's gRPC runtime, each with its
# own TF_CONFIG and a free port, console lines prefixed "[rank k] "; rank 0 (the chief) writes the output.
# If one fails, the others are stopped and its status is returned (docs/distributed.md).
# Exit status: 0 done, 1 failed while running, 2 bad config/data/output_dir, 130 interrupted.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# The JVM heap follows the model (tfdpo_train_heap in lib.sh); TFDPO_JAVA_OPTS overrides it.
TFDPO_JAVA_OPTS="${TFDPO_JAVA_OPTS:-$(tfdpo_train_heap "$@")}"
nproc="" args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --nproc_per_node) [ $# -ge 2 ] || { echo "error: --nproc_per_node needs a value" >&2; exit 2; }
      nproc="$2"; shift 2 ;;
    --nproc_per_node=*) nproc="${1#--nproc_per_node=}"; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ -z "$nproc" ]; then
  tfdpo_java dev.tfdpo.trainer.TrainMain "${args[@]+"${args[@]}"}"
fi
if ! [[ "$nproc" =~ ^[0-9]+$ ]] || [ "$nproc" -lt 1 ]; then
  echo "error: --nproc_per_node must be a positive integer, got '$nproc'" >&2; exit 2
fi
if [ -n "${TF_CONFIG:-}" ]; then
  echo "error: --nproc_per_node with TF_CONFIG set: the launcher writes each worker's TF_CONFIG; unset it" >&2
  exit 2
fi
if [ "$nproc" -eq 1 ]; then
  tfdpo_java dev.tfdpo.trainer.TrainMain "${args[@]+"${args[@]}"}"
fi
tfdpo_build || exit 1
tfdpo_launch "$nproc" dev.tfdpo.trainer.TrainMain "${args[@]+"${args[@]}"}"
