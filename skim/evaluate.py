"""SQuAD v1.1 evaluation of one reader with and without skimming, at batch size 1 as the app runs it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from tqdm.auto import tqdm

from .inference import Reader
from .metrics import best_over_truths, exact_match, f1_score, squad_scores

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # on_progress(done, total), called after each question


def run_questions(
    reader: Reader,
    rows: list[dict],
    threshold: float | None,
    skim: bool,
    desc: str,
    on_progress: Progress | None = None,
    skim_layers: Sequence[int] | None = None,
    predictor: str | None = None,
) -> dict:
    """Answer every row; returns predictions, totals, and per question: EM, F1, the gold answer's block (its id
    and the layer that dropped it, `None` = alive or unknown) and milliseconds (the whole `reader` call).
    `predictor`: the kind that judges (None: the reader's default); `"predictor"` in the result is the kind that
    did, as the traces record it."""
    predictions, ems, f1s, gold_blocks, gold_dropped_at, ms, processed, total = [], [], [], [], [], [], 0, 0
    judged_by = predictor
    start = time.perf_counter()
    for i, row in enumerate(tqdm(rows, desc=desc, unit="q", leave=False)):
        t = time.perf_counter()
        trace = reader(
            row["question"],
            row["context"],
            threshold=threshold,
            skim=skim,
            attention="none",
            skim_layers=skim_layers,
            predictor=predictor,
        )
        ms.append((time.perf_counter() - t) * 1000)
        judged_by = trace.predictor
        text = trace.answer.text if trace.answer else ""
        predictions.append(text)
        ems.append(best_over_truths(exact_match, text, row["answers"]["text"]))
        f1s.append(best_over_truths(f1_score, text, row["answers"]["text"]))
        starts = row["answers"]["answer_start"]  # empty for a SQuAD 2.0 unanswerable question
        block, dropped_at = gold_block_fate(trace, starts[0]) if starts else (None, None)
        gold_blocks.append(block)
        gold_dropped_at.append(dropped_at)
        tokens = sum(len(w.tokens) for w in trace.windows) * trace.num_layers
        processed += trace.kept_fraction * tokens
        total += tokens
        if on_progress is not None:
            on_progress(i + 1, len(rows))
    seconds = time.perf_counter() - start
    scores = squad_scores(predictions, [r["answers"]["text"] for r in rows])
    alive = [d is None for d in gold_dropped_at]
    return {
        **scores,
        "seconds": seconds,
        "kept_fraction": processed / total if total else 1.0,
        "gold_block_alive": sum(alive) / len(alive) if alive else 1.0,
        "predictions": predictions,
        "f1_per_question": f1s,
        "exact_per_question": ems,
        "gold_block_per_question": gold_blocks,
        "gold_dropped_at_per_question": gold_dropped_at,
        "ms_per_question": ms,
        "predictor": judged_by,
    }


def gold_block_fate(trace, answer_start: int) -> tuple[int | None, int | None]:
    """`(block id, layer that dropped it)` of the block holding the gold answer's first character; the layer is
    `None` when it survived every layer. Overlapping windows repeat text, so several blocks may hold it: an alive
    one wins, else the one dropped last. `(None, None)` when no block holds it (a start past the passage)."""
    dropped_at = trace.block_dropped_at()
    holders = [b.id for b in trace.blocks if b.start_char <= answer_start < b.end_char]
    if not holders:
        return None, None
    alive = [h for h in holders if dropped_at[h] is None]
    if alive:
        return alive[0], None
    last = max(holders, key=lambda h: dropped_at[h])
    return last, dropped_at[last]


def gold_block_survives(trace, answer_start: int) -> bool:
    """True when some window's block holding the gold answer's first character is alive after the last layer."""
    return gold_block_fate(trace, answer_start)[1] is None


def evaluate(
    reader: Reader,
    rows: list[dict],
    threshold: float | None = None,
    on_progress: Progress | None = None,
    skim_layers: Sequence[int] | None = None,
    predictor: str | None = None,
) -> dict:
    """`{"n", "full": {...}, "skim": {...}, "speedup"}` on the SQuAD 0-100 scale; speedup = full s ÷ skim s.
    A one-threshold `sweep`, reshaped to the CLI's `eval` contract. `predictor`: the kind that judges (None: the
    checkpoint's default; its default threshold when `threshold` is None)."""
    kind = reader.check_predictor(predictor)
    threshold = reader.model.config.default_threshold(kind) if threshold is None else threshold
    result = sweep(reader, rows, [threshold], on_progress, skim_layers, predictor)
    point = result["skim"][0]
    return {
        "n": result["n"],
        "threshold": threshold,
        "predictor": result["predictor"],
        "full": result["full"],
        "skim": {k: point[k] for k in ("exact_match", "f1", "seconds", "kept_fraction", "gold_block_alive")},
        "speedup": point["speedup"],
        "same_answer": point["same_answer"],
    }


def evaluate_full(reader: Reader, rows: list[dict], on_progress: Progress | None = None) -> dict:
    """`{"n", "full": {"exact_match", "f1", "seconds"}}`: the full model alone (`eval --no-skim`), e.g. to compare
    checkpoints trained with and without the skim loss, or a plain extractive-QA checkpoint."""
    full = run_questions(reader, rows, None, skim=False, desc="full model", on_progress=on_progress)
    return {"n": len(rows), "full": {k: full[k] for k in ("exact_match", "f1", "seconds")}}


def sweep(
    reader: Reader,
    rows: list[dict],
    thresholds: list[float],
    on_progress: Progress | None = None,
    skim_layers: Sequence[int] | None = None,
    predictor: str | None = None,
) -> dict:
    """The full model once, then skimming at each threshold (after `skim_layers` only, None: every predictor
    layer) judged by `predictor` (None: the checkpoint's default): the accuracy/work trade-off table of the model
    card. `on_progress(done, total)` counts questions over all runs: `total` = questions × (1 + thresholds)."""
    kind = reader.check_predictor(predictor)  # one line before the long full-model pass
    total = len(rows) * (1 + len(thresholds))

    def progress_from(offset: int) -> Progress | None:
        return None if on_progress is None else lambda done, _: on_progress(offset + done, total)

    full = run_questions(reader, rows, None, skim=False, desc="full model", on_progress=progress_from(0))
    points, judged_by = [], kind
    for i, threshold in enumerate(thresholds):
        desc = f"skimming @ {threshold:g}"
        skim = run_questions(
            reader, rows, threshold, True, desc, progress_from((i + 1) * len(rows)), skim_layers, predictor
        )
        judged_by = skim["predictor"] or judged_by
        points.append(
            {
                "threshold": threshold,
                **{k: skim[k] for k in ("exact_match", "f1", "seconds", "kept_fraction", "gold_block_alive")},
                "speedup": full["seconds"] / skim["seconds"] if skim["seconds"] else float("nan"),
                "same_answer": sum(a == b for a, b in zip(full["predictions"], skim["predictions"]))
                / max(len(rows), 1),
            }
        )
    return {
        "n": len(rows),
        "predictor": judged_by,
        "full": {k: full[k] for k in ("exact_match", "f1", "seconds")},
        "skim": points,
    }
