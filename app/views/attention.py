"""Attention of one layer and one head (or the head mean), optionally just the square a skim predictor read."""

from __future__ import annotations

import streamlit as st

from skim import SkimTrace

from ..figures import attention_figure, attention_map, block_rows
from ..state import MEAN_HEAD, WHOLE_MAP, sync_url
from .export import render_figure_downloads
from .skim_map import PLOTLY_CONFIG


@st.fragment
def render_attention(trace: SkimTrace) -> None:
    """A fragment: moving the selectors redraws this panel only, not the whole page."""
    if not trace.attention:
        # The engine keeps the answer window's maps; with every passage block dropped there is no answer.
        st.info("No attention to show: no answer was found (every passage block was dropped?). Lower the threshold.")
        return
    ss = st.session_state
    c1, c2, c3 = st.columns([1, 1, 2])
    # The keys are the URL's `layer`, `head` and `block` (see `state.sync_url`); a value from an old link or
    # another model that is not an option here falls back to the default before the selector is drawn.
    if ss.get("layer") not in range(trace.num_layers):
        ss.layer = 0
    layer = c1.selectbox(
        "Layer",
        range(trace.num_layers),
        format_func=lambda i: f"L{i} ({len(attention_map(trace, i).positions)} tokens alive)",
        key="layer",
        on_change=sync_url,
    )
    amap = attention_map(trace, layer)
    heads = [MEAN_HEAD] if amap.head_mean_only else [MEAN_HEAD, *range(amap.weights.shape[0])]
    if ss.get("head") not in heads:
        ss.head = MEAN_HEAD
    head = c2.selectbox("Head", heads, format_func=head_label, key="head", on_change=sync_url)
    # Only blocks of this window still alive at this layer have a square here.
    alive = [WHOLE_MAP, *(b.id for b in trace.blocks if b.window == amap.window and block_rows(amap.positions, b))]
    if ss.get("attn_block") not in alive:
        ss.attn_block = WHOLE_MAP
    block = c3.selectbox(
        "Show",
        alive,
        format_func=lambda b: "the whole map (blocks outlined)" if b == WHOLE_MAP else _block_label(trace, layer, b),
        key="attn_block",
        on_change=sync_url,
    )
    fig = attention_figure(trace, layer, None if head == MEAN_HEAD else head, None if block == WHOLE_MAP else block)
    st.plotly_chart(fig, key="attention", config=PLOTLY_CONFIG)
    render_figure_downloads(fig, "attention")
    sees = (
        "The question-aware predictor reads the question's rows and columns against each block's (see *Why did it "
        "skim?*)."
        if trace.predictor == "question"
        else "A block's diagonal square is all its predictor sees."
    )
    st.caption(
        f"Window {amap.window}, tokens alive at layer {layer}; labels are `position:token`. Outlines: blue = answer "
        f"block, red dotted = dropped by this layer. {sees}"
    )


def _block_label(trace: SkimTrace, layer: int, block: int) -> str:
    p = trace.layers[layer].keep_prob.get(str(block))
    return f"block {block}'s diagonal square" + (f" (P(keep) {p:.3f})" if p is not None else "")


def head_label(head: int | str) -> str:
    return "mean over heads" if head == MEAN_HEAD else f"head {head}"
