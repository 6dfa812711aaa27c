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


def comparison_runs(reader, trace, question: str, passage: str, layers, kind):
    """`(full, timed)`: the same input without skimming, and the skimmed run again without attention maps, timed
    like the full run so the card's speed-up compares like with like. A passage of many windows has that time in
    the trace already (`model_fast`): no second fast run."""
    full = read(reader, model_path(), question, passage, 0.0, False, dtype=trace.dtype)
    if "model_fast" in trace.timings_ms:
        return full, None
    timed = read(reader, model_path(), question, passage, trace.threshold, True, "none", layers, kind, trace.dtype)
    return full, timed


def checkpoint_run(checkpoint, question: str, passage: str, trace):
    """The sidebar's second checkpoint on the same input, or `None` when none is loaded. A plain QA checkpoint
    cannot skim: it answers at full length (the comparison says so in one line)."""
    if checkpoint.reader is None:
        return None
    if not checkpoint.reader.model.has_predictors:
        return read(checkpoint.reader, checkpoint.key, question, passage, 0.0, False, dtype=trace.dtype)
    cfg = checkpoint.reader.model.config
    kind = chosen_predictor(cfg)  # a checkpoint without the sidebar's kind: its own default, and its threshold
    threshold = trace.threshold if kind == trace.predictor else cfg.default_threshold(kind)
    layers = chosen_skim_layers(cfg)
    return read(
        checkpoint.reader, checkpoint.key, question, passage, threshold, True, "none", layers, kind, trace.dtype
    )


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
        trace = read(reader, model_path(), ss.question, ss.passage, threshold, True, "", layers, kind, ss.dtype)
except InputError as err:
    st.error(str(err))
    st.stop()

# The comparisons (the full model, a second checkpoint) run last and fill these slots: the answer and every view
# are on screen while they run, instead of waiting for a second read of a long passage at full length.
with right:
    card_slot, checkpoint_slot = st.empty(), st.empty()
    with card_slot.container():
        render_answer_card(trace, None, gold_answer(), pending=bool(ss.compare))
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
compare_slot = st.empty()
st.subheader("Export this run")
render_trace_downloads(trace)
st.caption("Each figure has its own download buttons below it; the camera icon on a figure saves it as SVG.")

full = timed = other = None
try:
    if ss.compare:
        with st.spinner("Running the full model for the comparison…"):
            full, timed = comparison_runs(reader, trace, ss.question, ss.passage, layers, kind)
    if checkpoint.reader is not None:
        with st.spinner("Reading with the second checkpoint…"):
            other = checkpoint_run(checkpoint, ss.question, ss.passage, trace)
except InputError as err:  # a second checkpoint may refuse what the default read (another tokenizer's limits)
    st.error(str(err))
if full is not None:
    with card_slot.container():
        render_answer_card(trace, full, gold_answer(), timed)
    with compare_slot.container():
        st.subheader("Compared with the full model")
        render_compare(trace, full)
if other is not None:
    with checkpoint_slot.container():
        render_checkpoint_compare(trace, other)
