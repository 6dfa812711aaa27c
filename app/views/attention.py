"""Attention of one layer and one head (or the head mean), optionally just the square a skim predictor read."""

from __future__ import annotations

import streamlit as st

from skim import SkimTrace

from ..figures import attention_figure, attention_map, block_rows
from .skim_map import PLOTLY_CONFIG


@st.fragment
def render_attention(trace: SkimTrace) -> None:
    """A fragment: moving the selectors redraws this panel only, not the whole page."""
    if not trace.attention:
        # The engine keeps the answer window's maps; with every passage block dropped there is no answer.
        st.info("No attention to show: no answer was found (every passage block was dropped?). Lower the threshold.")
        return
    c1, c2, c3 = st.columns([1, 1, 2])
    layer = c1.selectbox(
        "Layer",
        range(trace.num_layers),
        format_func=lambda i: f"L{i} ({len(attention_map(trace, i).positions)} tokens alive)",
        key="attn_layer",
    )
    amap = attention_map(trace, layer)
    heads = [None] if amap.head_mean_only else [None, *range(amap.weights.shape[0])]
    head = c2.selectbox(
        "Head", heads, format_func=lambda h: "mean over heads" if h is None else f"head {h}", key="attn_head"
    )
    # Only blocks of this window still alive at this layer have a square here.
    alive = [b.id for b in trace.blocks if b.window == amap.window and block_rows(amap.positions, b)]
    block = c3.selectbox(
        "Show",
        [None, *alive],
        format_func=lambda b: "the whole map (blocks outlined)" if b is None else _block_label(trace, layer, b),
        key="attn_block",
    )
    st.plotly_chart(attention_figure(trace, layer, head, block), key="attention", config=PLOTLY_CONFIG)
    st.caption(
        f"Window {amap.window}, tokens alive at layer {layer}; labels are `position:token`. Outlines: blue = answer "
        "block, red dotted = dropped by this layer. A block's diagonal square is all its predictor sees."
    )


def _block_label(trace: SkimTrace, layer: int, block: int) -> str:
    p = trace.layers[layer].keep_prob.get(str(block))
    return f"block {block}'s diagonal square" + (f" (P(keep) {p:.3f})" if p is not None else "")
