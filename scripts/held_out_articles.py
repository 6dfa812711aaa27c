"""Write the training questions that `python -m skim train` holds out for calibration (whole articles from the end
of the training file, `--calibration-questions`, default 1000) as an official-format SQuAD file, with the same
long-passage augmentation as training, so that thresholds can be chosen on questions the predictors never saw
and without touching the dev set:

    .venv/bin/python scripts/held_out_articles.py --output /tmp/held-out.json
    .venv/bin/python -m skim eval --data /tmp/held-out.json --predictor question --sweep 0.01 0.02 0.05
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from datasets import Dataset

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a plain script from anywhere
from skim.data import read_squad_json  # noqa: E402
from skim.train import TrainConfig, augment, hold_out_articles  # noqa: E402

SQUAD = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "squad"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(SQUAD / "train-v1.1-reconstructed.json"))
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--join-fraction", type=float, default=0.5)
    parser.add_argument("--fill-chars", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    cfg = TrainConfig(output="", join_fraction=args.join_fraction, fill_chars=args.fill_chars, seed=args.seed)
    _, held_out = hold_out_articles(Dataset.from_list(read_squad_json(args.data)), args.questions)
    articles: dict[str, list] = {}
    for row in augment(held_out, cfg):
        paragraphs = articles.setdefault(row["title"], [])
        answers = [
            {"text": t, "answer_start": s} for t, s in zip(row["answers"]["text"], row["answers"]["answer_start"])
        ]
        paragraphs.append(
            {"context": row["context"], "qas": [{"id": row["id"], "question": row["question"], "answers": answers}]}
        )
    data = [{"title": title, "paragraphs": paragraphs} for title, paragraphs in articles.items()]
    Path(args.output).write_text(json.dumps({"version": "1.1", "data": data}))
    print(f"wrote {sum(len(a['paragraphs']) for a in data)} questions from {len(data)} articles to {args.output}")


if __name__ == "__main__":
    main()
