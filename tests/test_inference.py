"""The trace record end to end on a tiny model: exact offsets, windows, blocks, JSON round trip."""

from __future__ import annotations

import json

import pytest

from skim import InputError, Reader, SkimTrace
from tests.conftest import tiny_model

AWKWARD = [
    "Café crème at the Hôtel Négresco costs €12, said Zoë Saldaña.",
    "東京は日本の首都です。 Tokyo has 14 million people.",
    "The 🚀 rocket launched 🌕 toward the moon 🎉 in 1969.",
    "Spaces    everywhere   in\tthis\n\ntext   with   gaps.",
    "Zero\u200bwidth and\u00a0no-break, right-to-left \u202eolleh\u202c and control\x07 chars.",
]


@pytest.mark.parametrize("passage", AWKWARD)
def test_answer_offsets_are_exact_on_awkward_text(tiny_reader, passage):
    trace = tiny_reader("What is it?", passage, threshold=0.0)
    for answer in [trace.answer, *trace.alternatives]:
        assert passage[answer.start_char : answer.end_char] == answer.text
        assert answer.text.strip()


def test_blocks_tile_the_passage_and_layers_are_consistent(tiny_reader):
    passage = " ".join(f"Sentence number {i} talks about topic {i * 7}." for i in range(40))
    trace = tiny_reader("Which topic?", passage, threshold=0.5)
    assert len(trace.windows) == 1
    assert trace.blocks[0].start_char == 0 and trace.blocks[-1].end_char == len(passage)
    assert all(a.end_char == b.start_char for a, b in zip(trace.blocks, trace.blocks[1:]))
    ids = {b.id for b in trace.blocks}
    seen_dropped: set[int] = set()
    for layer in trace.layers:
        assert set(layer.kept_blocks) | seen_dropped | set(layer.dropped_blocks) == ids
        assert not set(layer.kept_blocks) & (seen_dropped | set(layer.dropped_blocks))
        seen_dropped |= set(layer.dropped_blocks)
    assert 0 < trace.kept_fraction <= 1
    answer_block = trace.answer_block()
    assert answer_block is not None and answer_block.id in trace.layers[-1].kept_blocks


def test_long_passage_is_read_in_overlapping_windows(tiny_reader):
    passage = " ".join(f"Paragraph {i} mentions the number {i * 13} and the colour blue." for i in range(120))
    trace = tiny_reader("Which number?", passage, threshold=0.0)
    assert len(trace.windows) >= 3
    assert all(len(w.tokens) <= tiny_reader.max_length for w in trace.windows)
    starts = [min(o[0] for o in w.offsets if o) for w in trace.windows]
    ends = [max(o[1] for o in w.offsets if o) for w in trace.windows]
    assert all(s2 < e1 for s2, e1 in zip(starts[1:], ends)), "consecutive windows must overlap"
    assert trace.blocks[-1].end_char == len(passage)
    assert passage[trace.answer.start_char : trace.answer.end_char] == trace.answer.text
    assert trace.kept_fraction == 1.0


def test_trace_survives_a_json_round_trip(tiny_reader):
    trace = tiny_reader("Who?", "Ada Lovelace wrote the first program. " * 8, threshold=0.4)
    again = SkimTrace.from_dict(json.loads(json.dumps(trace.to_dict())))
    assert again.answer == trace.answer and again.blocks == trace.blocks and again.layers == trace.layers
    assert len(again.attention) == trace.num_layers
    for a, b in zip(again.attention, trace.attention):
        assert a.positions == b.positions and (a.weights == b.weights).all()
        assert abs(float(a.weights[0].astype("float32").sum(-1).mean()) - 1) < 1e-2  # rows are distributions


def test_attention_rows_cover_only_surviving_tokens(tiny_reader):
    trace = tiny_reader("Who?", "Ada Lovelace wrote the first program. " * 8, threshold=0.5)
    for prev, cur in zip(trace.attention, trace.attention[1:]):
        assert set(cur.positions) <= set(prev.positions)
        assert cur.weights.shape[-1] == len(cur.positions)
    assert [len(a.positions) for a in trace.attention] == trace.windows[0].layer_tokens


@pytest.mark.parametrize("question, passage", [("", "text"), ("   ", "text"), ("Who?", ""), ("Who?", " \n\t ")])
def test_empty_input_is_a_clear_error(tiny_reader, question, passage):
    with pytest.raises(InputError):
        tiny_reader(question, passage)


def test_overlong_question_is_cut_with_a_warning(tiny_reader):
    question = "why " * 600
    trace = tiny_reader(question, "Because the sky is blue.")
    assert trace.answer is not None and any("question was cut" in w for w in trace.warnings)


def test_an_input_under_skim_min_tokens_says_why_nothing_was_judged(tiny_reader, monkeypatch):
    passage = "Ada Lovelace wrote the first program. " * 8
    trace = tiny_reader("Who?", passage, threshold=0.4)
    assert not any("nothing was judged" in w for w in trace.warnings)
    monkeypatch.setattr(tiny_reader.model.config, "skim_min_tokens", len(trace.windows[0].tokens) + 1)
    short = tiny_reader("Who?", passage, threshold=0.4)
    assert any("nothing was judged" in w and "skim_min_tokens" in w for w in short.warnings)
    assert short.kept_fraction == 1.0 and all(not layer.dropped_blocks for layer in short.layers)
    assert not any("nothing was judged" in w for w in tiny_reader("Who?", passage, skim=False).warnings)


def test_a_window_too_short_to_judge_is_named_by_layer(tiny_reader):
    """A long passage's last window is shorter than the others; under `skim_min_tokens` it goes unjudged while
    the others are scored, and the trace says at which layers (the skim map's caption names them)."""
    passage = "Ada Lovelace wrote the first program. " * 60
    trace = tiny_reader("Who?", passage, threshold=0.4)
    lengths = [len(w.tokens) for w in trace.windows]
    assert len(lengths) >= 2 and lengths[-1] < max(lengths) and trace.short_window_layers() == []
    short_reader = Reader(tiny_model(skim_min_tokens=lengths[-1] + 1), tiny_reader.tokenizer)
    short = short_reader("Who?", passage, threshold=0.4)
    last = {b.id for b in short.blocks if b.window == len(lengths) - 1}
    assert short.short_window_layers()[0] == 0 and short.layers[0].keep_prob  # the long windows were scored
    assert all(str(b) not in layer.keep_prob for layer in short.layers for b in last)
