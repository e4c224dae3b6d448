#!/usr/bin/env bash
# Tokenizes a preference data file once into tfdpo's memory-mapped format.
# Usage: scripts/preprocess.sh --input data.jsonl --output data.tfdpo --model_name_or_path MODEL_DIR [--key value ...]
# Keys: tokenizer_name_or_path dataset_format chat_template map_keys max_seq_len max_prompt_len truncation_mode
# on_bad_row packing, checked as docs/configuration.md describes them.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tfdpo_java dev.tfdpo.trainer.PreprocessMain "$@"
