"""Skimmed and full-model answers side by side, with their runners-up."""

from __future__ import annotations

import streamlit as st

from skim import SkimTrace


def _candidates(trace: SkimTrace) -> list[dict]:
    answers = ([trace.answer] if trace.answer else []) + trace.alternatives
    return [
        {"rank": i + 1, "score": round(a.score, 4), "chars": f"{a.start_char}–{a.end_char}", "answer": a.text}
        for i, a in enumerate(answers)
    ]


def render_compare(trace: SkimTrace, full: SkimTrace) -> None:
    """Dataframes render cells as plain text, so user text needs no escaping here."""
    left, right = st.columns(2)
    left.markdown(f"**With skimming** (threshold {trace.threshold:g}) · {trace.timings_ms['model']:.0f} ms")
    left.dataframe(_candidates(trace), hide_index=True, width="stretch")
    right.markdown(f"**Full model** (no block removed) · {full.timings_ms['model']:.0f} ms")
    right.dataframe(_candidates(full), hide_index=True, width="stretch")
