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
  # build-classpath leaves an unchanged file alone, so the stamp is renewed here.
  touch "$stamp"
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

# tfdpo_train_heap [CONFIG.json] [--key value | --key=value ...]: JVM options sized for training that model.
# Weights load from the safetensors files into TensorFlow's native memory without passing through the Java
# heap, but exports and checkpoints still read the policy's weights into the heap once: so the heap is the
# model's float32 size (its safetensors files; bf16 and f16 files count twice) plus 1 GiB for data and
# tokenizer, at least 2 GiB. JavaCPP would cap the resident memory at 4x that heap, and TensorFlow's
# variables alone (policy, reference, accumulators, Adam's m and v) are 5x the model: the cap is off.
tfdpo_train_heap() {
  local config="" model="" prev=""
  if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then config="$1"; fi
  for a in "$@"; do
    [ "$prev" = "--model_name_or_path" ] && model="$a"
    case "$a" in --model_name_or_path=*) model="${a#--model_name_or_path=}" ;; esac
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
    bytes=$(find "$model" -maxdepth 1 -name '*.safetensors' -printf '%s\n' | awk '{s+=$1} END {printf "%.0f\n", s}')
    if grep -qsE '"(torch_dtype|dtype)"[[:space:]]*:[[:space:]]*"(bfloat16|float16)"' "$model/config.json"; then
      bytes=$((bytes * 2))
    fi
  fi
  local mb=$(( bytes / 1048576 + 1024 ))
  [ "$mb" -lt 2048 ] && mb=2048
  echo "-Xmx${mb}m -Dorg.bytedeco.javacpp.maxPhysicalBytes=0"
}

# TensorFlow's start-up lines, printed through absl before any log level applies (TF_CPP_MIN_LOG_LEVEL
# does not silence them); exactly these two are filtered out unless --debug.
TFDPO_TF_STARTUP='^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR|I0000 [0-9:. ]+ +[0-9]+ mlir_graph_optimization_pass\.cc:[0-9]+\] MLIR V1 optimization pass is not enabled)$'

# tfdpo_java MAIN_CLASS [ARGS...]: build if needed, then run. --debug (or TFDPO_DEBUG=1) keeps TensorFlow's
# log and makes the Java side print stack traces.
tfdpo_java() {
  tfdpo_build || exit 1
  local main="$1"; shift
  # oneDNN's kernels are the faster set on every x86 CPU measured (TensorFlow only turns them on by itself
  # where VNNI, BF16 or AMX exist) and give the same numbers (README, "oneDNN"); the user's value wins.
  export TF_ENABLE_ONEDNN_OPTS="${TF_ENABLE_ONEDNN_OPTS:-1}"
  local debug="${TFDPO_DEBUG:-}"
  for arg in "$@"; do
    [ "$arg" = "--debug" ] && debug=1
  done
  local java_cmd=(java ${TFDPO_JAVA_OPTS:--Xmx8g} -Dtfdpo.root="$TFDPO_ROOT" -cp "$(tfdpo_classpath)" "$main" "$@")
  if [ "$debug" = "1" ]; then
    export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-0}"
    exec "${java_cmd[@]}"
  fi
  export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
  exec "${java_cmd[@]}" 2> >(grep --line-buffered -v -E "$TFDPO_TF_STARTUP" >&2)
}

# tfdpo_free_port USED...: a local TCP port nobody listens on and not among USED (from a random start;
# the server that takes it reports a clash clearly if another process wins the race).
tfdpo_free_port() {
  local p tries=0
  while [ $tries -lt 200 ]; do
    p=$(( 20000 + RANDOM % 40000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && [[ " $* " != *" $p "* ]]; then
      echo "$p"
      return 0
    fi
    tries=$((tries + 1))
  done
  echo "error: found no free local port" >&2
  return 1
}

# tfdpo_launch N MAIN_CLASS [ARGS...]: N local workers of one gRPC cluster (as torchrun --nproc_per_node):
# each gets TF_CONFIG with every worker's 127.0.0.1:PORT and its own index, its console lines prefixed
# "[rank k] ". Each worker is its own process group; when one exits non-zero the others are killed and
# its status returned; Ctrl-C or TERM stops them all. When all exit 0, so does this.
tfdpo_launch() {
  local n="$1"; shift
  local ports=() k
  for ((k = 0; k < n; k++)); do ports+=("$(tfdpo_free_port "${ports[@]+"${ports[@]}"}")") || return 1; done
  local workers
  workers="$(printf '"127.0.0.1:%s",' "${ports[@]}")"
  workers="[${workers%,}]"
  echo "launching $n workers: $workers" >&2
  local pids=()
  set -m # each background worker in its own process group, so a kill reaches its JVM too
  for ((k = 0; k < n; k++)); do
    (
      set +m # everything of this worker (its JVM, the prefixing sed) stays in this one process group
      export TF_CONFIG="{\"cluster\": {\"worker\": $workers}, \"task\": {\"type\": \"worker\", \"index\": $k}}"
      set +e
      (tfdpo_java "$@") 2>&1 | sed -u "s/^/[rank $k] /"
      exit "${PIPESTATUS[0]}"
    ) &
    pids+=("$!")
  done
  set +m
  local stop_all
  stop_all() {
    local p
    for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done
  }
  trap 'stop_all; exit 130' INT
  trap 'stop_all; exit 143' TERM
  # Poll rather than 'wait -n': a worker that already ended is no job for 'wait -n' any more.
  local live=("${pids[@]}") rc p rest
  while [ "${#live[@]}" -gt 0 ]; do
    sleep 0.5
    rest=()
    for p in "${live[@]}"; do
      if kill -0 "$p" 2>/dev/null; then rest+=("$p"); continue; fi
      set +e
      wait "$p"
      rc=$?
      set -e
      if [ "$rc" -ne 0 ]; then
        for ((k = 0; k < n; k++)); do [ "${pids[$k]}" = "$p" ] && break; done
        echo "error: rank $k exited with status $rc; stopping the other workers" >&2
        stop_all
        wait 2>/dev/null || true
        return "$rc"
      fi
    done
    live=("${rest[@]+"${rest[@]}"}")
  done
  return 0
}
