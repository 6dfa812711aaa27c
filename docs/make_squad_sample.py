"""Rebuild `assets/squad-dev-sample.json`: `python docs/make_squad_sample.py PATH/TO/dev-v1.1.json`.

Whole paragraphs (every question of each) drawn at random with a fixed seed until exactly `--questions`
questions, kept in the official file's order, format and ids, so any row can be found in the full dev set.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "assets" / "squad-dev-sample.json"


def sample(dev: dict, questions: int, seed: int) -> dict:
    places = [(a, p) for a, article in enumerate(dev["data"]) for p in range(len(article["paragraphs"]))]
    random.Random(seed).shuffle(places)
    chosen, total = set(), 0
    for a, p in places:
        n = len(dev["data"][a]["paragraphs"][p]["qas"])
        if total + n <= questions:  # skip a paragraph that would overshoot; a smaller one will fit later
            chosen.add((a, p))
            total += n
        if total == questions:
            break
    data = []
    for a, article in enumerate(dev["data"]):
        paragraphs = [para for p, para in enumerate(article["paragraphs"]) if (a, p) in chosen]
        if paragraphs:
            data.append({"title": article["title"], "paragraphs": paragraphs})
    return {"version": dev["version"], "data": data}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dev", help="the official SQuAD v1.1 dev-v1.1.json")
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--seed", type=int, default=2016)
    parser.add_argument("--output", default=str(OUT))
    args = parser.parse_args()
    dev = json.loads(Path(args.dev).read_text(encoding="utf-8"))
    out = sample(dev, args.questions, args.seed)
    Path(args.output).write_text(json.dumps(out, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    n_par = sum(len(a["paragraphs"]) for a in out["data"])
    print(f"{args.questions} questions from {n_par} paragraphs of {len(out['data'])} articles -> {args.output}")


if __name__ == "__main__":
    main()
