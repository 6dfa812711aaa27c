"""Choose `skim_question_layer_scales`: how much of the answer-block budget each layer's question predictor spends.

One threshold t for every layer loses about t of the answer blocks at each layer, but a block dropped after layer 0
saves five layers' work and one dropped after layer 4 saves one, and a predictor that runs costs about an eighth
of a layer (README, Speed). This script scores held-out training questions once (every block at every layer,
no cuts, calibrated P(keep)), then simulates the cascade for per-layer multiples of the default threshold: cost in
token-layers (attention a third of a layer, the FFN after the cut two thirds, plus the predictors that run),
answer kept when every gold block survives. Of every combination of 0 / 1 / 2 / 3 per layer it keeps the one
with the lowest simulated cost whose held-out gold-block survival is at least that of one threshold (or
`--min-gold-alive`). The simulation ignores that a cut changes what later layers
see; `python -m skim bench --model DIR` on dev checks the choice for real.

    .venv/bin/python scripts/held_out_articles.py --output /tmp/held-out.json
    .venv/bin/python scripts/layer_schedule.py --data /tmp/held-out.json --questions 400 --min-gold-alive 0.97 \\
        --output results/layer-schedule.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a plain script from anywhere
from skim.bench import _batch, gold_blocks  # noqa: E402
from skim.calibrate import _answer_windows  # noqa: E402
from skim.data import read_squad_json  # noqa: E402
from skim.fast import FastSkimReader  # noqa: E402
from skim.inference import load_model  # noqa: E402

PREDICTOR_COST = 0.125  # of a layer at the same tokens: bench's predictor_cost_fraction for the question kind
SCALE_GRID = (0.0, 1.0, 2.0, 3.0)


@torch.inference_mode()
def score_windows(model, tokenizer, rows: list[dict]) -> list[dict]:
    """Per answer window: every block's calibrated P(keep) at every layer (NaN: not scored), its gold blocks,
    its passage tokens per block and its length."""
    fast = FastSkimReader(model, predictor="question")
    bs = fast.block_size
    windows = []
    for item in _answer_windows(tokenizer, rows, 384, 128):
        window, (start, end) = item["window"], item["span"]
        batch = _batch([window])
        out = fast(**batch, threshold=0.0)
        blocks = out.keep_probs[0].shape[1]
        passage = (batch["token_type_ids"][0].bool() & batch["attention_mask"][0].bool()).tolist()
        passage += [False] * (blocks * bs - len(passage))
        windows.append(
            {
                "scores": [probs[0].tolist() for probs in out.keep_probs],
                "gold": sorted(gold_blocks(window, start, end, bs)),
                "passage_tokens": [sum(passage[b * bs : (b + 1) * bs]) for b in range(blocks)],
                "length": batch["input_ids"].shape[1],
            }
        )
    return windows


def simulate(windows: list[dict], thresholds: list[float], min_tokens: int) -> dict:
    """The cascade at per-layer `thresholds`: simulated speed-up over the full model and gold-block survival."""
    cost = full = 0.0
    alive_answers = answers = 0
    for w in windows:
        frame = w["length"] - sum(w["passage_tokens"])
        alive = [n > 0 for n in w["passage_tokens"]]
        tokens = w["length"]
        full += len(thresholds) * tokens
        for layer, threshold in enumerate(thresholds):
            tokens_in = tokens
            judged = threshold > 0 and tokens_in >= min_tokens
            if judged:
                for b, p in enumerate(w["scores"][layer]):
                    if alive[b] and not math.isnan(p) and p < threshold:
                        alive[b] = False
                tokens = frame + sum(n for n, a in zip(w["passage_tokens"], alive) if a)
            cost += tokens_in / 3 + 2 * tokens / 3 + (PREDICTOR_COST * tokens_in if judged else 0.0)
        if w["gold"]:
            answers += 1
            alive_answers += all(alive[b] for b in w["gold"])
    return {"speedup": full / cost, "gold_alive": alive_answers / max(answers, 1)}


def search(windows: list[dict], threshold: float, min_gold_alive: float, layers: int, min_tokens: int) -> list:
    """Every combination of `SCALE_GRID` per layer (4,096 for six layers; a coordinate search got stuck, since
    moving budget between layers needs several moves at once): the cheapest whose simulated gold-block survival is
    ≥ `min_gold_alive` (uniform scales if none is)."""
    best, best_speedup = [1.0] * layers, 0.0
    for scales in itertools.product(SCALE_GRID, repeat=layers):
        result = simulate(windows, [threshold * s for s in scales], min_tokens)
        if result["gold_alive"] >= min_gold_alive and result["speedup"] > best_speedup:
            best, best_speedup = list(scales), result["speedup"]
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="held-out training questions (scripts/held_out_articles.py)")
    parser.add_argument("--questions", type=int, default=400)
    parser.add_argument("--model", default=None, help="checkpoint directory (default: the shipped assets/model)")
    parser.add_argument(
        "--min-gold-alive",
        type=float,
        default=None,
        help="simulated gold-block survival to keep (default: that of one threshold at the default, so that the "
        "scales lose no more answer blocks than before)",
    )
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model, tokenizer = load_model(args.model)
    cfg = model.config
    windows = score_windows(model, tokenizer, read_squad_json(args.data)[: args.questions])
    threshold = cfg.skim_question_threshold
    uniform = simulate(windows, [threshold] * cfg.num_hidden_layers, cfg.skim_min_tokens)
    floor = uniform["gold_alive"] if args.min_gold_alive is None else args.min_gold_alive
    scales = search(windows, threshold, floor, cfg.num_hidden_layers, cfg.skim_min_tokens)
    table = []
    for t in (0.005, 0.01, 0.015, 0.02, 0.03):
        for name, s in (("uniform", [1.0] * cfg.num_hidden_layers), ("scaled", scales)):
            table.append({"threshold": t, "scales": name, **simulate(windows, [t * x for x in s], cfg.skim_min_tokens)})
    report = {
        "data": args.data,
        "windows": len(windows),
        "threshold": threshold,
        "min_gold_alive": floor,
        "scales": scales,
        "simulated": table,
    }
    print(json.dumps(report, indent=2))
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
