"""Where skimming's F1 loss comes from: answer blocks dropped, or the rest of the passage gone from later layers.

Every bench input (`skim bench`'s 384-token joined dev inputs) is read once without skimming, then on the fast
path with each per-layer schedule of the question kind (`--scales`, one multiple of `--threshold` per layer, as
`skim_question_layer_scales`) and with the paper's kind at each `--diagonal` threshold. The F1 lost is split between the questions whose answer blocks all survived to
the last layer and those that lost one. A loss on questions whose answer block survived is the cost of removing
other blocks: the later layers no longer see them. Measured this way, cuts after layers 0–2 cost about half an F1
point even where the answer block survived, and cuts after layers 3–5 cost nothing measurable (README, Speed).

    .venv/bin/python scripts/skim_loss_split.py --n 500 --scales 3,0,0,1,1,3 0.5,0,0,1,1.5,1.5 0,0,0,1,1.5,1.5 \\
        --diagonal 0.3 --output results/skim-loss-split.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a plain script from anywhere
from skim.bench import _answer_f1, _batch, bench_inputs, gold_blocks  # noqa: E402
from skim.cli import DEV_SET  # noqa: E402
from skim.data import read_squad_json  # noqa: E402
from skim.fast import FastSkimReader  # noqa: E402
from skim.inference import load_model  # noqa: E402


def answer_f1(read, item: dict) -> float:
    return _answer_f1(read.start_logits[0], read.end_logits[0], item)


@torch.inference_mode()
def full_f1s(fast: FastSkimReader, items: list[dict]) -> list[float]:
    """F1 of the full model (no skimming) per item: the same for every schedule, so read once."""
    return [answer_f1(fast(**_batch([item["window"]]), skim=False), item) for item in tqdm(items, desc="full model")]


@torch.inference_mode()
def loss_split(fast: FastSkimReader, items: list[dict], full: list[float], threshold: float) -> dict:
    """F1 of the full (`full`, per item) and the skimming read over `items`, and the F1 lost on questions whose
    answer blocks all survived (`loss_gold_alive`) and on the others (`loss_gold_dropped`), both as points over all
    questions."""
    skim, alive, work = [], [], []
    for item in tqdm(items, desc=f"threshold {threshold}", unit="question", leave=False):
        read = fast(**_batch([item["window"]]), threshold=threshold)
        skim.append(answer_f1(read, item))
        work.append(float(read.layer_tokens.float().mean()) / len(item["window"].input_ids))
        gold = gold_blocks(item["window"], *item["span"], fast.block_size)
        alive.append(all(bool(read.alive[-1][0, b]) for b in gold))
    n = len(items)
    lost = [f - s for f, s in zip(full, skim)]
    return {
        "n": n,
        "f1_full": 100 * sum(full) / n,
        "f1_skim": 100 * sum(skim) / n,
        "gold_alive": sum(alive) / n,
        "kept_fraction": sum(work) / n,  # token-layers read over those of the full model
        "loss_gold_alive": 100 * sum(x for x, a in zip(lost, alive) if a) / n,
        "loss_gold_dropped": 100 * sum(x for x, a in zip(lost, alive) if not a) / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="checkpoint directory (default: the shipped assets/model)")
    parser.add_argument("--data", default=str(DEV_SET))
    parser.add_argument("--n", type=int, default=500, help="questions asked (bench's spread over the dev set)")
    parser.add_argument("--threshold", type=float, default=0.01)
    parser.add_argument("--scales", nargs="*", default=[], help="per-layer multiples, comma-separated")
    parser.add_argument("--diagonal", type=float, nargs="*", default=[], help="the paper's kind at these thresholds")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, tokenizer = load_model(args.model)
    items = bench_inputs(tokenizer, read_squad_json(args.data), 384, args.n)
    runs = [("question", text, args.threshold) for text in args.scales] + [("diagonal", None, t) for t in args.diagonal]
    readers = {kind: FastSkimReader(model, predictor=kind) for kind, _, _ in runs}  # only the kinds asked for
    full = full_f1s(FastSkimReader(model), items)
    rows = []
    for kind, text, threshold in runs:
        scales = None  # the paper's kind: one threshold for every layer
        if text is not None:  # the reader reads the config's scales on every call
            scales = model.config.skim_question_layer_scales = [float(x) for x in text.split(",")]
        row = loss_split(readers[kind], items, full, threshold)
        rows.append({"predictor": kind, "threshold": threshold, "scales": scales, **row})
        print(json.dumps(rows[-1]))
    if args.output:
        Path(args.output).write_text(json.dumps({"rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
