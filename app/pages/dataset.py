"""The Dataset page (a Streamlit page script): evaluate a batch of SQuAD questions with and without skimming, find
the ones skimming got wrong, open any of them in the explorer, and see F1 and speed-up against the threshold."""

from __future__ import annotations

import streamlit as st

from app.dataset import MAX_UPLOAD_MB, Dataset, fingerprint
from app.dataset_runs import sample_dataset, uploaded_dataset
from app.dataset_views import render_batch, render_what_if
from app.markup import markdown_text
from app.state import load_reader, model_path
from skim import InputError

BATCH_QUESTIONS = 100  # ~15 s with the shipped model on 2 CPU cores: full and skimmed run of each question
WHAT_IF_QUESTIONS = 30  # × 12 runs (full model + 11 thresholds) ≈ 30 s


def choose_dataset() -> Dataset | None:
    """The bundled sample, or a validated upload; `None` after saying why there is nothing to show."""
    source = st.radio(
        "Questions from",
        ["sample", "upload"],
        format_func={"sample": "the bundled SQuAD v1.1 dev sample", "upload": "a file I upload"}.get,
        horizontal=True,
        key="dataset_source",
    )
    if source == "sample":
        dataset = sample_dataset()
        st.caption(
            f"{len(dataset.rows)} questions of the SQuAD v1.1 dev set (whole paragraphs of "
            f"{len({r['title'] for r in dataset.rows})} articles, chosen with a fixed seed). "
            "SQuAD: Rajpurkar et al. 2016, CC BY-SA 4.0 ([SQuAD](https://rajpurkar.github.io/SQuAD-explorer/))."
        )
        return dataset
    upload = st.file_uploader(
        f"An official-format SQuAD v1.1 JSON file (up to {MAX_UPLOAD_MB} MB, e.g. dev-v1.1.json)",
        type=["json"],
        max_upload_size=MAX_UPLOAD_MB,
        key="dataset_upload",
    )
    if upload is None:
        st.info('Upload a SQuAD v1.1 JSON file: `{"data": [{"title", "paragraphs": [{"context", "qas"}]}]}`.')
        return None
    data = upload.getvalue()
    try:
        dataset = uploaded_dataset(fingerprint(data), data)
    except InputError as err:
        st.error(f"Cannot use this file: {markdown_text(str(err))}")
        return None
    skipped = f"; {dataset.skipped} without a gold answer left out" if dataset.skipped else ""
    st.caption(f"{markdown_text(upload.name)}: {len(dataset.rows)} questions{skipped}.")
    return dataset


st.title("Dataset")
st.caption(
    "Evaluate SQuAD questions with and without skimming, find those skimming got wrong, and open any of them in "
    "the explorer to see the layer and block that were dropped."
)
reader = load_reader(model_path())  # cached; the entry script has already stopped if it cannot load
dataset = choose_dataset()
if dataset is None:
    st.stop()
st.subheader("Batch evaluation")
render_batch(reader, dataset, BATCH_QUESTIONS)
st.subheader("Threshold what-if")
render_what_if(reader, dataset, WHAT_IF_QUESTIONS)
