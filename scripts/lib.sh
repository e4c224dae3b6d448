# Shared by the scripts in this folder: builds the Java modules when needed and runs a main class.
# Source it; do not run it.

TFDPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Rebuild when any source, resource or POM is newer than the last build.
tfdpo_build() {
  local stamp="$TFDPO_ROOT/trainer/target/classpath.txt"
  if [ -f "$stamp" ] && [ -z "$(find "$TFDPO_ROOT" -path '*/target' -prune -o \
      \( -name '*.java' -o -name 'pom.xml' -o -path '*/src/main/resources/*' \) -newer "$stamp" -print -quit)" ]; then
    return 0
  fi
  echo "Building tfdpo (first run, or sources changed)..." >&2
  (cd "$TFDPO_ROOT" && mvn -B -q -DskipTests -pl trainer -am package) >&2 || {
    echo "error: the Maven build failed; run 'mvn -DskipTests -pl trainer -am package' to see why" >&2
    return 1
  }
}

# Classpath: every module's classes plus the trainer's resolved dependencies.
tfdpo_classpath() {
  local cp=""
  for m in checkpoints-io ops graphs tokenizer trainer; do
    cp="$cp:$TFDPO_ROOT/$m/target/classes"
  done
  # Sibling modules appear in classpath.txt as jars; the class folders above come first.
  echo "${cp#:}:$(cat "$TFDPO_ROOT/trainer/target/classpath.txt")"
}

# tfdpo_train_heap [CONFIG.json] [--key value ...]: a -Xmx for training that model. Weights load from the
# memory-mapped files into TensorFlow's native memory without passing through the Java heap, but exports and
# checkpoints still read the policy's weights into the heap once: so the heap is the model's float32 size
# (its safetensors files; bf16 files count twice) plus 1 GiB for data and tokenizer, at least 2 GiB.
tfdpo_train_heap() {
  local config="" model="" prev=""
  if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then config="$1"; fi
  for a in "$@"; do
    [ "$prev" = "--model_name_or_path" ] && model="$a"
    prev="$a"
  done
  [ -z "$config" ] && config="$TFDPO_ROOT/configs/default.json"
  [ -f "$config" ] || config="$TFDPO_ROOT/$config"
  if [ -z "$model" ] && [ -f "$config" ]; then
    model="$(sed -n 's/.*"model_name_or_path"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$config" | head -n 1)"
  fi
  [ -n "$model" ] && [ ! -d "$model" ] && [ -d "$TFDPO_ROOT/$model" ] && model="$TFDPO_ROOT/$model"
  local bytes=0
  if [ -n "$model" ] && [ -d "$model" ]; then
    bytes=$(find "$model" -maxdepth 1 -name '*.safetensors' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
    if grep -qs '"torch_dtype"[[:space:]]*:[[:space:]]*"bfloat16"\|"dtype"[[:space:]]*:[[:space:]]*"bfloat16"' "$model/config.json"; then
      bytes=$((bytes * 2))
    fi
  fi
  local mb=$(( bytes / 1048576 + 1024 ))
  [ "$mb" -lt 2048 ] && mb=2048
  echo "-Xmx${mb}m"
}

# tfdpo_java MAIN_CLASS [ARGS...]: build if needed, then run.
tfdpo_java() {
  tfdpo_build || exit 1
  local main="$1"; shift
  export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
  exec java ${TFDPO_JAVA_OPTS:--Xmx8g} -Dtfdpo.root="$TFDPO_ROOT" -cp "$(tfdpo_classpath)" "$main" "$@"
}
