"""SQuAD v1.1 exact match and F1, with the official script's answer normalisation (evaluate-v1.1.py).

Re-implemented rather than imported: the official logic is ~30 lines and torchmetrics' `SQuAD` wants its own
dict layout and a torch dependency per call; this keeps per-question scores for the app's drill-down.
"""

from __future__ import annotations

import re
import string
from collections import Counter

_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and the articles a/an/the, collapse whitespace (as the official script)."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, truth: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(truth))


def f1_score(prediction: str, truth: str) -> float:
    pred_tokens = normalize_answer(prediction).split()
    truth_tokens = normalize_answer(truth).split()
    common = Counter(pred_tokens) & Counter(truth_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(truth_tokens)
    return 2 * precision * recall / (precision + recall)


def best_over_truths(metric, prediction: str, truths: list[str]) -> float:
    """The official rule: a prediction scores its best match against any of the gold answers."""
    return max(metric(prediction, t) for t in truths) if truths else 0.0


def squad_scores(predictions: list[str], truths: list[list[str]]) -> dict[str, float]:
    """Corpus EM and F1 on a 0-100 scale."""
    n = len(predictions)
    if n == 0:
        return {"exact_match": 0.0, "f1": 0.0}
    em = sum(best_over_truths(exact_match, p, t) for p, t in zip(predictions, truths))
    f1 = sum(best_over_truths(f1_score, p, t) for p, t in zip(predictions, truths))
    return {"exact_match": 100 * em / n, "f1": 100 * f1 / n}
