"""The skim map (layers × blocks) and the tokens each layer ran on."""

from __future__ import annotations

import streamlit as st

from skim import SkimTrace
from skim.trace import Block

from ..figures import skim_map_figure, tokens_figure
from .export import render_figure_downloads

PLOTLY_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "svg"}}  # camera button saves SVG


def render_skim_map(trace: SkimTrace, gold: Block | None = None) -> None:
    fig = skim_map_figure(trace, gold)
    st.plotly_chart(fig, key="skim_map", config=PLOTLY_CONFIG)
    unjudged = [i for i, t in enumerate(trace.layer_thresholds or []) if t == 0 and trace.threshold > 0]
    blank = "blank = already gone" + (
        f", or a layer that does not judge ({', '.join(f'L{i}' for i in unjudged)}: its threshold is 0)"
        if unjudged
        else ""
    )
    short = trace.short_window_layers()
    if short:
        blank += (
            f", or, at {', '.join(f'L{i}' for i in short)}, a window with too few tokens left for a predictor to pay "
            "for itself (the model's skim_min_tokens)"
        )
    st.caption(
        f"Colour = P(keep) from each layer's predictor; ✕ = dropped there; {blank}; "
        "blue outline = the model's answer" + (", purple dashes = the gold answer." if gold else ".")
    )
    render_figure_downloads(fig, "skim-map")


def render_tokens(trace: SkimTrace) -> None:
    fig = tokens_figure(trace)
    st.plotly_chart(fig, key="tokens_per_layer", config=PLOTLY_CONFIG)
    st.caption("Tokens entering each layer: the work skimming saves is the gap to the dashed line.")
    render_figure_downloads(fig, "tokens-per-layer")
