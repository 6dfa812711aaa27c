"""The Reader's fast path reads a long passage's windows as packed batches; every window must come out exactly as
it does when read alone."""

from __future__ import annotations

import math

import pytest
import torch

from skim import inference
from skim.inference import Reader
from skim.qa import best_spans

PASSAGE = " ".join(f"Paragraph {i} says the river {i % 7} is {i * 13} miles long and flows north." for i in range(90))
QUESTION = "How long is the river?"
THRESHOLD = {"diagonal": 0.5, "question": 0.4}  # each drops blocks here and leaves an answer


def one_window_at_a_time(reader: Reader, windows, predictor, threshold, skim=True, skim_layers=None):
    """`_read_batched`'s output, reading each window on its own (a batch of one, no padding)."""
    fast = reader.fast_readers[predictor]
    outputs = []
    for window in windows:
        with torch.inference_mode():
            outputs.append(fast(**window.tensors(), threshold=threshold, skim=skim, layers=skim_layers))
    return outputs


@pytest.mark.parametrize("predictor", ["diagonal", "question"])
@pytest.mark.parametrize("chunk", [16, 3])  # 3: several forwards, the last one shorter, with the short last window
def test_batched_windows_decide_as_one_window_at_a_time(tiny_reader, monkeypatch, predictor, chunk):
    monkeypatch.setattr(inference, "WINDOWS_PER_FORWARD", chunk)
    threshold = THRESHOLD[predictor]
    _, _, windows = tiny_reader.windows(QUESTION, PASSAGE)
    assert len(windows) > chunk or chunk == 16
    assert len(windows) >= 4 and len(windows[-1].input_ids) < len(windows[0].input_ids)  # padding in the batch
    batched = tiny_reader._read_batched(windows, predictor, threshold, True, None)
    alone = one_window_at_a_time(tiny_reader, windows, predictor, threshold)
    assert len(batched) == len(alone) == len(windows)
    dropped_some = False
    for window, (b, _), a in zip(windows, batched, alone):
        n = len(window.input_ids)
        assert b.start_logits.shape == (1, n) and a.start_logits.shape == (1, n)
        assert torch.equal(b.layer_tokens, a.layer_tokens)
        for x, y in zip(b.alive, a.alive):
            assert torch.equal(x, y)
        for x, y in zip(b.keep_probs, a.keep_probs):
            assert torch.allclose(x, y, atol=1e-5, equal_nan=True)
        assert torch.equal(torch.isfinite(b.start_logits), torch.isfinite(a.start_logits))
        assert torch.allclose(b.start_logits, a.start_logits, atol=1e-4)
        assert torch.allclose(b.end_logits, a.end_logits, atol=1e-4)
        sb = best_spans(b.start_logits[0], b.end_logits[0], window.offsets, 30, 5)
        sa = best_spans(a.start_logits[0], a.end_logits[0], window.offsets, 30, 5)
        assert [(s.start_token, s.end_token) for s in sb] == [(s.start_token, s.end_token) for s in sa]
        dropped_some |= not bool(a.alive[-1].all())
    assert dropped_some, "the threshold must drop blocks, or the comparison proves little"


def reference_trace(reader: Reader, predictor: str, threshold: float):
    """The whole trace with the fast path reading one window per forward."""
    original = inference.WINDOWS_PER_FORWARD
    inference.WINDOWS_PER_FORWARD = 1
    try:
        return reader(QUESTION, PASSAGE, threshold=threshold, attention="none", predictor=predictor)
    finally:
        inference.WINDOWS_PER_FORWARD = original


@pytest.mark.parametrize("predictor", ["diagonal", "question"])
def test_reader_trace_is_the_same_batched_or_one_window_at_a_time(tiny_reader, predictor):
    threshold = THRESHOLD[predictor]
    batched = tiny_reader(QUESTION, PASSAGE, threshold=threshold, attention="none", predictor=predictor)
    alone = reference_trace(tiny_reader, predictor, threshold)
    assert len(batched.windows) >= 4 and batched.predictor == predictor and batched.answer is not None
    assert batched.kept_fraction == alone.kept_fraction < 1.0
    assert batched.blocks == alone.blocks
    for x, y in zip(batched.layers, alone.layers):
        assert (x.tokens, x.kept_blocks, x.dropped_blocks) == (y.tokens, y.kept_blocks, y.dropped_blocks)
        assert x.keep_prob.keys() == y.keep_prob.keys()
        assert all(math.isclose(x.keep_prob[k], y.keep_prob[k], abs_tol=1e-4) for k in x.keep_prob)
    assert [w.layer_tokens for w in batched.windows] == [w.layer_tokens for w in alone.windows]
    for x, y in zip([batched.answer, *batched.alternatives], [alone.answer, *alone.alternatives]):
        assert (x.text, x.start_char, x.end_char, x.window) == (y.text, y.start_char, y.end_char, y.window)
        assert math.isclose(x.score, y.score, rel_tol=1e-3)


def test_the_traced_path_agrees_with_the_batched_fast_path_on_many_windows(tiny_reader):
    fast = tiny_reader(QUESTION, PASSAGE, threshold=0.5, attention="none")
    traced = tiny_reader(QUESTION, PASSAGE, threshold=0.5, attention="mean")
    assert fast.kept_fraction == traced.kept_fraction
    assert (fast.answer.text, fast.answer.start_char) == (traced.answer.text, traced.answer.start_char)
    for x, y in zip(fast.layers, traced.layers):
        assert (x.kept_blocks, x.dropped_blocks) == (y.kept_blocks, y.dropped_blocks)
    assert {a.window for a in traced.attention} == {traced.answer.window}


def test_a_traced_passage_of_many_windows_reads_only_the_answers_window_with_attention(tiny_reader, monkeypatch):
    eager_windows = []
    original = tiny_reader._read_traced

    def counting(windows, *args):
        eager_windows.extend(windows)
        return original(windows, *args)

    monkeypatch.setattr(tiny_reader, "_read_traced", counting)
    traced = tiny_reader(QUESTION, PASSAGE, threshold=0.5, attention="heads")
    assert len(traced.windows) >= 4 and len(eager_windows) == 1
    assert {a.window for a in traced.attention} == {traced.answer.window}
    assert len(traced.attention) == tiny_reader.model.config.num_hidden_layers
    assert 0 < traced.timings_ms["model_fast"] < traced.timings_ms["model"]  # the fast pass, then the re-read
    fast = tiny_reader(QUESTION, PASSAGE, threshold=0.5, attention="none")
    assert [layer.dropped_blocks for layer in traced.layers] == [layer.dropped_blocks for layer in fast.layers]
