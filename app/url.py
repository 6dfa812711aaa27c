"""Reading the page's link (`st.query_params`): each parser returns a valid value or the default, silently, so a
stale or hand-edited link never breaks a page."""

from __future__ import annotations

import math

import streamlit as st

from skim import SkimConfig

URL_PARAMS = (
    "example", "question", "passage", "gold", "gold_start", "predictor", "threshold", "skim_layers", "layer", "head",
    "block",
)  # fmt: skip


def url_predictor(config: SkimConfig) -> str:
    """The URL's `predictor` if the model holds that kind, else the checkpoint's default."""
    kind = st.query_params.get("predictor", "")
    return kind if kind in config.predictor_kinds else config.skim_default_predictor


def url_threshold(default: float) -> float:
    try:
        value = float(st.query_params.get("threshold", default))
    except ValueError:
        return default
    return round(min(max(value, 0.0), 1.0), 3) if math.isfinite(value) else default


def url_layers(allowed: list[int]) -> list[int]:
    """The URL's `skim_layers` ("3,4,5"; empty: none) if every entry is one of `allowed`, else all of them."""
    text = st.query_params.get("skim_layers")
    if text is None:
        return list(allowed)
    try:
        chosen = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        return list(allowed)
    return chosen if set(chosen) <= set(allowed) else list(allowed)


def url_int(name: str, limit: int) -> int | None:
    """The URL's integer parameter `name` if it is in `[0, limit)`, else None."""
    try:
        value = int(st.query_params.get(name, ""))
    except ValueError:
        return None
    return value if 0 <= value < limit else None
