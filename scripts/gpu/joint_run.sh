#!/usr/bin/env bash
# The joint run of issue 15 ("The next default model") in one call on a lent GPU, from the kit of pack_kit.sh:
#   run(command="PYTHONUNBUFFERED=1 bash scripts/gpu/joint_run.sh", carry=["scratch/kit"], timeout_s=600)
# Encoder, QA head and both predictor kinds from the shipped model, half the questions filled to >= 3,000
# characters, bf16 autocast (accelerate picks the GPU). It stops itself after MINUTES of training and exports a
# float16 model; the scratch (optimizer, data order, schedule) stays on the machine under scratch/gpu-run, so a
# second call on the same warm machine with RESUME=1 continues where the first stopped. The model, the training
# log and the config go to $OUT. The exported config keeps the shipped per-layer threshold scales, which were
# chosen for the shipped predictors: rerun scripts/layer_schedule.py on the new model before shipping it.
# Checked on the CPU (2 steps, 6 min, most of it preparing the features):
#   PYTHON=.venv/bin/python MAX_STEPS=2 MINUTES=3 OUT=/tmp/joint-check SCRATCH=/tmp/joint-check-scratch \
#     bash scripts/gpu/joint_run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
KIT=${KIT:-scratch/kit}
OUT=${OUT:-/tmp/joint-out}
PYTHON=${PYTHON:-python3}
MINUTES=${MINUTES:-7}
MAX_STEPS=${MAX_STEPS:-8100}  # 1.5 epochs of the ~172k augmented features at batch 32
SCRATCH=${SCRATCH:-scratch/gpu-run}
RESUME=${RESUME:-0}
if ! "$PYTHON" -c "import datasets" 2>/dev/null; then  # the image's site-packages may be read-only (device README)
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    "$KIT"/wheels/*.whl
  export PYTHONPATH=/tmp/site
fi
"$PYTHON" -c "import torch, transformers, accelerate, datasets; print('torch', torch.__version__, 'cuda', \
torch.cuda.is_available(), 'transformers', transformers.__version__, 'datasets', datasets.__version__)"
extra=()
if [ "$RESUME" = 1 ]; then extra+=(--resume); fi
"$PYTHON" -m skim train --data "$KIT/train.json.gz" --base assets/model \
  --predictor-kinds diagonal question --default-predictor question --lr 5e-5 --predictor-lr 1e-3 \
  --batch-size 32 --grad-accum 1 --epochs 1.5 --max-steps "$MAX_STEPS" --join-fraction 0.5 --fill-chars 3000 \
  --skim-threshold 0.3 --mixed-precision bf16 --time-limit-minutes "$MINUTES" --checkpoint-minutes 3 \
  --eval-data "$KIT/dev.json.gz" --output "$SCRATCH/model" --scratch "$SCRATCH" "${extra[@]}" 2>&1 | tail -40
# $OUT brings back at most 8 files of 16 MiB each: the 45 MB float16 weights travel as 15 MiB parts
# (here: cat model.safetensors.part-* > model.safetensors), beside the four small model files and the log.
mkdir -p "$OUT"
split -b 15M -d "$SCRATCH/model/model.safetensors" "$OUT/model.safetensors.part-"
cp "$SCRATCH/model/config.json" "$SCRATCH/model/tokenizer.json" "$SCRATCH/model/tokenizer_config.json" \
  "$SCRATCH/model/training_args.json" "$OUT/"
cp "$SCRATCH/log.jsonl" "$OUT/train-log.jsonl"  # the log goes on across resumes: it is the whole run's
sha256sum "$SCRATCH/model/model.safetensors"
ls -la "$OUT"
