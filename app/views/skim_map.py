"""The skim map (layers × blocks) and the tokens each layer ran on."""

from __future__ import annotations

import streamlit as st

from skim import SkimTrace

from ..figures import skim_map_figure, tokens_figure

PLOTLY_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "svg"}}  # camera button saves SVG


def render_skim_map(trace: SkimTrace) -> None:
    st.plotly_chart(skim_map_figure(trace), key="skim_map", config=PLOTLY_CONFIG)
    st.caption(
        "Colour = P(keep) from each layer's predictor; ✕ = dropped there; blank = already gone; "
        "the outlined column holds the answer."
    )


def render_tokens(trace: SkimTrace) -> None:
    st.plotly_chart(tokens_figure(trace), key="tokens_per_layer", config=PLOTLY_CONFIG)
    st.caption("Tokens entering each layer: the work skimming saves is the gap to the dashed line.")
