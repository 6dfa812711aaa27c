"""Tokenisation with character offsets, overlapping windows for long passages, and span decoding.

transformers 5 dropped `pipeline("question-answering")`, so this is ours. It keeps that pipeline's conventions:
windows of `max_length` tokens overlapping by `stride`, a maximum answer length, and score = p(start)·p(end).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

MAX_QUERY_TOKENS = 64  # as the SQuAD scripts: longer questions are cut so the passage keeps room in the window
MAX_PASSAGE_CHARS = 300_000  # ~1,000 windows at most; keeps one request to tens of seconds on a small CPU


class InputError(ValueError):
    """Bad user input (empty text, unreadable file …): the CLI prints it as one line and exits 2."""


@dataclass
class Window:
    """One model input. `offsets[i]` is the `[start, end)` character span of token i in the context,
    or `None` for [CLS], question and [SEP] tokens. `token_type_ids` is the segment mask (`segment_ids`)."""

    input_ids: list[int]
    token_type_ids: list[int]
    tokens: list[str]
    offsets: list[tuple[int, int] | None]

    def tensors(self, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        ids = torch.tensor([self.input_ids], device=device)
        return {
            "input_ids": ids,
            "token_type_ids": torch.tensor([self.token_type_ids], device=device),
            "attention_mask": torch.ones_like(ids),
        }


def truncate_question(tokenizer: PreTrainedTokenizerBase, question: str) -> tuple[str, bool]:
    """Strip the question and cut it to `MAX_QUERY_TOKENS` tokens. Returns `(question, was_cut)`."""
    question = question.strip()
    encoded = tokenizer(question, add_special_tokens=False, return_offsets_mapping=True)
    if len(encoded["input_ids"]) <= MAX_QUERY_TOKENS:
        return question, False
    return question[: encoded["offset_mapping"][MAX_QUERY_TOKENS - 1][1]], True


def tokenize_windows(tokenizer: PreTrainedTokenizerBase, question, context, max_length: int, stride: int):
    """The one tokenizer call behind both training features and inference windows, so both cut passages alike.
    `question`/`context` are strings or equal-length lists of strings."""
    return tokenizer(
        question,
        context,
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        return_token_type_ids=True,
    )


def segment_ids(sequence_ids: list[int | None]) -> list[int]:
    """The question/passage segment mask that the model reads as `token_type_ids`: 1 from the passage's first
    token through the separator after its last, 0 elsewhere. For BERT-style tokenizers these are exactly their
    token type ids; RoBERTa's has none (all 0), so every tokenizer's are derived from its `sequence_ids`."""
    if 1 not in sequence_ids:
        return [0] * len(sequence_ids)
    first = sequence_ids.index(1)
    end = min(len(sequence_ids) - sequence_ids[::-1].index(1) + 1, len(sequence_ids))  # the closing separator
    return [0] * first + [1] * (end - first) + [0] * (len(sequence_ids) - end)


def make_windows(
    tokenizer: PreTrainedTokenizerBase, question: str, context: str, max_length: int = 384, stride: int = 128
) -> list[Window]:
    """Tokenise `question` + `context` into windows of at most `max_length` tokens.

    `stride` is the number of context tokens shared by consecutive windows (HF's `stride` argument).
    """
    if not question.strip():
        raise InputError("the question is empty")
    if not context.strip():
        raise InputError("the passage is empty")
    if len(context) > MAX_PASSAGE_CHARS:
        raise InputError(f"the passage has {len(context):,} characters; the limit is {MAX_PASSAGE_CHARS:,}")
    encoded = tokenize_windows(tokenizer, question, context, max_length, stride)
    windows = []
    for w, ids in enumerate(encoded["input_ids"]):
        sequence_ids = encoded.sequence_ids(w)
        offsets = [tuple(o) if s == 1 else None for o, s in zip(encoded["offset_mapping"][w], sequence_ids)]
        windows.append(Window(ids, segment_ids(sequence_ids), tokenizer.convert_ids_to_tokens(ids), offsets))
    if not any(o is not None for o in windows[0].offsets):
        raise InputError("the passage has no readable text (only spaces or control characters)")
    return windows


@dataclass
class Span:
    start_token: int
    end_token: int
    logit: float  # start + end logit: comparable across windows, unlike per-window probabilities
    score: float  # p(start)·p(end) within the window


def best_spans(
    start_logits: torch.Tensor,
    end_logits: torch.Tensor,
    offsets: list[tuple[int, int] | None],
    max_answer_tokens: int = 30,
    top_k: int = 5,
) -> list[Span]:
    """The `top_k` best valid spans of one window.

    `start_logits`, `end_logits (T,)` float; `-inf` marks positions skimming removed. A valid span lies in the
    context, ends at or after its start, is at most `max_answer_tokens` long and uses no removed position.
    """
    is_context = torch.tensor([o is not None for o in offsets])
    # On the CPU: T floats from any device, and the (T, T) pair table below is cheap there.
    start = start_logits.float().cpu().masked_fill(~is_context, float("-inf"))
    end = end_logits.float().cpu().masked_fill(~is_context, float("-inf"))
    if not torch.isfinite(start).any():
        return []
    p_start, p_end = start.softmax(-1), end.softmax(-1)
    length = start.shape[0]
    pair = start[:, None] + end[None, :]  # (T, T)
    i = torch.arange(length)
    allowed = (i[None, :] >= i[:, None]) & (i[None, :] - i[:, None] < max_answer_tokens)
    pair = pair.masked_fill(~allowed, float("-inf"))
    flat = pair.flatten()
    k = min(top_k, int(torch.isfinite(flat).sum()))
    values, indices = flat.topk(k)
    return [
        Span(int(ix) // length, int(ix) % length, float(v), float(p_start[ix // length] * p_end[ix % length]))
        for v, ix in zip(values, indices)
    ]
