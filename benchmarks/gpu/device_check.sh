#!/usr/bin/env bash
# Everything braggdesk wants from a lent GPU machine, in one call (the device tool's `run`):
#
#   run(command="bash benchmarks/gpu/device_check.sh", carry=[".whl"], timeout_s=540)
#
# Before the call, on the development machine, fetch the pure-Python wheels the device image lacks
# (it has numpy, scipy, numba, numba-cuda, CuPy, pytest; see shared/PLATFORM.md):
#
#   pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl pydicom
#
# It writes under $OUT: nvidia-smi.txt, gpu_tests.txt (the gpu-marked tests), bench_gpu.json
# (`braggdesk bench --device gpu`), throughput_gpu.json and throughput_cpu.json (kernel primaries/s
# by batch size, the machine's CPU cores for the ratio), the same for the track-repeating engine
# (throughput_*_track_repeat.json), dij_check.json (the planning matrix on GPU and CPU: identical?, histories/s),
# ptxas.txt (registers and local memory of the CUDA kernel) and
# summary.txt.  Each step has its own time limit, so one stuck step leaves
# the others' results.
set -u
OUT=${OUT:-/tmp/braggdesk-gpu-out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
for candidate in /opt/torch/.venv/bin/python3 python3; do
  if command -v "$candidate" >/dev/null 2>&1; then PY=$candidate; break; fi
done
DEPS=$PWD/.deps
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-deps --target "$DEPS" .whl/*.whl > "$OUT/deps.txt" 2>&1
fi
export PYTHONPATH=$PWD/src:$DEPS${PYTHONPATH:+:$PYTHONPATH}
export BRAGGDESK_CACHE_DIR=/tmp/braggdesk-kernel-cache
# The device tool runs one command for at most 600 s and lends 15 minutes in all: the steps come in the order
# of what is wanted most (the track-repeating engine against the full engine on the GPU first), each cut to
# what is left of BUDGET_S, so a slow step never costs the ones after it all their time.
BUDGET_S=${BUDGET_S:-530}
step() {  # step NAME SECONDS COMMAND...: run with a limit (and within the budget), keep its output
  local name=$1 limit=$2
  shift 2
  local left=$((BUDGET_S - SECONDS))
  if [ "$left" -lt 15 ]; then
    echo "$name: skipped, $left s of the budget left" | tee -a "$OUT/summary.txt"
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  local t0=$SECONDS
  timeout "$limit" "$@" > "$OUT/$name.txt" 2>&1
  echo "$name: exit $? in $((SECONDS - t0)) s" | tee -a "$OUT/summary.txt"
}
step nvidia-smi 20 nvidia-smi
step versions 60 "$PY" -c "import sys, numpy, numba; from numba import cuda; print(sys.version); print('numpy', numpy.__version__, 'numba', numba.__version__); print(cuda.detect())"
# the track-repeating engine (issue 15) against the full engine on the same job, GPU first (its database is
# recorded on the CPU cores), then the same on the machine's CPU cores for the ratio there
export BRAGGDESK_TRACKS_DIR=/tmp/braggdesk-tracks
step throughput_gpu 150 "$PY" benchmarks/gpu/throughput.py --device gpu --json "$OUT/throughput_gpu.json"
step throughput_gpu_track_repeat 150 "$PY" benchmarks/gpu/throughput.py --device gpu --engine track-repeat --json "$OUT/throughput_gpu_track_repeat.json"
step throughput_cpu 90 "$PY" benchmarks/gpu/throughput.py --device cpu --sizes 200000,800000 --json "$OUT/throughput_cpu.json"
step throughput_cpu_track_repeat 90 "$PY" benchmarks/gpu/throughput.py --device cpu --engine track-repeat --sizes 200000,800000 --json "$OUT/throughput_cpu_track_repeat.json"
step bench_gpu 150 "$PY" -m braggdesk bench --device gpu --cases engine --json "$OUT/bench_gpu.json"
# the planning dose-influence matrix (issue 14): GPU against CPU cores, bit for bit, and histories per second
step dij_check 150 "$PY" benchmarks/gpu/dij_check.py --devices gpu cpu --json "$OUT/dij_check.json"
step gpu_tests 150 "$PY" -m pytest -q -p no:cacheprovider -m gpu tests/engine/test_simulate.py tests/analysis/test_gamma.py
PTXAS=$(command -v ptxas || ls /usr/local/cuda*/bin/ptxas 2>/dev/null | head -1)
if [ -n "$PTXAS" ]; then
  step ptx 240 "$PY" tests/engine/cuda_checks.py ptx "$OUT/kernel.ptx"
  step ptxas 120 "$PTXAS" -v -arch=sm_90 "$OUT/kernel.ptx" -o /dev/null
fi
cat "$OUT/summary.txt"
