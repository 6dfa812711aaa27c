#!/usr/bin/env bash
# Pack what a GPU machine without network needs for the joint run of issue 15 (scripts/gpu/joint_run.sh) into
# scratch/kit (ignored by git; carry it): the SQuAD files gzipped (the trainer reads *.json.gz) and wheels of the
# packages the device image lacks (datasets and its two pure-Python dependencies; .library/device/KINDS.md lists
# what the image has). About 11 MB; the tracked tree is about 48 MB, under the 64 MiB a call may carry.
set -euo pipefail
cd "$(dirname "$0")/../.."
KIT=${KIT:-scratch/kit}
SQUAD=${SQUAD:-../shared/data/squad}
mkdir -p "$KIT/wheels"
gzip -9c "$SQUAD/train-v1.1-reconstructed.json" > "$KIT/train.json.gz"
gzip -9c "$SQUAD/dev-v1.1.json" > "$KIT/dev.json.gz"
.venv/bin/pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
  --platform manylinux2014_x86_64 --dest "$KIT/wheels" datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19
du -sh "$KIT"
