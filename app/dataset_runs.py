"""The Dataset page's cached work: loading files and running batches of questions, with a progress bar.

The progress bar is created inside each cached function on purpose: Streamlit replays what a cached function
drew, and an element created outside it could not be replayed (CacheReplayClosureError). The bar empties itself
at the end, so a cache hit replays nothing visible.
"""

from __future__ import annotations

import streamlit as st

from skim import Reader
from skim.evaluate import run_questions, sweep

from .dataset import Dataset, load_sample, parse_squad_bytes


@st.cache_data(show_spinner=False)
def sample_dataset() -> Dataset:
    return load_sample()


@st.cache_data(show_spinner="Reading the file…", max_entries=4)
def uploaded_dataset(fingerprint: str, _data: bytes) -> Dataset:
    """Parsed once per distinct file: `fingerprint` (a hash of `_data`) is the cache key, so 5 MB of bytes are not
    hashed again on every rerun."""
    return parse_squad_bytes(_data)  # InputError is raised, not cached: the page shows it


def _progress_bar(label: str):
    bar = st.progress(0.0, text=label)

    def on_progress(done: int, total: int) -> None:
        bar.progress(done / total, text=f"{label} {done} of {total} runs")

    return bar, on_progress


@st.cache_data(show_spinner=False, max_entries=16)
def batch_eval(
    _reader: Reader,
    model_key: str,
    fingerprint: str,
    _rows: list[dict],
    n: int,
    threshold: float,
    skim_layers: tuple[int, ...] | None = None,
    predictor: str | None = None,
) -> dict:
    """The first `n` rows read by the full model and by skimming at `threshold` (after `skim_layers` only, None:
    all; judged by the `predictor` kind, None: the default): two `run_questions` results. `model_key` and
    `fingerprint` stand in for the unhashed reader and rows in the cache key."""
    rows = _rows[:n]
    bar, on_progress = _progress_bar(f"Answering {n} questions without and with skimming…")
    full = run_questions(_reader, rows, None, False, "full model", lambda done, _: on_progress(done, 2 * n))
    skim = run_questions(
        _reader, rows, threshold, True, "skimming", lambda done, _: on_progress(n + done, 2 * n), skim_layers, predictor
    )
    bar.empty()
    return {"n": n, "threshold": threshold, "full": full, "skim": skim}


@st.cache_data(show_spinner=False, max_entries=8)
def what_if(
    _reader: Reader,
    model_key: str,
    fingerprint: str,
    _rows: list[dict],
    n: int,
    thresholds: tuple[float, ...],
    skim_layers: tuple[int, ...] | None = None,
    predictor: str | None = None,
) -> dict:
    """`skim.evaluate.sweep` of the first `n` rows at each of `thresholds`, skimming after `skim_layers` only and
    judged by the `predictor` kind (None: the default)."""
    which = f" with the {predictor} predictor" if predictor else ""
    bar, on_progress = _progress_bar(
        f"Answering {n} questions at {len(thresholds)} thresholds{which} and without skimming…"
    )
    result = sweep(_reader, _rows[:n], list(thresholds), on_progress, skim_layers, predictor)
    bar.empty()
    return result
