"""Calibrating the question-aware predictors on held-out questions, so that one threshold means one thing.

A predictor's raw P(keep) is not comparable across layers (each layer's predictor learns its own scale), and a
single threshold then drops far more answer blocks in one layer than another. After training, each layer's
`QuestionPredictor` stores the quantiles of the keep-minus-skim logit of held-out *answer* blocks; its score is
then "the fraction of answer blocks that look less like an answer than this block", and threshold t drops at each
layer about a fraction t of the answer blocks that reach it (a target recall of 1 − t per layer).
"""

from __future__ import annotations

import math

import torch
from tqdm.auto import tqdm

from .bench import _auc, _holds, block_scores
from .fast import FastSkimReader
from .qa import make_windows, truncate_question


@torch.inference_mode()
def block_margins(model, tokenizer, rows: list[dict], max_length: int = 384, stride: int = 128):
    """Per layer, the question predictors' keep-minus-skim logit of every scorable block of the windows that hold
    each row's first answer, without skimming: `{layer: (gold margins, other margins)}`."""
    fast = FastSkimReader(model, predictor="question")
    for predictor in fast.predictors.values():
        predictor.quantiles = None  # raw P(keep), from which the margin is recovered
    gold, other = block_scores(fast, _answer_windows(tokenizer, rows, max_length, stride), score=_margin)
    return {layer: (torch.tensor(gold[layer]), torch.tensor(other[layer])) for layer in gold}


def _answer_windows(tokenizer, rows: list[dict], max_length: int, stride: int):
    """The Reader's windows of each row's passage that hold its first answer, as bench items (rows without an
    answer skipped), made as they are consumed under the progress bar."""
    for row in tqdm(rows, desc="calibrating", unit="question"):
        if not row["answers"]["text"]:
            continue
        start = row["answers"]["answer_start"][0]
        end = start + len(row["answers"]["text"][0])
        question = truncate_question(tokenizer, row["question"])[0]
        for window in make_windows(tokenizer, question, row["context"], max_length, stride):
            if _holds(window, start, end):
                yield {"window": window, "span": (start, end)}


def _margin(p: float) -> float:
    """The keep-minus-skim logit behind P(keep) `p` (clamped off 0 and 1)."""
    p = min(max(p, 1e-7), 1 - 1e-7)
    return math.log(p) - math.log1p(-p)


def calibrate(model, tokenizer, rows: list[dict], max_length: int = 384, stride: int = 128) -> dict:
    """Fit every question predictor's calibration on `rows` (held out from training). Returns what was measured:
    per layer the held-out ROC AUC of answer blocks against the rest, and the counts."""
    margins = block_margins(model, tokenizer, rows, max_length, stride)
    report = {"questions": len(rows), "layers": []}
    for layer, predictor in model.question_predictors.items():
        gold, other = margins.get(int(layer), (torch.zeros(0), torch.zeros(0)))
        if len(gold) < 10:
            continue  # too few answer blocks to say anything; the layer stays uncalibrated
        predictor.calibrate(torch.stack([torch.zeros_like(gold), gold], 1).to(predictor.gold_quantiles.device))
        auc = _auc(gold.tolist(), other.tolist()) if len(other) else None
        report["layers"].append(
            {"layer": int(layer), "auc": auc, "answer_blocks": len(gold), "other_blocks": len(other)}
        )
    return report
