"""Why did it skim: one block (the gold answer's, when known) across layers: the layer that dropped it, its
P(keep) at each layer, and what its skim predictor read: the block's diagonal attention square at each layer (the
paper's kind), or the question ↔ block attention at a chosen layer (the question-aware kind)."""

from __future__ import annotations

import hashlib

import streamlit as st

from skim import SkimTrace

from ..block_figures import keep_prob_figure, predictor_inputs_figure
from ..gold import gold_blocks
from ..markup import why_html
from ..state import MEAN_HEAD, WHOLE_MAP, sync_url
from .attention import head_label
from .export import render_figure_downloads
from .skim_map import PLOTLY_CONFIG
from .why_question import default_layer, layer_label, reached_layers, render_question_inputs


@st.fragment
def render_why(trace: SkimTrace, gold: dict | None) -> None:
    """A fragment: picking another block or head redraws this panel only. `gold` is a `state.gold()` record."""
    holders = gold_blocks(trace, gold)
    answer = trace.answer_block()
    default = holders[0].id if holders else answer.id if answer else 0
    labels = _block_labels(trace, holders[0].id if holders else None)
    # Keyed by the input: a new passage or question starts again from its own gold block.
    digest = hashlib.sha1(f"{trace.question}\0{trace.context}".encode()).hexdigest()[:12]
    question_kind = trace.predictor == "question"
    c1, c2, c3 = st.columns([2, 1, 1]) if question_kind else (*st.columns([2, 1]), None)
    block = c1.selectbox("Block", list(labels), index=default, format_func=labels.get, key=f"why_block_{digest}")
    heads = trace.attention[0].weights.shape[0] if trace.attention and not trace.attention[0].head_mean_only else 0
    head = c2.selectbox("Predictor input", [MEAN_HEAD, *range(heads)], format_func=head_label, key="why_head")
    if question_kind:  # its view is one layer at a time; a new block starts at the layer that decided its fate
        layers = reached_layers(trace, block)
        layer = c3.selectbox(
            "Layer",
            layers,
            index=layers.index(default_layer(trace, block)),
            format_func=lambda i: layer_label(trace, block, i),
            key=f"why_layer_{digest}_{block}",
        )
    if not holders:
        st.caption("No gold answer is known for this input (examples and Dataset rows have one): pick any block.")
    is_gold = bool(holders) and block == holders[0].id
    gold_text, also = (gold["answers"][0], holders[1:]) if is_gold else (None, [])
    st.markdown(why_html(trace, trace.blocks[block], gold_text, also), unsafe_allow_html=True)
    left, right = st.columns([2, 3], gap="large")
    with left:
        fig = keep_prob_figure(trace, block)
        st.plotly_chart(fig, key="why_keep_prob", config=PLOTLY_CONFIG)
        render_figure_downloads(fig, "keep-prob")
        if question_kind:
            st.caption(
                "The question-aware predictor's keep score is calibrated after training on held-out questions: "
                "the share of real answer blocks that scored lower than this one at that layer."
            )
    head = None if head == MEAN_HEAD else head
    with right:
        if question_kind:
            shown = render_question_inputs(trace, block, layer, head)
        else:
            shown = _render_predictor_inputs(trace, block, head)
            layer = trace.block_dropped_at()[block]
            layer = trace.num_layers - 1 if layer is None else layer
    if shown:
        _render_show_button(block, layer, question_kind)


def _render_predictor_inputs(trace: SkimTrace, block: int, head: int | None) -> bool:
    try:
        fig = predictor_inputs_figure(trace, block, head)
    except ValueError:  # the engine keeps the attention of one window only
        kept = f"window {trace.attention[0].window}" if trace.attention else "no window"
        st.info(f"The run kept attention for {kept} only, so this block's predictor inputs cannot be shown.")
        return False
    st.plotly_chart(fig, key="why_predictor_inputs", config=PLOTLY_CONFIG)
    render_figure_downloads(fig, "predictor-inputs")
    return True


def _render_show_button(block: int, layer: int, question_kind: bool) -> None:
    """The paper's kind: the block's square at the deciding layer. The question kind read the question's rows and
    columns of the whole map, so that is the view to open."""
    if question_kind:
        label, shown = f"Show layer {layer}'s whole attention map in the attention view", WHOLE_MAP
    else:
        label, shown = f"Show block {block} at layer {layer} in the attention view", block
    if st.button(label, key="why_show_attention", on_click=_show_in_attention, args=(layer, shown)):
        st.rerun()  # the whole page: the attention view is another fragment


def _show_in_attention(layer: int, block: int | str) -> None:
    st.session_state.layer, st.session_state.attn_block = layer, block
    sync_url()


def _block_labels(trace: SkimTrace, gold: int | None) -> dict[int, str]:
    dropped_at = trace.block_dropped_at()
    answer = trace.answer_block()
    labels = {}
    for b in trace.blocks:
        tags = ["gold answer"] if b.id == gold else []
        tags += ["model's answer"] if answer is not None and b.id == answer.id else []
        tags.append("kept" if dropped_at[b.id] is None else f"dropped by layer {dropped_at[b.id]}")
        labels[b.id] = f"block {b.id} · " + ", ".join(tags)
    return labels
