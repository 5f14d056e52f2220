#!/usr/bin/env bash
# Issue 15 item 4: on a lent NVIDIA machine, ONE device call runs the test suite, the benchmark
# and the PyTorch comparison on the same card, writing everything under $OUT (6 files):
#   env.txt          GPU, driver, node, PyTorch, commit
#   test.log         the test suite (npm test's runner)
#   bench-torch.json models + ops rows, ours and PyTorch (CUDA, fp32, TF32 off) interleaved:
#                    GEMM 4096³ and 1024³ (A·B, A·Bᵀ, Aᵀ·B), the VGG conv layer 64→64 3x3 batch 64
#                    32x32 forward and forward+backward, VGG19 full width 32 px and
#                    FC-DenseNet-103 480x360 training steps, regular and LBD
#   bench-torch.log  its printed tables
#   bench.json/.log  the kernel sections of the benchmark (matmul, conv, step, classify, dispatch, spin)
#
# How to run it (README, "Benchmark"): build, pack the GPU bundle (.gpu/, git-ignored: node,
# dist/, node_modules, the Vulkan loader .debs and run.sh), then one `run` call with
# carry [".gpu"] and the command
#   LBD_COMMIT=<commit> bash .gpu/run.sh bash "$PWD/tasks/bench/gpu-check.sh"
# run.sh unpacks the bundle to /tmp/lbd, points Vulkan at the NVIDIA driver and runs this script
# there; this script finds the repository copy (torch_models.py, an optional newer
# .gpu/dist.tgz) through its own path. Every step has its own timeout (150 + 240 + 90 s) and a
# failed step does not stop the next: call it with timeout_s 600, which leaves no time for a
# second call in a 15-minute lease, so lower ROUNDS/STEPS/RUNS when less device time is left.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
: "${OUT:?OUT must name the folder the results go to}"
PY=${LBD_PYTHON:-python3}
# Overridable for a dry run on a machine without a GPU, e.g. from a folder holding dist/:
#   OUT=/tmp/o CHECK_TESTS=0 TORCH_DEVICE=cpu LBD_PYTHON=/usr/bin/python3 ROWS=matmul-1024 STEPS=1 ROUNDS=1 RUNS=1 BENCH_ONLY=dispatch bash tasks/bench/gpu-check.sh
ROWS=${ROWS:-matmul-4096,matmul-1024,conv-vgg64,vgg19-full,fcdensenet103}
STEPS=${STEPS:-5} ROUNDS=${ROUNDS:-2} RUNS=${RUNS:-10} TORCH_DEVICE=${TORCH_DEVICE:-cuda}
BENCH_ONLY=${BENCH_ONLY:-matmul,conv,step,classify,dispatch,spin}
export PYTHONUNBUFFERED=1

# A dist built after the bundle was packed rides along as .gpu/dist.tgz (tar of dist/).
if [ -f "$repo/.gpu/dist.tgz" ]; then tar xzf "$repo/.gpu/dist.tgz" -C . && echo "dist replaced from .gpu/dist.tgz"; fi
# bench --torch looks for the script beside dist/ (tasks/bench/torch_models.py)
mkdir -p tasks/bench && cp "$here/torch_models.py" tasks/bench/

{
  date -u
  echo "commit: ${LBD_COMMIT:-unknown}"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader || true
  echo "node $(node --version)"
  "$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device")' || echo "no PyTorch with CUDA in $PY"
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

step() { # name, seconds, log file, command...: the command's output goes to the log, its tail here
  local name=$1 secs=$2 log=$3; shift 3
  local t0=$SECONDS
  timeout "$secs" "$@" > "$log" 2>&1
  local rc=$?
  grep -v '^Warning' "$log" | tail -n 40
  echo "== $name: exit $rc after $((SECONDS - t0)) s" | tee -a "$OUT/env.txt"
}

[ "${CHECK_TESTS:-1}" = 1 ] && step tests 150 "$OUT/test.log" node --no-use-osr dist/test/run.js

step bench-torch 240 "$OUT/bench-torch.log" node --no-use-osr dist/tasks/bench.js --only models,ops \
  --rows "$ROWS" --torch --python "$PY" --torch-device "$TORCH_DEVICE" --rounds "$ROUNDS" --steps "$STEPS" --heavy-steps "$STEPS" --runs "$RUNS" \
  --json "$OUT/bench-torch.json"

step bench 90 "$OUT/bench.log" node --no-use-osr dist/tasks/bench.js --only "$BENCH_ONLY" --runs 3 --json "$OUT/bench.json"
