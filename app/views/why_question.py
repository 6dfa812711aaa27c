"""The "why did it skim" panel's right-hand side for the question-aware predictor: what it read for one block at
one layer (the question ↔ block attention, the question words that point at the block, its input features)."""

from __future__ import annotations

import streamlit as st

from skim import SkimTrace

from ..question_figures import FEATURE_NAMES, predictor_features, question_figure, question_read, top_words
from .export import render_figure_downloads
from .skim_map import PLOTLY_CONFIG


def layer_label(trace: SkimTrace, block: int, layer: int) -> str:
    p = trace.layers[layer].keep_prob.get(str(block))
    dropped = " ✕ dropped here" if trace.block_dropped_at()[block] == layer else ""
    return f"L{layer}{dropped} · " + ("not judged" if p is None else f"keep score {p:.3f}")


def reached_layers(trace: SkimTrace, block: int) -> list[int]:
    dropped_at = trace.block_dropped_at()[block]
    return list(range(trace.num_layers if dropped_at is None else dropped_at + 1))


def default_layer(trace: SkimTrace, block: int) -> int:
    """The layer that dropped the block, else the one that scored it lowest, else the last."""
    dropped_at = trace.block_dropped_at()[block]
    if dropped_at is not None:
        return dropped_at
    scores = {layer.layer: layer.keep_prob[str(block)] for layer in trace.layers if str(block) in layer.keep_prob}
    return min(scores, key=scores.get) if scores else trace.num_layers - 1


def render_question_inputs(trace: SkimTrace, block: int, layer: int, head: int | None) -> bool:
    """Draws the panel; False (after saying why) when the trace kept no attention for the block's window."""
    try:
        read = question_read(trace, layer, head, block)
    except ValueError:
        kept = f"window {trace.attention[0].window}" if trace.attention else "no window"
        st.info(f"The run kept attention for {kept} only, so what this block's predictor read cannot be shown.")
        return False
    fig = question_figure(trace, read, block)
    st.plotly_chart(fig, key="why_question_attention", config=PLOTLY_CONFIG)
    render_figure_downloads(fig, "question-attention")
    st.caption(
        "What the question-aware predictor reads: how the question's tokens attend to this block's tokens (left) "
        "and how the block's tokens attend back to the question (right), at this layer. Labels are "
        "`position:token`."
    )
    words, features = st.columns([2, 3], gap="large")
    with words:
        render_top_words(trace, read, block)
    with features:
        render_features(trace, layer, block)
    return True


def render_top_words(trace: SkimTrace, read, block: int) -> None:
    table = top_words(trace, read, block)
    st.markdown("**Question words that point at this block most**")
    # Dataframe cells are plain text: the question's words need no escaping here.
    st.dataframe(
        table,
        hide_index=True,
        key="why_top_words",
        column_config={
            "share": st.column_config.ProgressColumn(
                "attention on the block",
                format="%.3f",
                min_value=0.0,
                max_value=max(float(table["share"].max()), 1e-6) if len(table) else 1.0,
                help="The share of the word's attention (mean over its pieces) that lands on the block's tokens.",
            ),
            "× even spread": st.column_config.NumberColumn(
                format="%.1f×",
                help=f"Against an even spread over the {len(read.block)} block tokens among all tokens alive.",
            ),
        },
    )


def render_features(trace: SkimTrace, layer: int, block: int) -> None:
    table = predictor_features(trace, layer, block)
    st.markdown("**The predictor's inputs, per head**")
    if table is None:
        st.caption(
            "This layer did not judge the block (no predictor here, or not chosen to skim), or the run kept "
            "only the mean over heads."
        )
        return
    formats = {name: st.column_config.NumberColumn(format="%.4f") for name in FEATURE_NAMES}
    formats |= {f"{n} vs typical": st.column_config.NumberColumn(format="%.2f×") for n in FEATURE_NAMES}
    st.dataframe(table, hide_index=True, key="why_features", column_config=formats)
    st.caption(
        "q→b: the block's share of each question token's attention (mean and max over the question's tokens); "
        "b→q: the question's share of each block token's attention (mean and max over the block's tokens); "
        "'vs typical' divides by the geometric mean over the blocks this layer judged. The predictor reads their "
        "logs, plus the block's share of passage tokens."
    )
