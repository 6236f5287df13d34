#!/usr/bin/env bash
# seqgrad on a GPU machine in under 8 minutes: install, a quick test subset, the main job, the scale benchmarks.
#
#   bash benchmarks/device_check.sh            # from the repository root, on a fresh GPU machine
#   WHEELS=.whl bash benchmarks/device_check.sh  # offline: install missing packages from a folder of wheels
#
# Installs the project with its CUDA extra (`pip install -e '.[cuda,test]'`) unless a GPU JAX is already
# installed (then the project alone, and any wheels in $WHEELS); checks that JAX sees the GPU; then runs, each
# under its own time limit, (1) a quick test subset, (2) the main job cold and warm (`benchmarks/bench_main_job.py`),
# (3) the Jacobian-profile scale rows (`benchmarks/bench_profile.py`), and prints one table of what ran, how long
# it took and how it ended. Nothing in seqgrad depends on this script; it only measures.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-$(mktemp -d)}
declare -a ROWS

step() {  # step NAME LIMIT_S COMMAND...: runs COMMAND under a limit, logs it, records one row
  local name=$1 limit=$2
  shift 2
  local start end rc
  start=$(date +%s.%N)
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  rc=$?
  end=$(date +%s.%N)
  ROWS+=("$(printf '%-14s %8.1f s  exit %-3s %s' "$name" "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')" "$rc" \
    "$(grep -v '^\s*$' "$OUT/$name.log" | tail -n 1 | cut -c1-90)")")
  return $rc
}

if "$PY" -c "import jax, sys; sys.exit(0 if jax.default_backend() == 'gpu' else 1)" 2>/dev/null; then
  if [ -n "${WHEELS:-}" ]; then
    step install 300 "$PY" -m pip install -q --no-index --no-deps --target /tmp/site "$WHEELS"/*.whl
    export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
  else
    step install 300 "$PY" -m pip install -q --no-deps -e .
  fi
else
  step install 300 "$PY" -m pip install -q -e '.[cuda,test]'
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
step device 60 "$PY" -c "import jax; d = jax.devices(); print(jax.__version__, d); assert d[0].platform == 'gpu'"
step tests 150 "$PY" -m pytest -q -x -p no:cacheprovider tests/test_rnn.py tests/test_lstm.py tests/test_gru.py \
  tests/test_stationary_measures.py tests/test_gradflow_profile.py
step main_job 200 "$PY" benchmarks/bench_main_job.py
step profile 100 "$PY" benchmarks/bench_profile.py --only frobenius --T 20000 --remat off

echo
echo "seqgrad device check ($(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1)); logs in $OUT"
printf '%s\n' "${ROWS[@]}"
for name in main_job profile; do
  [ -f "$OUT/$name.log" ] && { echo; echo "== $name"; tail -n 12 "$OUT/$name.log"; }
done
