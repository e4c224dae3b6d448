#!/usr/bin/env bash
# DPO training. Usage: scripts/train.sh [CONFIG.json] [--key value | --key=value ...] [--debug]
#                      [--nproc_per_node N [--max_restarts K]]
# With no config, trains the tiny model shipped in the repo (configs/default.json). --help lists the keys.
# --nproc_per_node N (as torchrun's): N local worker processes over TensorFlow's gRPC runtime, each with its
# own TF_CONFIG and a free port, console lines prefixed "[rank k] "; rank 0 (the chief) writes the output.
# If one fails, the others are stopped and its status is returned (docs/distributed.md).
# --max_restarts K (as torchrun's, default 0): when a worker fails, all are stopped and all restarted, at most
# K times, with --resume_from_checkpoint auto (from the last checkpoint; from scratch when there is none).
# Exit status: 0 done, 1 failed while running, 2 bad config/data/output_dir, 130 interrupted.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# The JVM heap follows the model (tfdpo_train_heap in lib.sh); TFDPO_JAVA_OPTS overrides it.
TFDPO_JAVA_OPTS="${TFDPO_JAVA_OPTS:-$(tfdpo_train_heap "$@")}"
nproc="" max_restarts="" args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --nproc_per_node) [ $# -ge 2 ] || { echo "error: --nproc_per_node needs a value" >&2; exit 2; }
      nproc="$2"; shift 2 ;;
    --nproc_per_node=*) nproc="${1#--nproc_per_node=}"; shift ;;
    --max_restarts) [ $# -ge 2 ] || { echo "error: --max_restarts needs a value" >&2; exit 2; }
      max_restarts="$2"; shift 2 ;;
    --max_restarts=*) max_restarts="${1#--max_restarts=}"; shift ;;
    --help|-h) args+=("$1"); shift
      echo "launcher: --nproc_per_node N (local worker processes, docs/distributed.md), --max_restarts K (restart all workers from the last checkpoint when one fails, at most K times; default 0)" ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ -n "$max_restarts" ]; then
  if ! [[ "$max_restarts" =~ ^[0-9]+$ ]]; then
    echo "error: --max_restarts must be a non-negative integer, got '$max_restarts'" >&2; exit 2
  fi
  if [ -z "$nproc" ] || [ "$nproc" = 1 ]; then
    echo "error: --max_restarts restarts the workers of --nproc_per_node N (N >= 2); add --nproc_per_node" >&2
    exit 2
  fi
fi
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
tfdpo_launch_restarting "${max_restarts:-0}" "$nproc" dev.tfdpo.trainer.TrainMain "${args[@]+"${args[@]}"}"
