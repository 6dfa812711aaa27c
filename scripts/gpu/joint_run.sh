#!/usr/bin/env bash
# The joint run of issue 15 ("The next default model") in one call on a lent GPU, from the kit of pack_kit.sh:
#   run(command="PYTHONUNBUFFERED=1 bash scripts/gpu/joint_run.sh", carry=["scratch/kit"], timeout_s=600)
# Encoder, QA head and both predictor kinds from the shipped model, half the questions filled to >= 3,000
# characters, bf16 autocast (accelerate picks the GPU), batch 64. A call has 10 minutes, so the learning-rate
# schedule is fitted to end FIT_MINUTES after the training process starts, at the pace measured over its first
# steps (`--fit-minutes`): the run ends annealed and on time, at 1.5 epochs or sooner; TIME_LIMIT and KILL_AFTER
# are the hard stops behind it. The model
# (float16, calibrated on the 1,000 held-out questions), the training log and a quick dev eval go to $OUT.
# The exported config keeps the shipped per-layer threshold scales, which were chosen for the shipped
# predictors: rerun scripts/layer_schedule.py on the new model before shipping it.
# Checked on the CPU (3 steps, ~10 min, most of it preparing the features and calibrating):
#   PYTHON=.venv/bin/python MAX_STEPS=3 OUT=/tmp/joint-check SCRATCH=/tmp/joint-check-scratch \
#     bash scripts/gpu/joint_run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
KIT=${KIT:-scratch/kit}
OUT=${OUT:-/tmp/joint-out}
PYTHON=${PYTHON:-python3}
FIT_MINUTES=${FIT_MINUTES:-7.6}  # from the start of the training process, preparing the features included
TIME_LIMIT=${TIME_LIMIT:-7.5}  # of the training loop alone
KILL_AFTER=${KILL_AFTER:-545}  # seconds from this script's start: what was exported still comes back
BATCH=${BATCH:-64}
LR=${LR:-1e-4}
MAX_STEPS=${MAX_STEPS:-0}  # 0: 1.5 epochs (or where FIT_MINUTES ends it)
SCRATCH=${SCRATCH:-scratch/gpu-run}
RESUME=${RESUME:-0}
started=$(date +%s)
if ! "$PYTHON" -c "import datasets" 2>/dev/null; then  # the image's site-packages may be read-only (device README)
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
    "$KIT"/wheels/*.whl
  export PYTHONPATH=/tmp/site
fi
"$PYTHON" -c "import torch, transformers, accelerate, datasets; print('torch', torch.__version__, 'cuda', \
torch.cuda.is_available(), 'transformers', transformers.__version__, 'datasets', datasets.__version__)"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
extra=()
if [ "$RESUME" = 1 ]; then extra+=(--resume); fi
if [ "$MAX_STEPS" != 0 ]; then extra+=(--max-steps "$MAX_STEPS"); fi
mkdir -p "$OUT"
set +e  # whatever the run exported comes back, also when it fails
SKIM_DEBUG=1 timeout $(( KILL_AFTER - ($(date +%s) - started) )) "$PYTHON" -m skim train --data "$KIT/train.json.gz" --base assets/model \
  --predictor-kinds diagonal question --default-predictor question --lr "$LR" --predictor-lr 1e-3 \
  --batch-size "$BATCH" --grad-accum 1 --epochs 1.5 --join-fraction 0.5 --fill-chars 3000 \
  --skim-threshold 0.3 --mixed-precision bf16 --fit-minutes "$FIT_MINUTES" --time-limit-minutes "$TIME_LIMIT" \
  --checkpoint-minutes 60 --eval-data "$KIT/dev.json.gz" --output "$SCRATCH/model" --scratch "$SCRATCH" \
  "${extra[@]}" > "$OUT/train-stdout.log" 2>&1
echo "train exit $? after $(( $(date +%s) - started )) s"
tail -c 3000 "$OUT/train-stdout.log" | tr '\r' '\n' | grep -v '^$' | tail -25
# $OUT brings back at most 8 files of 16 MiB each: the 45 MB float16 weights travel as 15 MiB parts
# (here: cat model.safetensors.part-* > model.safetensors), beside the small model files and the logs.
split -b 15M -d "$SCRATCH/model/model.safetensors" "$OUT/model.safetensors.part-"
tar -C "$SCRATCH/model" -czf "$OUT/model-files.tgz" config.json tokenizer.json tokenizer_config.json \
  training_args.json
cp "$SCRATCH/log.jsonl" "$OUT/train-log.jsonl"  # the log goes on across resumes: it is the whole run's
sha256sum "$SCRATCH/model/model.safetensors"
ls -la "$OUT"
echo "done after $(( $(date +%s) - started )) s"
