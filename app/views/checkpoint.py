"""The default model and a second checkpoint on the same input: answer, score, work kept, time."""

from __future__ import annotations

import streamlit as st

from skim import SkimTrace

from ..kinds import kind_label
from ..markup import markdown_text


def _column(trace: SkimTrace) -> list[str]:
    """One model's values, as text: the table has one column per model, which fits the narrow answer column."""
    answer = trace.answer
    return [
        answer.text if answer else "(no answer)",
        f"{answer.score:.3f}" if answer else "—",
        f"{trace.kept_fraction:.3f}",
        f"{trace.timings_ms['model']:.0f}",
        f"{kind_label(trace.predictor)} at {trace.threshold:g}" if trace.skim else "none (full length)",
    ]


def render_checkpoint_compare(trace: SkimTrace, other: SkimTrace) -> None:
    """Dataframe cells are plain text, so answers need no escaping; the path in the caption is escaped. A plain
    checkpoint (no predictors) was run without skimming (`other.skim` False), and the caption says so."""
    rows = ["answer", "score", "kept fraction", "model ms", "predictor"]
    table = [
        {"": row, "default": ours, "checkpoint": theirs}
        for row, ours, theirs in zip(rows, _column(trace), _column(other), strict=True)
    ]
    with st.container(border=True):
        if other.skim:
            judged = f"{kind_label(other.predictor)} at threshold {other.threshold:g}"
        else:
            judged = "no skim predictors, so it reads every token at full length"
        st.caption(f"Compared with the checkpoint {markdown_text(other.model)} ({judged})")
        st.dataframe(table, hide_index=True, width="stretch")
