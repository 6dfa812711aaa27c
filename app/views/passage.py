"""The passage split into its blocks, coloured by the layer that dropped them, answer highlighted."""

from __future__ import annotations

import streamlit as st

from skim import SkimTrace

from ..markup import legend_html, passage_html


def render_passage(trace: SkimTrace) -> None:
    """Long passages are read as several overlapping windows; the view shows one window at a time."""
    window = trace.answer.window if trace.answer else 0
    if len(trace.windows) > 1:
        window = st.radio(
            "Window",
            range(len(trace.windows)),
            index=window,
            horizontal=True,
            format_func=lambda w: f"window {w}" + (" (answer)" if trace.answer and w == trace.answer.window else ""),
            key="passage_window",
        )
    st.markdown(legend_html(trace.num_layers), unsafe_allow_html=True)
    st.markdown(passage_html(trace, window), unsafe_allow_html=True)
    st.caption("Hover a block for its P(keep) at every layer. Grey text lies outside the window shown.")
