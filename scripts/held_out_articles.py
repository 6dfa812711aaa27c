"""Write the training questions that `python -m skim train` holds out for calibration (whole articles from the end
of the training file, `--calibration-questions`, default 1000) as an official-format SQuAD file, with the same
long-passage augmentation as training, so that thresholds can be chosen on questions the predictors never saw
and without touching the dev set:

    .venv/bin/python scripts/held_out_articles.py --output /tmp/held-out.json
    .venv/bin/python -m skim eval --data /tmp/held-out.json --predictor question --sweep 0.01 0.02 0.05

`--whole-articles` asks each question of its whole article instead (all its paragraphs joined in order, as
`bench --articles` does), no augmentation, every `--every`-th question, to choose how skimming treats passages of
many windows (`skim_question_many_windows_scale`) on questions the predictors never saw:

    .venv/bin/python scripts/held_out_articles.py --whole-articles --every 5 --output /tmp/held-out-whole.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from datasets import Dataset

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a plain script from anywhere
from skim.data import article_paragraphs, article_text, paragraph_offset, read_squad_json  # noqa: E402
from skim.train import TrainConfig, augment, hold_out_articles  # noqa: E402

SQUAD = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "squad"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(SQUAD / "train-v1.1-reconstructed.json"))
    parser.add_argument("--questions", type=int, default=1000)
    parser.add_argument("--join-fraction", type=float, default=0.5)
    parser.add_argument("--fill-chars", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--whole-articles", action="store_true", help="each question against its whole article")
    parser.add_argument("--every", type=int, default=1, help="keep every N-th held-out question")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    cfg = TrainConfig(output="", join_fraction=args.join_fraction, fill_chars=args.fill_chars, seed=args.seed)
    _, held_out = hold_out_articles(Dataset.from_list(read_squad_json(args.data)), args.questions)
    rows = whole_articles(held_out) if args.whole_articles else augment(held_out, cfg)
    articles: dict[str, list] = {}
    for row in list(rows)[:: max(1, args.every)]:
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


def whole_articles(rows) -> list[dict]:
    """Each row asked of its whole article: the article's paragraphs in order joined with a blank line (as
    `skim.bench_articles.article_inputs` joins them), the answer starts moved by the text before the paragraph."""
    paragraphs = article_paragraphs(rows["title"], rows["context"])
    out = []
    for row in rows:
        article = paragraphs[row["title"]]
        offset = paragraph_offset(article, row["context"])
        starts = [s + offset for s in row["answers"]["answer_start"]]
        out.append({**row, "context": article_text(article), "answers": {**row["answers"], "answer_start": starts}})
    return out


if __name__ == "__main__":
    main()
