"""Files to take away from one run: the trace, its per-layer decisions, and figures. Pure builders, no Streamlit."""

from __future__ import annotations

import csv
import functools
import io
import json

import plotly.graph_objects as go

from skim import SkimTrace

CSV_FIELDS = ["layer", "block", "window", "start_char", "end_char", "text", "keep_prob", "decision", "dropped_at"]
CSV_SNIPPET_CHARS = 80
FIGURE_CONFIG = {"displaylogo": False}


def trace_json(trace: SkimTrace) -> str:
    """`{"summary", "trace"}`: the CLI's `--json` record, and the whole trace with attention as base64 float16,
    which `SkimTrace.from_dict(json.loads(text)["trace"])` rebuilds."""
    return json.dumps({"summary": trace.summary(), "trace": trace.to_dict()}, ensure_ascii=False)


def trace_json_mb(trace: SkimTrace) -> float:
    """Rough size of `trace_json` in MB (attention dominates; base64 adds a third), for the button's label."""
    return sum(a.weights.size * 2 for a in trace.attention) * 4 / 3 / 1e6 + len(trace.context) * 3 / 1e6


def _cell_text(text: str) -> str:
    """One line of block text; a leading = + - @ would make a spreadsheet run it as a formula, so quote it."""
    flat = " ".join(text.split())[:CSV_SNIPPET_CHARS]
    return "'" + flat if flat[:1] in ("=", "+", "-", "@") else flat


def decisions_csv(trace: SkimTrace) -> str:
    """One row per (layer, block): its P(keep) there (empty if not scored), `kept` / `dropped` (cut by this layer)
    / `gone` (cut earlier), and the layer that dropped it (empty if it survived)."""
    dropped_at = trace.block_dropped_at()
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for layer in trace.layers:
        kept, dropped = set(layer.kept_blocks), set(layer.dropped_blocks)
        for b in trace.blocks:
            writer.writerow(
                {
                    "layer": layer.layer,
                    "block": b.id,
                    "window": b.window,
                    "start_char": b.start_char,
                    "end_char": b.end_char,
                    "text": _cell_text(trace.context[b.start_char : b.end_char]),
                    "keep_prob": layer.keep_prob.get(str(b.id), ""),
                    "decision": "kept" if b.id in kept else "dropped" if b.id in dropped else "gone",
                    "dropped_at": "" if dropped_at[b.id] is None else dropped_at[b.id],
                }
            )
    return out.getvalue()


def standalone(fig: go.Figure) -> go.Figure:
    """A copy laid out to stand alone. The builders' tight margins count on Streamlit's chart theme, which grows
    them to fit tick labels and axis titles; outside the app those would be cut off."""
    out = go.Figure(fig)
    out.update_xaxes(automargin=True)
    out.update_yaxes(automargin=True)
    return out


def figure_html(fig: go.Figure) -> str:
    """A standalone page that works offline: plotly.js (~4.8 MB) is inlined rather than fetched from a CDN."""
    return standalone(fig).to_html(include_plotlyjs=True, full_html=True, config=FIGURE_CONFIG)


@functools.cache
def png_export_available() -> bool:
    """PNG export needs kaleido and a Chrome/Chromium on this machine (kaleido drives it; nothing is fetched)."""
    try:
        import kaleido  # noqa: F401
        from choreographer.browsers.chromium import Chromium
    except ImportError:
        return False
    return Chromium.find_browser(skip_local=False) is not None


def figure_png(fig: go.Figure) -> bytes:
    """The figure as a PNG at twice the screen resolution; a few seconds, as kaleido starts a headless browser."""
    return standalone(fig).to_image(format="png", width=1200, scale=2)
