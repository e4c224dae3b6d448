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

# tfdpo_train_heap [CONFIG.json] [--key value | --key=value ...]: JVM options sized for training that run.
# Weights go from the safetensors files into TensorFlow's native memory, and checkpoints and exports stream
# them back tensor by tensor in 4 MB chunks, so nothing on the Java heap grows with the model: the heap holds
# the tokenized data (the train and dev files' size, twice; gzipped files count 8x) plus 1 GiB for the
# tokenizer, batches and the trainer. JavaCPP would cap the resident memory at 4x that heap, and TensorFlow's
# variables alone (policy, reference, accumulators, Adam's m and v) are 5x the model: the cap is off.
# -Xmx is a ceiling, not a use: the heap starts at 32 MB (the JVM's default start, 1/64 of the RAM, was
# 378 MB committed and ~230 MB resident on a run whose heap held ~30 MB) and grows on demand up to -Xmx,
# giving memory back after a collection that leaves more than 30% free (docs/memory.md, "Where the memory
# goes"). Keep in step with BenchMain.heapOptions (HeapOptionsTest compares them).
tfdpo_train_heap() {
  local config=""
  if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then config="$1"; fi
  [ -z "$config" ] && config="$TFDPO_ROOT/configs/default.json"
  [ -f "$config" ] || config="$TFDPO_ROOT/$config"
  local bytes=0 key path size
  for key in train_dataset_path dev_dataset_path; do
    path="$(tfdpo_config_value "$config" "$key" "$@")"
    [ -n "$path" ] && [ ! -f "$path" ] && [ -f "$TFDPO_ROOT/$path" ] && path="$TFDPO_ROOT/$path"
    if [ -n "$path" ] && [ -f "$path" ]; then
      size=$(stat -c %s "$path")
      case "$path" in *.gz) size=$((size * 4)) ;; esac
      bytes=$((bytes + 2 * size))
    fi
  done
  local mb=$(( bytes / 1048576 + 1024 ))
  echo "-Xmx${mb}m -Xms32m -XX:MinHeapFreeRatio=10 -XX:MaxHeapFreeRatio=30 -Dorg.bytedeco.javacpp.maxPhysicalBytes=0"
}

# tfdpo_config_value CONFIG KEY [--key value | --key=value ...]: KEY's value from the command line, else from
# the config file's top-level "KEY": "value" line; empty when neither has it.
tfdpo_config_value() {
  local config="$1" key="$2" value="" prev=""
  shift 2
  for a in "$@"; do
    [ "$prev" = "--$key" ] && value="$a"
    case "$a" in "--$key="*) value="${a#--$key=}" ;; esac
    prev="$a"
  done
  if [ -z "$value" ] && [ -f "$config" ]; then
    value="$(sed -n "s/.*\"$key\"[[:space:]]*:[[:space:]]*\"\([^\"]*\)\".*/\1/p" "$config" | head -n 1)"
  fi
  echo "$value"
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
  # Transparent huge pages for malloc's large blocks (glibc >= 2.35; ignored by older ones, and a no-op where
  # THP is off): TensorFlow's tensor pool is first touched in 2 MB pages instead of 4 KB ones. Measured on the
  # 135M shape: whole process 42 -> 29-33 s when the kernel has free 2 MB blocks, 5-10% when its free memory
  # is fragmented; peak RSS within the run-to-run noise (docs/memory.md, "Huge pages"). A user's own
  # glibc.malloc.hugetlb wins.
  case "${GLIBC_TUNABLES:-}" in
    *glibc.malloc.hugetlb=*) ;;
    "") export GLIBC_TUNABLES="glibc.malloc.hugetlb=1" ;;
    *) export GLIBC_TUNABLES="$GLIBC_TUNABLES:glibc.malloc.hugetlb=1" ;;
  esac
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
  # Each worker writes "STATUS NANOSECONDS" here when it ends, so that the first of several failures
  # (a killed worker, then the chief that lost it) is the one named.
  local ends
  ends="$(mktemp -d)"
  local pids=()
  set -m # each background worker in its own process group, so a kill reaches its JVM too
  for ((k = 0; k < n; k++)); do
    (
      set +m # everything of this worker (its JVM, the prefixing sed) stays in this one process group
      export TF_CONFIG="{\"cluster\": {\"worker\": $workers}, \"task\": {\"type\": \"worker\", \"index\": $k}}"
      set +e
      (tfdpo_java "$@") 2>&1 | sed -u "s/^/[rank $k] /"
      rc="${PIPESTATUS[0]}"
      echo "$rc $(date +%s%N)" > "$ends/$k"
      exit "$rc"
    ) &
    pids+=("$!")
  done
  set +m
  local stop_all
  stop_all() {
    local p
    # CONT after TERM: a stopped (hung) worker only acts on its pending TERM once continued.
    for p in "${pids[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; kill -CONT -- "-$p" 2>/dev/null || true; done
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
        tfdpo_first_failure "$ends" "$n"
        echo "error: rank $TFDPO_FAILED_RANK exited with status $TFDPO_FAILED_STATUS$(tfdpo_status_hint "$TFDPO_FAILED_STATUS"); stopping the other workers" >&2
        stop_all
        wait 2>/dev/null || true
        rm -rf "$ends"
        return "$TFDPO_FAILED_STATUS"
      fi
    done
    live=("${rest[@]+"${rest[@]}"}")
  done
  rm -rf "$ends"
  return 0
}

# tfdpo_status_hint STATUS: what a worker's exit status means, when it is one of tfdpo's own (printed after it).
tfdpo_status_hint() {
  case "$1" in
    4) echo " (another task did not answer its probes: hung or stopped; its error line names it)" ;;
  esac
}

# tfdpo_first_failure ENDS N: sets TFDPO_FAILED_RANK and TFDPO_FAILED_STATUS to the worker that ended first
# with a non-zero status, from the "STATUS NANOSECONDS" files tfdpo_launch's workers leave in ENDS.
tfdpo_first_failure() {
  local ends="$1" n="$2" k st at first=""
  for ((k = 0; k < n; k++)); do
    [ -s "$ends/$k" ] || continue
    read -r st at < "$ends/$k"
    [ "$st" -ne 0 ] || continue
    if [ -z "$first" ] || [ "$at" -lt "$first" ]; then
      first="$at"; TFDPO_FAILED_RANK="$k"; TFDPO_FAILED_STATUS="$st"
    fi
  done
}

# tfdpo_launch_restarting MAX_RESTARTS N MAIN_CLASS [CONFIG.json] [ARGS...]: tfdpo_launch, and when a worker
# fails (torchrun's --max_restarts), all workers are stopped and all started again, at most MAX_RESTARTS
# times, each restart with --resume_from_checkpoint auto: training continues from output_dir's last
# checkpoint, or, when there is none, starts over with --overwrite_output_dir true when output_dir was empty
# before the first start (what is there is the failed run's) and gives up otherwise. Each worker sees TFDPO_RESTART_COUNT (0 on the first start). A status 2
# (bad config, data or output_dir: the same on every start) or an interrupt is not restarted.
tfdpo_launch_restarting() {
  local max="$1" n="$2" main="$3"; shift 3
  local config=""
  if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then config="$1"; fi
  [ -z "$config" ] && config="$TFDPO_ROOT/configs/default.json"
  local out_dir fresh=0
  out_dir="$(tfdpo_config_value "$config" output_dir "$@")"
  if [ -z "$out_dir" ] || [ ! -d "$out_dir" ] || [ -z "$(ls -A "$out_dir" 2>/dev/null)" ]; then fresh=1; fi
  local args=("$@") attempt=0 rc
  while :; do
    export TFDPO_RESTART_COUNT="$attempt"
    if tfdpo_launch "$n" "$main" "${args[@]+"${args[@]}"}"; then return 0; else rc=$?; fi
    case "$rc" in
      2|130|143) return "$rc" ;;
    esac
    if [ "$attempt" -ge "$max" ]; then
      [ "$max" -gt 0 ] && echo "error: rank $TFDPO_FAILED_RANK exited with status $rc after $max restarts; giving up" >&2
      return "$rc"
    fi
    attempt=$((attempt + 1))
    echo "restart $attempt/$max after rank $TFDPO_FAILED_RANK exited with status $rc$(tfdpo_status_hint "$rc")" >&2
    args=()
    local skip=0 a
    for a in "$@"; do
      if [ "$skip" = 1 ]; then skip=0; continue; fi
      case "$a" in
        --resume_from_checkpoint) skip=1; continue ;;
        --resume_from_checkpoint=*) continue ;;
      esac
      args+=("$a")
    done
    args+=(--resume_from_checkpoint auto)
    if [ -n "$out_dir" ] && compgen -G "$out_dir/checkpoint-*" > /dev/null; then
      echo "restart $attempt/$max: resuming from the last checkpoint in $out_dir" >&2
    elif [ "$fresh" = 1 ]; then
      echo "restart $attempt/$max: no checkpoint in ${out_dir:-output_dir} (set save_steps to keep progress); training starts over" >&2
      args+=(--overwrite_output_dir true)
    else
      echo "error: no checkpoint in $out_dir to resume from, and it held files before this launch, which a restart from scratch would remove; giving up" >&2
      return "$rc"
    fi
  done
}
