"""Download buttons: the run's trace and per-layer decisions, and each figure as interactive HTML (PNG too where
kaleido can drive a local Chromium). Every file is built only when its button is clicked: a figure page inlines
4.8 MB of plotly.js, a full trace is tens of MB and a PNG takes seconds."""

from __future__ import annotations

import json
from collections.abc import Callable

import plotly.graph_objects as go
import streamlit as st

from skim import SkimTrace

from ..exports import decisions_csv, figure_html, figure_png, png_export_available, trace_json, trace_json_mb

MIME = {"csv": "text/csv", "json": "application/json", "html": "text/html", "png": "image/png"}


def _download(where, label: str, make: Callable[[], str | bytes], file_name: str, help_text: str, **kwargs) -> None:
    """One button whose file `make()` builds on click; the app does not rerun for a download."""
    where.download_button(
        label,
        make,
        file_name=file_name,
        mime=MIME[file_name.rsplit(".", 1)[1]],
        key=f"download_{file_name}",
        on_click="ignore",
        icon=":material/download:",
        help=help_text,
        **kwargs,
    )


def render_trace_downloads(trace: SkimTrace) -> None:
    row = st.container(horizontal=True)
    csv_help = "One row per layer and block: P(keep), kept / dropped / gone, the layer that dropped it."
    _download(row, "Decisions per layer (CSV)", lambda: decisions_csv(trace), "skim-decisions.csv", csv_help)
    summary_help = "What `python -m skim answer --json` prints: answer, blocks, per-layer decisions, timings."
    summary = trace.summary
    _download(
        row,
        "Summary (JSON)",
        lambda: json.dumps(summary(), ensure_ascii=False, indent=1),
        "skim-summary.json",
        summary_help,
    )
    label = f"Full trace with attention (JSON, ~{trace_json_mb(trace):.0f} MB)"
    trace_help = 'The summary plus the whole trace; `SkimTrace.from_dict(json.load(f)["trace"])` rebuilds it.'
    _download(row, label, lambda: trace_json(trace), "skim-trace.json", trace_help)


def render_figure_downloads(fig: go.Figure, name: str) -> None:
    """Small buttons under a figure; `name` is the file stem and must be unique on the page."""
    row = st.container(horizontal=True, gap="small")
    html_help = "The interactive figure as one page that opens offline."
    _download(row, "HTML", lambda: figure_html(fig), f"{name}.html", html_help, type="tertiary")
    if png_export_available():
        png_help = "Rendered by a headless Chromium: takes a few seconds."
        _download(row, "PNG", lambda: figure_png(fig), f"{name}.png", png_help, type="tertiary")
