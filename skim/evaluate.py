"""SQuAD v1.1 evaluation of one reader with and without skimming, at batch size 1 as the app runs it."""

from __future__ import annotations

import logging
import time

from tqdm.auto import tqdm

from .inference import Reader
from .metrics import best_over_truths, f1_score, squad_scores

logger = logging.getLogger(__name__)


def run_questions(reader: Reader, rows: list[dict], threshold: float | None, skim: bool, desc: str) -> dict:
    """Answer every row; returns predictions, per-question F1, whether the gold block survived, and totals."""
    predictions, f1s, gold_alive, processed, total = [], [], [], 0, 0
    start = time.perf_counter()
    for row in tqdm(rows, desc=desc, unit="q", leave=False):
        trace = reader(row["question"], row["context"], threshold=threshold, skim=skim, attention="none")
        text = trace.answer.text if trace.answer else ""
        predictions.append(text)
        f1s.append(best_over_truths(f1_score, text, row["answers"]["text"]))
        gold_alive.append(gold_block_survives(trace, row["answers"]["answer_start"][0]))
        tokens = sum(len(w.tokens) for w in trace.windows) * trace.num_layers
        processed += trace.kept_fraction * tokens
        total += tokens
    seconds = time.perf_counter() - start
    scores = squad_scores(predictions, [r["answers"]["text"] for r in rows])
    return {
        **scores,
        "seconds": seconds,
        "kept_fraction": processed / total if total else 1.0,
        "gold_block_alive": sum(gold_alive) / len(gold_alive) if gold_alive else 1.0,
        "predictions": predictions,
        "f1_per_question": f1s,
    }


def gold_block_survives(trace, answer_start: int) -> bool:
    """True when some window's block holding the gold answer's first character is alive after the last layer."""
    last = set(trace.layers[-1].kept_blocks)
    holders = [b.id for b in trace.blocks if b.start_char <= answer_start < b.end_char]
    return any(h in last for h in holders) if holders else True


def evaluate(reader: Reader, rows: list[dict], threshold: float | None = None) -> dict:
    """`{"n", "full": {...}, "skim": {...}, "speedup"}` on the SQuAD 0-100 scale; speedup = full s ÷ skim s.
    A one-threshold `sweep`, reshaped to the CLI's `eval` contract."""
    threshold = reader.model.config.skim_threshold if threshold is None else threshold
    result = sweep(reader, rows, [threshold])
    point = result["skim"][0]
    return {
        "n": result["n"],
        "threshold": threshold,
        "full": result["full"],
        "skim": {k: point[k] for k in ("exact_match", "f1", "seconds", "kept_fraction", "gold_block_alive")},
        "speedup": point["speedup"],
        "same_answer": point["same_answer"],
    }


def sweep(reader: Reader, rows: list[dict], thresholds: list[float]) -> dict:
    """The full model once, then skimming at each threshold: the accuracy/work trade-off table of the model card."""
    full = run_questions(reader, rows, None, skim=False, desc="full model")
    points = []
    for threshold in thresholds:
        skim = run_questions(reader, rows, threshold, skim=True, desc=f"skimming @ {threshold:g}")
        points.append(
            {
                "threshold": threshold,
                **{k: skim[k] for k in ("exact_match", "f1", "seconds", "kept_fraction", "gold_block_alive")},
                "speedup": full["seconds"] / skim["seconds"] if skim["seconds"] else float("nan"),
                "same_answer": sum(a == b for a, b in zip(full["predictions"], skim["predictions"])) / max(len(rows), 1),
            }
        )
    return {"n": len(rows), "full": {k: full[k] for k in ("exact_match", "f1", "seconds")}, "skim": points}
