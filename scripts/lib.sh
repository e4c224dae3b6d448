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

# tfdpo_java MAIN_CLASS [ARGS...]: build if needed, then run.
tfdpo_java() {
  tfdpo_build || exit 1
  local main="$1"; shift
  export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
  # oneDNN's kernels are the faster set on every x86 CPU measured (TensorFlow only turns them on by itself
  # where VNNI, BF16 or AMX exist) and give the same numbers (README, "oneDNN"); the user's value wins.
  export TF_ENABLE_ONEDNN_OPTS="${TF_ENABLE_ONEDNN_OPTS:-1}"
  exec java ${TFDPO_JAVA_OPTS:--Xmx8g} -Dtfdpo.root="$TFDPO_ROOT" -cp "$(tfdpo_classpath)" "$main" "$@"
}
