"""Calibrate a model's question predictors again, on this machine, on the training questions that
`python -m skim train` holds out (whole articles from the end of the training file, with training's long-passage
augmentation), and save the model in place. `skim train` calibrates at every checkpoint already; this is for a
model trained elsewhere, e.g. on a GPU whose calibration pass should be checked against the CPU's:

    .venv/bin/python scripts/calibrate_model.py --model /tmp/gpu-model

Prints the per-layer held-out AUC and the answer blocks counted, as the training log records them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from datasets import Dataset
from transformers import AutoTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a plain script from anywhere
from skim.calibrate import calibrate  # noqa: E402
from skim.data import read_squad_json  # noqa: E402
from skim.modeling import BlockSkimForQuestionAnswering  # noqa: E402
from skim.train import TrainConfig, augment, hold_out_articles  # noqa: E402

SQUAD = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "squad"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", default=str(SQUAD / "train-v1.1-reconstructed.json"))
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--join-fraction", type=float, default=0.5)
    parser.add_argument("--fill-chars", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output", help="also write the report to this JSON file")
    args = parser.parse_args()
    cfg = TrainConfig(output="", join_fraction=args.join_fraction, fill_chars=args.fill_chars, seed=args.seed)
    _, held_out = hold_out_articles(Dataset.from_list(read_squad_json(args.data)), args.questions)
    rows = list(augment(held_out, cfg))
    model = BlockSkimForQuestionAnswering.from_pretrained(args.model, use_safetensors=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    report = calibrate(model, tokenizer, rows)
    # Float16 as shipped: the quantiles are stored in the model's own dtype, as `skim train` exports them.
    model.half().save_pretrained(args.model)
    text = json.dumps(report, indent=2)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")


if __name__ == "__main__":
    main()
