"""The kept fraction a *perfect* skim predictor would reach on a SQuAD file: layer 0 runs on the whole input,
then only the blocks holding gold-answer tokens and the blocks without passage text (the question) stay. This is
the floor of `kept_fraction` for the shipped 6-layer model, so it tells inputs apart from predictors.

    .venv/bin/python scripts/ideal_kept_fraction.py --data ../shared/data/squad/dev-v1.1.json
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from transformers import AutoTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a plain script from anywhere
from skim.data import read_squad_json  # noqa: E402


def ideal_kept_fraction(sequence_ids: list, offsets: list, answer: tuple[int, int], block: int, layers: int) -> float:
    tokens = len(sequence_ids)
    kept = 0
    for start in range(0, tokens, block):
        span = range(start, min(tokens, start + block))
        passage = [t for t in span if sequence_ids[t] == 1]
        holds_answer = any(offsets[t][0] < answer[1] and offsets[t][1] > answer[0] for t in passage)
        if not passage or holds_answer:
            kept += len(span)
    return (tokens + (layers - 1) * kept) / (layers * tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", default="assets/model")
    parser.add_argument("--max-length", type=int, default=384)
    args = parser.parse_args()
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    rows = read_squad_json(args.data)
    encoded = tokenizer(
        [r["question"] for r in rows], [r["context"] for r in rows],
        truncation="only_second", max_length=args.max_length, return_offsets_mapping=True,
    )
    fractions = []
    for i, row in enumerate(rows):
        start = row["answers"]["answer_start"][0]
        answer = (start, start + len(row["answers"]["text"][0]))
        fractions.append(ideal_kept_fraction(encoded.sequence_ids(i), encoded["offset_mapping"][i], answer, 32, 6))
    mean = sum(fractions) / len(fractions)
    under_half = sum(f <= 0.5 for f in fractions) / len(fractions)
    print(f"{len(fractions)} questions: ideal kept fraction {mean:.3f} on average, <= 0.5 for {100 * under_half:.1f} %")


if __name__ == "__main__":
    main()
