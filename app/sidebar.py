"""Sidebar controls shared by every page: example, skim threshold, full-model comparison."""

from __future__ import annotations

import streamlit as st

from skim import Reader

from .state import examples, on_example_change, on_threshold_change


def render_sidebar(reader: Reader) -> None:
    """Values live in `st.session_state` (keys `example`, `threshold`, `compare`), set once by `init_state`."""
    titles = {e.key: e.title for e in examples()}
    st.selectbox("Example", list(titles), format_func=titles.get, key="example", on_change=on_example_change)
    st.slider(
        "Skim threshold",
        min_value=0.0,
        max_value=1.0,
        step=0.001,
        format="%.3f",
        key="threshold",
        on_change=on_threshold_change,
        help="A block whose P(keep) falls below this is removed after that layer. 0 keeps everything; "
        "the paper's scripts use 0.001–0.01.",
    )
    st.toggle(
        "Compare with the full model", key="compare", help="Also run without skimming: time, speed-up, agreement."
    )
    cfg = reader.model.config
    st.caption(
        f"Model `{reader.name}` · {cfg.num_hidden_layers} layers · {cfg.num_attention_heads} heads · "
        f"blocks of {cfg.skim_block_size} tokens · default threshold {cfg.skim_threshold:g}"
    )
