#!/usr/bin/env bash
# The whole test suite, as CI runs it (.ci/run calls this script):
#   1. every test with TensorFlow's oneDNN kernels forced on (what AVX-512 VNNI/BF16 and AMX CPUs run by
#      default; oneDNN also runs on AVX2, so any x86 machine checks this mode);
#   2. the numerical-parity test classes again with oneDNN forced off (what AVX2-only CPUs run).
# Extra arguments go to both Maven runs (e.g. -o for offline).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Test classes whose numbers depend on the kernels: goldens from TRL, bitwise-equal paths, curves.
PARITY="LlamaLogitsGoldenTest,LossFormulaTest,DpoSingleBatchGoldenTest,LossGoldenTest,EvaluatorTest,\
EvaluationRunTest,PackedLogProbsTest,ReferenceGraphTest,TrlCurveParityTest,PackedCurveParityTest,Bf16CurveTest,\
RewardCurveGoldenTest,RewardTrainerTest,KtoParityTest,KtoTrlOptionsTest,LoraCurveParityTest"

echo "== tests, oneDNN on (TF_ENABLE_ONEDNN_OPTS=1) =="
TF_ENABLE_ONEDNN_OPTS=1 mvn -B "$@" test

echo "== numerical-parity tests, oneDNN off (TF_ENABLE_ONEDNN_OPTS=0) =="
# -Dtest selects in every surefire execution; XlaTest's own execution is not a parity run.
TF_ENABLE_ONEDNN_OPTS=0 mvn -B "$@" test -Dtest="$PARITY" -Dsurefire.failIfNoSpecifiedTests=false \
  -Dtfdpo.skipXlaExecution=true
