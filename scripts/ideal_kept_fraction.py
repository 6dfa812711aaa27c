"""The kept fraction a *perfect* skim predictor would reach on a SQuAD file: layer 0 runs on the whole input,
then only the blocks holding gold-answer tokens and the blocks without passage text (the question) stay. This is
the floor of `kept_fraction` for a model of this depth and block size, so it tells inputs apart from predictors.
Inputs are the benchmark's `--native` ones: each question's window that holds its answer, as the Reader cuts it.

    .venv/bin/python scripts/ideal_kept_fraction.py --data ../shared/data/squad/dev-v1.1.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from transformers import AutoConfig, AutoTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a plain script from anywhere
from skim.bench import bench_inputs, gold_blocks  # noqa: E402
from skim.data import read_squad_json  # noqa: E402
from skim.inference import DEFAULT_MODEL  # noqa: E402
from skim.qa import Window  # noqa: E402


def ideal_kept_fraction(window: Window, start: int, end: int, block_size: int, layers: int) -> float:
    tokens = len(window.input_ids)
    keep = gold_blocks(window, start, end, block_size)
    kept = 0
    for first in range(0, tokens, block_size):
        span = window.offsets[first : first + block_size]
        if first // block_size in keep or all(o is None for o in span):
            kept += len(span)
    return (tokens + (layers - 1) * kept) / (layers * tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", default=str(DEFAULT_MODEL))
    parser.add_argument("--max-length", type=int, default=384)
    args = parser.parse_args()
    config = AutoConfig.from_pretrained(args.model)
    rows = read_squad_json(args.data)
    items = bench_inputs(AutoTokenizer.from_pretrained(args.model), rows, args.max_length, len(rows), native=True)
    fractions = [
        ideal_kept_fraction(item["window"], *item["span"], config.skim_block_size, config.num_hidden_layers)
        for item in items
    ]
    mean = sum(fractions) / len(fractions)
    under_half = sum(f <= 0.5 for f in fractions) / len(fractions)
    print(f"{len(fractions)} questions: ideal kept fraction {mean:.3f} on average, <= 0.5 for {100 * under_half:.1f} %")


if __name__ == "__main__":
    main()
