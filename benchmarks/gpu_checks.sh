#!/usr/bin/env bash
# The figures that need a GPU, in one command on a GPU node (about 5 minutes
# on one H200): the DDP launcher's overhead on one GPU (docs/cluster.md,
# block launcher-overhead) and the EfficientNet-B4 member of
# config/modern.yaml, trained on self-blended fakes, at its batch size
# (docs/models.md, block member-throughput, and the bill's rates file
# resources/rates/member-throughput-<gpu>.json).
#
# Shards first, here (they travel light as JPEG, about 29 MB):
#   .venv/bin/python benchmarks/jpeg_shards.py --split train --out .gpu/shards
#   .venv/bin/python benchmarks/jpeg_shards.py --split val --out .gpu/shards
# then on the GPU node, from the checkout's root:
#   benchmarks/gpu_checks.sh .gpu/shards
# PYTHON names the interpreter (python3); BENCHMARK_COMMIT the commit where
# the copy has no git metadata.
# Each check runs even when the one before failed; the exit status is the
# number of checks that failed.
set -uo pipefail
shards=${1:-.gpu/shards}
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
failed=0
"$py" -c 'import torch; print(torch.__version__, torch.cuda.get_device_name())'
"$py" benchmarks/train_throughput.py --configfile config/modern.yaml \
    --models sbi_b4 --device cuda --size 0 --batch 32 --steps 20 --warmup 2 \
    --workers 7 --shards "$shards/train" --synthetic --write docs/models.md ||
    failed=$((failed + 1))
"$py" benchmarks/launcher_overhead.py --device cuda --shards "$shards" \
    --model dsp_fwa --set input_size=224 batch_size=56 epochs=3 max_steps_per_epoch=null \
    --workers 7 --repeats 2 --write docs/cluster.md ||
    failed=$((failed + 1))
exit "$failed"
