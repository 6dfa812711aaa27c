"""The app's cached model, cached traces and session defaults: everything that touches `st.session_state` or a cache."""

from __future__ import annotations

import os

import streamlit as st
import torch

from skim import InputError, Reader, SkimTrace

from .examples import Example, load_examples

MODEL_ENV = "SKIM_MODEL"  # a checkpoint directory; unset = the repo's assets/model (tests point it at a tiny model)


def model_path() -> str:
    return os.environ.get(MODEL_ENV, "")


@st.cache_resource(show_spinner="Loading the model…")
def load_reader(path: str) -> Reader:
    """One `Reader` per process, shared by every session: it is never mutated and `reader.lock` serialises
    forwards, which is what `cache_resource` requires of a shared object."""
    # Leave one core to the Streamlit server (and, on a laptop, the browser): OpenMP threads that must wait for a
    # busy core spin, and a 2-thread forward then took 5-10x longer here than a 1-thread one.
    torch.set_num_threads(max(1, min(torch.get_num_threads(), (os.cpu_count() or 2) - 1)))
    reader = Reader.from_pretrained(path or None)
    # The first forward of a process pays one-off kernel set-up; without this warm-up the first skimmed run
    # would look several times slower than the full run that follows it.
    for skim in (True, False):
        reader("Warm up?", "A short passage to warm the model up.", skim=skim, attention="none")
    return reader


# A trace with every head's attention is ~20 MB for a full 384-token window (6 layers × 12 heads, float16), and
# cache_data hands each rerun its own unpickled copy: keep few entries.
@st.cache_data(max_entries=6, show_spinner=False)
def read(_reader: Reader, model_key: str, question: str, passage: str, threshold: float, skim: bool) -> SkimTrace:
    """Answer once per distinct input. `model_key` stands in for the unhashable reader in the cache key.
    The full-model run keeps no attention: nothing draws it, and it would double the cache."""
    return _reader(question, passage, threshold=threshold, skim=skim, attention="heads" if skim else "none")


@st.cache_data(show_spinner=False)
def examples() -> list[Example]:
    return load_examples()


def example_by_key(key: str) -> Example:
    return next((e for e in examples() if e.key == key), examples()[0])


def init_state(default_threshold: float) -> None:
    """Fill the session once, from the URL when it names an example or a threshold, else the first example."""
    ss = st.session_state
    if "example" not in ss:
        ss.example = example_by_key(st.query_params.get("example", "")).key
    if "threshold" not in ss:
        try:
            ss.threshold = min(max(float(st.query_params.get("threshold", default_threshold)), 0.0), 1.0)
        except ValueError:
            ss.threshold = default_threshold
    if "compare" not in ss:
        ss.compare = True
    if "passage" not in ss:
        use_example(ss.example)
    # Widgets that are not drawn in a run (form fields while another page is open) lose their state; writing it
    # back keeps the user's text across page switches.
    ss.passage, ss.question = ss.passage, ss.question


def use_example(key: str) -> None:
    example = example_by_key(key)
    st.session_state.passage = example.passage
    st.session_state.question = example.question


def on_example_change() -> None:
    use_example(st.session_state.example)
    st.query_params["example"] = st.session_state.example


def on_threshold_change() -> None:
    st.query_params["threshold"] = f"{st.session_state.threshold:g}"


def open_in_explorer(passage: str, question: str, answers: list[str], answer_start: int | None = None) -> None:
    """Load a passage and question (e.g. a Dataset row) into the explorer, remembering its gold answer(s)."""
    ss = st.session_state
    ss.passage, ss.question = passage, question
    ss.gold = {"passage": passage, "question": question, "answers": list(answers), "answer_start": answer_start}


def gold() -> dict | None:
    """Gold answers of what is being read, `{"answers": [...], "answer_start": int | None}`, or None: from the
    Dataset row that was opened, else the example's; only while its passage and question are unchanged."""
    ss = st.session_state
    row = ss.get("gold")
    if row and ss.passage == row["passage"] and ss.question == row["question"]:
        return row
    e = example_by_key(ss.example)
    if e.answer and ss.passage == e.passage and ss.question == e.question:
        return {"passage": e.passage, "question": e.question, "answers": [e.answer], "answer_start": None}
    return None


def gold_answer() -> str | None:
    """The first gold answer of what is being read, if known."""
    row = gold()
    return row["answers"][0] if row and row["answers"] else None


def get_reader() -> Reader | None:
    """The cached reader, or `None` after showing why it could not be loaded (one line, no traceback)."""
    try:
        return load_reader(model_path())
    except InputError as err:
        st.error(f"Cannot load the model: {err}")
        return None
