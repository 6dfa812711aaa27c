"""Reading the page's link (`st.query_params`): each parser returns a valid value or the default, silently, so a
stale or hand-edited link never breaks a page."""

from __future__ import annotations

import math
import os

import streamlit as st

from skim import SkimConfig
from skim.inference import DTYPE_CHOICES

URL_PARAMS = (
    "example", "question", "passage", "gold", "gold_start", "predictor", "threshold", "skim_layers", "dtype", "layer",
    "head", "block",
)  # fmt: skip


def url_predictor(config: SkimConfig) -> str:
    """The URL's `predictor` if the model holds that kind, else the checkpoint's default."""
    kind = st.query_params.get("predictor", "")
    return kind if kind in config.predictor_kinds else config.skim_default_predictor


DTYPE_ENV = "SKIM_DTYPE"  # the explorer's default arithmetic (the tests pin float32); unset: "auto"


def default_dtype() -> str:
    """`SKIM_DTYPE` if it is one the Reader takes, else "auto": bfloat16 for a passage of several windows where this
    CPU multiplies it natively (a long article read in ~60 % of the float32 time), float32 otherwise."""
    pinned = os.environ.get(DTYPE_ENV, "")
    return pinned if pinned in DTYPE_CHOICES else "auto"


def url_dtype() -> str:
    """The URL's `dtype` if it is one the Reader takes, else the default."""
    value = st.query_params.get("dtype", "")
    return value if value in DTYPE_CHOICES else default_dtype()


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
