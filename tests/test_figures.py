"""Pure builders of the app (`app.figures`, `app.markup`) on traces of the tiny random model."""

from __future__ import annotations

import html
import re

import numpy as np
import plotly.graph_objects as go
import pytest

from app.block_figures import keep_prob_figure, predictor_inputs_figure
from app.figures import (
    attention_figure,
    block_rows,
    block_square,
    keep_prob_grid,
    skim_map_figure,
    token_labels,
    tokens_figure,
)
from app.gold import gold_blocks, gold_start
from app.markup import answer_html, block_color, markdown_text, passage_html, text_html, why_html
from app.palette import KEPT, drop_colors

PASSAGE = (
    "The cat sat on the mat. The dog sat on the log. <b>The</b> bird sat on the wire, and the cat watched the bird.\n\n"
    "Later the dog chased the cat <script>alert(1)</script> around the garden until the sun went down behind the hill."
)
QUESTION = "Where did the dog sit?"


@pytest.fixture(scope="module")
def mixed(tiny_reader):
    """Some blocks dropped, some kept: the random predictors give P(keep) near 0.5."""
    trace = tiny_reader(QUESTION, PASSAGE, threshold=0.5)
    assert any(layer.dropped_blocks for layer in trace.layers)
    return trace


@pytest.fixture(scope="module")
def kept(tiny_reader):
    return tiny_reader(QUESTION, PASSAGE, threshold=0.0)


def reader_sees(markup: str) -> str:
    """Undo the markup: drop block labels and tags, turn `<br>` back into newlines, unescape."""
    text = re.sub(r"<sup[^>]*>b\d+</sup>", "", markup).replace("<br>", "\n")
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def test_token_labels_are_unique_for_repeated_tokens():
    tokens = ["[CLS]", "the", "cat", "the", "the", "<b>"]
    labels = token_labels(tokens, [0, 1, 2, 3, 4, 5])
    assert len(set(labels)) == len(labels)
    assert labels[1] == "1:the" and labels[5] == "5:&lt;b&gt;"


def test_keep_prob_grid_is_nan_once_a_block_is_gone(mixed):
    grid = keep_prob_grid(mixed)
    assert grid.shape == (mixed.num_layers, len(mixed.blocks))
    for block_id, layer in mixed.block_dropped_at().items():
        if layer is None:
            assert not np.isnan(grid[:, block_id]).any()
        else:
            assert not np.isnan(grid[layer, block_id]) and grid[layer, block_id] < mixed.threshold
            assert np.isnan(grid[layer + 1 :, block_id]).all()


def test_skim_map_marks_drops_and_outlines_the_answer(mixed):
    fig = skim_map_figure(mixed)
    heat, marks = fig.data
    assert isinstance(heat, go.Heatmap) and heat.z.shape == (mixed.num_layers, len(mixed.blocks))
    dropped = sorted((b, layer) for b, layer in mixed.block_dropped_at().items() if layer is not None)
    assert sorted(zip(marks.x.tolist(), marks.y.tolist())) == dropped
    answer = mixed.answer_block()
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    assert [(r.x0, r.x1) for r in rects] == [(answer.id - 0.5, answer.id + 0.5)]
    hovers = " ".join(str(h) for h in heat.customdata.ravel())
    assert "&lt;script&gt;" in hovers and "<script>" not in hovers


def test_tokens_figure_counts_tokens_per_layer(mixed):
    fig = tokens_figure(mixed)
    assert fig.data[0].y.tolist() == [layer.tokens for layer in mixed.layers]
    assert fig.data[1].y.tolist() == [len(mixed.windows[0].tokens)] * mixed.num_layers


@pytest.mark.parametrize("head", [None, 0, 1])
def test_attention_figure_is_one_matrix_over_alive_tokens(mixed, head):
    for layer in range(mixed.num_layers):
        fig = attention_figure(mixed, layer, head)
        assert len(fig.data) == 1
        heat = fig.data[0]
        alive = len(mixed.attention[layer].positions)
        assert isinstance(heat.z, np.ndarray) and heat.z.shape == (alive, alive)  # numpy, not nested lists
        assert len(set(heat.x)) == alive and list(heat.x) == list(heat.y)
    assert len(mixed.attention[1].positions) < len(mixed.attention[0].positions)  # skimming shrank layer 1


def test_attention_head_mean_and_single_head(mixed):
    weights = mixed.attention[0].weights.astype(np.float32)
    np.testing.assert_allclose(attention_figure(mixed, 0, None).data[0].z, weights.mean(0), rtol=1e-3)
    np.testing.assert_allclose(attention_figure(mixed, 0, 1).data[0].z, weights[1])


def test_attention_block_square_is_what_the_predictor_read(mixed):
    amap = mixed.attention[0]
    block = next(b for b in mixed.blocks if not b.with_question)
    fig = attention_figure(mixed, 0, 0, block=block.id)
    rows = block_rows(amap.positions, block)
    assert fig.data[0].z.shape == (len(rows), len(rows)) == (mixed.block_size, mixed.block_size)
    np.testing.assert_allclose(fig.data[0].z, amap.weights[0][np.ix_(rows, rows)].astype(np.float32))
    assert fig.data[0].x[0] == f"{block.token_start}:{html.escape(mixed.windows[0].tokens[block.token_start])}"
    gone = next(b for b, layer in mixed.block_dropped_at().items() if layer == 0)
    with pytest.raises(ValueError, match="gone"):
        attention_figure(mixed, 1, None, block=gone)


def test_passage_html_keeps_the_text_and_escapes_it(mixed):
    markup = passage_html(mixed, 0)
    assert "<script>" not in markup and "<b>The</b>" not in markup and "\n" not in markup
    assert reader_sees(markup) == PASSAGE
    assert markup.count('class="skim-block"') == len(mixed.blocks)


def test_passage_colours_and_hover_follow_the_trace(mixed):
    markup = passage_html(mixed, 0)
    dropped_at = mixed.block_dropped_at()
    for b in mixed.blocks:
        layer = dropped_at[b.id]
        assert block_color(layer, mixed.num_layers) == (KEPT if layer is None else drop_colors(mixed.num_layers)[layer])
        title = re.search(rf'title="(block {b.id} \(.*?)"', markup).group(1)
        for layer in mixed.layers:
            if str(b.id) in layer.keep_prob:
                assert f"L{layer.layer} P(keep) {layer.keep_prob[str(b.id)]:.3f}" in title


def test_answer_is_highlighted_once_per_block_it_touches(kept):
    markup = passage_html(kept, 0)
    marked = "".join(re.findall(r"<mark[^>]*>(.*?)</mark>", markup))
    assert html.unescape(marked.replace("<br>", "\n")) == kept.answer.text
    assert text_html(kept.answer.text) in answer_html(kept)


def test_passage_of_a_later_window_greys_the_rest(tiny_reader):
    trace = tiny_reader(QUESTION, " ".join([PASSAGE] * 12))
    assert len(trace.windows) > 1
    markup = passage_html(trace, 1)
    assert markup.startswith('<div class="skim-passage"') and 'color:#999">' in markup
    assert markup.count('class="skim-block"') == sum(b.window == 1 for b in trace.blocks)


def dropped_block(trace):
    return next((b, layer) for b, layer in trace.block_dropped_at().items() if layer is not None)


def test_skim_map_dashes_the_gold_block(mixed):
    block, _ = dropped_block(mixed)
    fig = skim_map_figure(mixed, mixed.blocks[block])
    gold = [s for s in fig.layout.shapes if s.name == "gold answer"]
    assert len(gold) == 1 and gold[0].line.dash == "dash"
    assert gold[0].x0 < block < gold[0].x1 and gold[0].showlegend


def test_keep_prob_figure_follows_one_block(mixed):
    block, layer = dropped_block(mixed)
    fig = keep_prob_figure(mixed, block)
    np.testing.assert_array_equal(fig.data[0].y, keep_prob_grid(mixed)[:, block])  # NaN once gone
    assert (fig.data[1].x[0], fig.data[1].y[0]) == (layer, keep_prob_grid(mixed)[layer, block])  # the ✕
    assert [s.y0 for s in fig.layout.shapes] == [mixed.threshold]


@pytest.mark.parametrize("head", [None, 1])
def test_predictor_inputs_are_the_block_squares_up_to_its_drop(mixed, head):
    block, layer = dropped_block(mixed)
    fig = predictor_inputs_figure(mixed, block, head)
    assert len(fig.data) == layer + 1 and all(isinstance(d, go.Heatmap) for d in fig.data)
    for i, heat in enumerate(fig.data):
        z, _ = block_square(mixed, i, head, block)
        np.testing.assert_array_equal(heat.z, z)
        assert heat.z.shape == (mixed.block_size, mixed.block_size) and heat.coloraxis == "coloraxis"
    if layer > 0:  # the dropping layer is framed in red (subplot 1's axes are "x", the others "xN")
        assert [s.xref for s in fig.layout.shapes] == [f"x{layer + 1} domain"]
    assert "gone" in fig.layout.annotations[-1].text or layer == mixed.num_layers - 1


def test_predictor_inputs_need_the_blocks_window(tiny_reader):
    trace = tiny_reader(QUESTION, " ".join([PASSAGE] * 12), threshold=0.0)
    other = next(b for b in trace.blocks if b.window != trace.attention[0].window)
    with pytest.raises(ValueError, match="no attention for window"):
        predictor_inputs_figure(trace, other.id)


def test_gold_start_trusts_answer_start_only_where_the_answer_is():
    passage = "the cat sat on the mat with the cat"
    assert gold_start(passage, ["cat"], 32) == 32
    assert gold_start(passage, ["cat"], 5) == 4  # a wrong offset: the first occurrence instead
    assert gold_start(passage, ["cat"], None) == 4
    assert gold_start(passage, ["dog"], None) is None and gold_start(passage, [], 999) is None


def test_gold_blocks_hold_the_answers_first_character(mixed, tiny_reader):
    start = PASSAGE.index("on the log")
    [block] = gold_blocks(mixed, {"answers": ["on the log"], "answer_start": start})
    assert block.start_char <= start < block.end_char
    assert gold_blocks(mixed, None) == [] and gold_blocks(mixed, {"answers": ["zebra"], "answer_start": None}) == []
    long = " ".join([PASSAGE] * 12)
    trace = tiny_reader(QUESTION, long, threshold=0.0)
    shown = trace.attention[0].window
    assert shown > 0
    shared = next(b.start_char for b in trace.blocks if b.window == shown) + 40  # the windows overlap here
    holders = gold_blocks(trace, {"answers": [long[shared : shared + 5]], "answer_start": shared})
    assert [b.window for b in holders] == [shown, shown - 1]  # the window whose attention was kept first


def test_why_html_names_the_dropping_layer_and_escapes_the_gold(mixed):
    block, layer = dropped_block(mixed)
    p = mixed.layers[layer].keep_prob[str(block)]
    markup = why_html(mixed, mixed.blocks[block], gold="<b>log</b>")
    assert f"Dropped by layer {layer}" in markup and f"{p:.3f}" in markup and f"threshold {mixed.threshold:g}" in markup
    assert "&lt;b&gt;log&lt;/b&gt;" in markup and "<b><b>" not in markup
    kept = next(b for b, d in mixed.block_dropped_at().items() if d is None)
    assert "Kept by every layer" in why_html(mixed, mixed.blocks[kept])


def test_markdown_text_defuses_links_maths_and_icons():
    assert markdown_text("[x](http://e) *a* $y$ :material/home: `c`\nd") == (
        r"\[x\]\(http\:\/\/e\) \*a\* \$y\$ \:material\/home\: \`c\` d"
    )
