#!/usr/bin/env bash
# Tokenizes a preference data file once into tfdpo's memory-mapped format.
# Usage: scripts/preprocess.sh --input data.jsonl --output data.tfdpo --model_name_or_path MODEL_DIR [--key value ...]
# --help lists the keys. Relative input, model and tokenizer paths fall back to the project root, as in train.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tfdpo_java dev.tfdpo.trainer.PreprocessTool "$@"
