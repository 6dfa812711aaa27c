"""The main page (a Streamlit page script): passage and question in, answer card and every view of the trace out."""

from __future__ import annotations

import json

import streamlit as st

from app.state import gold_answer, load_reader, model_path, read
from app.views.answer_card import render_answer_card
from app.views.attention import render_attention
from app.views.compare import render_compare
from app.views.passage import render_passage
from app.views.skim_map import render_skim_map, render_tokens
from skim import InputError


def render_input_form() -> None:
    """A form, so typing does not rerun the model; "Answer" submits both fields at once."""
    with st.form("qa", border=True):
        st.text_input("Question", key="question")
        st.text_area("Passage", key="passage", height=230, max_chars=30_000)  # ~20 windows: bounds one run
        st.form_submit_button("Answer", type="primary")


st.title("Block-Skim Explorer")
st.caption("Which 32-token blocks of a passage does each layer throw away, and does the answer survive?")
reader = load_reader(model_path())  # cached; the entry script has already stopped if it cannot load
ss = st.session_state
left, right = st.columns([3, 2], gap="large")
with left:
    render_input_form()
try:
    with st.spinner("Reading the passage…"):
        trace = read(reader, model_path(), ss.question, ss.passage, float(ss.threshold), True)
        full = read(reader, model_path(), ss.question, ss.passage, 0.0, False) if ss.compare else None
except InputError as err:
    st.error(str(err))
    st.stop()

with right:
    render_answer_card(trace, full, gold_answer())
    for warning in trace.warnings:
        st.info(warning)
st.subheader("Passage, block by block")
render_passage(trace)
map_col, tokens_col = st.columns([3, 2], gap="large")
with map_col:
    st.subheader("Skim map")
    render_skim_map(trace)
with tokens_col:
    st.subheader("Tokens per layer")
    render_tokens(trace)
st.subheader("Attention")
render_attention(trace)
if full is not None:
    st.subheader("Compared with the full model")
    render_compare(trace, full)
with st.expander("Export this run"):
    st.download_button(
        "Download the trace (JSON, without attention)",
        json.dumps(trace.summary(), ensure_ascii=False, indent=1),
        file_name="skim-trace.json",
        mime="application/json",
    )
