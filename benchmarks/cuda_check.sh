#!/usr/bin/env bash
# The CUDA checks, in one run on a machine with a GPU (results under $OUT, default ./runs/cuda):
# the gpu-marked tests, then bench_kipf.py and bench_temporal.py on the device against PyG and
# PyG Temporal in the same process, eager and with each training step replayed as a CUDA graph.
# Needs the raw datasets at $GCNKIT_DATA and, where the torch-geometric-temporal package cannot
# be installed, copies of its temporalgcn.py, gconv_gru.py and gconv_lstm.py in $PYGT_SRC.
#     GCNKIT_DATA=../shared/datasets PYGT_SRC=path/to/nn/recurrent bash benchmarks/cuda_check.sh
set -o pipefail
OUT=${OUT:-runs/cuda}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
nvidia-smi -L
$PY -c "import sys, torch, torch_geometric as g; print(sys.version.split()[0], torch.__version__, g.__version__, torch.cuda.get_device_name())"
echo "== gpu-marked tests"
$PY -m pytest -q -m gpu -rfE -p no:cacheprovider tests 2>&1 | tee "$OUT/gpu_tests.log" | tail -60
status=${PIPESTATUS[0]}
echo "== bench_kipf on cuda"
$PY benchmarks/bench_kipf.py --device cuda --cuda-graph --threads "$(nproc)" --rounds 3 --out "$OUT/kipf_cuda.json" 2>&1 \
    | tee "$OUT/kipf_cuda.log" || status=1
echo "== bench_temporal on cuda"
$PY benchmarks/bench_temporal.py --device cuda --cuda-graph --threads "$(nproc)" --repeat 5 ${PYGT_SRC:+--pygt-src "$PYGT_SRC"} \
    --out "$OUT/temporal_cuda.json" 2>&1 | tee "$OUT/temporal_cuda.log" || status=1
exit "$status"  # non-zero when a test failed or a benchmark did not finish
