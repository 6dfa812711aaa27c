"""The main page (a Streamlit page script): passage and question in, answer card and every view of the trace out."""

from __future__ import annotations

import streamlit as st

from app.gold import gold_blocks
from app.state import (
    MAX_PASSAGE_CHARS,
    chosen_predictor,
    chosen_skim_layers,
    gold,
    gold_answer,
    load_checkpoint,
    load_reader,
    model_path,
    passage_in_url,
    read,
    sync_url,
)
from app.views.answer_card import render_answer_card
from app.views.attention import render_attention
from app.views.checkpoint import render_checkpoint_compare
from app.views.compare import render_compare
from app.views.export import render_trace_downloads
from app.views.passage import render_passage
from app.views.skim_map import render_skim_map, render_tokens
from app.views.why import render_why
from skim import InputError


def render_input_form() -> None:
    """A form, so typing does not rerun the model; "Answer" submits both fields at once."""
    with st.form("qa", border=True):
        st.text_input("Question", key="question")
        st.text_area("Passage", key="passage", height=230, max_chars=MAX_PASSAGE_CHARS)  # ~20 windows: bounds a run
        st.form_submit_button("Answer", type="primary")
    if not passage_in_url(st.session_state.passage):
        st.caption("This passage is too long to ride in the page's link: a copied link reopens the example's.")


st.title("Block-Skim Explorer")
st.caption("Which 32-token blocks of a passage does each layer throw away, and does the answer survive?")
reader = load_reader(model_path())  # cached; the entry script has already stopped if it cannot load
ss = st.session_state
sync_url()  # the URL names what this run shows: a submitted form, or a row opened from another page
checkpoint = load_checkpoint(ss.checkpoint)  # the sidebar has said why when it cannot load
left, right = st.columns([3, 2], gap="large")
with left:
    render_input_form()
try:
    with st.spinner("Reading the passage…"):
        layers, kind, threshold = chosen_skim_layers(reader.model.config), ss.predictor, float(ss.threshold)
        trace = read(reader, model_path(), ss.question, ss.passage, threshold, True, "", layers, kind)
        full = read(reader, model_path(), ss.question, ss.passage, 0.0, False) if ss.compare else None
        # Timed like the full run (no attention copied out): the card's speed-up compares like with like.
        # A passage of many windows has that time in the trace already (`model_fast`): no second fast run.
        timed = (
            read(reader, model_path(), ss.question, ss.passage, threshold, True, "none", layers, kind)
            if full and "model_fast" not in trace.timings_ms
            else None
        )
        other = None
        if checkpoint.reader is not None and not checkpoint.reader.model.has_predictors:
            # A plain QA checkpoint cannot skim: it answers at full length (the comparison says so in one line).
            other = read(checkpoint.reader, checkpoint.key, ss.question, ss.passage, 0.0, False)
        elif checkpoint.reader is not None:
            cfg = checkpoint.reader.model.config
            other_kind = chosen_predictor(cfg)  # a checkpoint without the sidebar's kind: its own default, and
            other_threshold = threshold if other_kind == kind else cfg.default_threshold(other_kind)  # its threshold
            other = read(
                checkpoint.reader,
                checkpoint.key,
                ss.question,
                ss.passage,
                other_threshold,
                True,
                "none",
                chosen_skim_layers(cfg),
                other_kind,
            )
except InputError as err:
    st.error(str(err))
    st.stop()

with right:
    render_answer_card(trace, full, gold_answer(), timed)
    if other is not None:
        render_checkpoint_compare(trace, other)
    for warning in trace.warnings:
        st.info(warning)
gold_row = gold()
holders = gold_blocks(trace, gold_row)
st.subheader("Passage, block by block")
render_passage(trace)
map_col, tokens_col = st.columns([3, 2], gap="large")
with map_col:
    st.subheader("Skim map")
    render_skim_map(trace, holders[0] if holders else None)
with tokens_col:
    st.subheader("Tokens per layer")
    render_tokens(trace)
st.subheader("Why did it skim?")
render_why(trace, gold_row)
st.subheader("Attention")
render_attention(trace)
if full is not None:
    st.subheader("Compared with the full model")
    render_compare(trace, full)
st.subheader("Export this run")
render_trace_downloads(trace)
st.caption("Each figure has its own download buttons below it; the camera icon on a figure saves it as SVG.")
