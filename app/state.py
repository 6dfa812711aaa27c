"""The app's cached model, cached traces and session defaults: everything that touches `st.session_state` or a cache."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import streamlit as st
import torch

from skim import InputError, Reader, SkimConfig, SkimTrace
from skim.allocator import keep_freed_memory
from skim.inference import bfloat16_is_fast

from .examples import Example, load_examples
from .url import URL_PARAMS, default_dtype, url_dtype, url_int, url_layers, url_predictor, url_threshold

MODEL_ENV = "SKIM_MODEL"  # a checkpoint directory; unset = the repo's assets/model (tests point it at a tiny model)
MAX_PASSAGE_CHARS = 30_000  # the passage box's limit: ~20 windows, which bounds one run
MAX_QUESTION_CHARS = 1_000  # from a URL; the reader keeps the first 64 tokens anyway
URL_PASSAGE_CHARS = 5_000  # a pasted passage rides in the link up to this (SQuAD paragraphs average ~750)
# Option values of the attention selectors that are not a head or a block. Not None: a selectbox whose session
# value is None shows no selection at all.
MEAN_HEAD = "mean"
WHOLE_MAP = "all"


def model_path() -> str:
    return os.environ.get(MODEL_ENV, "")


@st.cache_resource(show_spinner="Loading the model…", max_entries=4)  # the default and a few checkpoints
def load_reader(path: str, version: str = "") -> Reader:
    """One `Reader` per process, shared by every session: it is never mutated and `reader.lock` serialises
    forwards, which is what `cache_resource` requires of a shared object. `version` only keys the cache: a
    checkpoint directory overwritten by training loads afresh."""
    # Leave one core to the Streamlit server (and, on a laptop, the browser): OpenMP threads that must wait for a
    # busy core spin, and a 2-thread forward then took 5-10x longer here than a 1-thread one.
    torch.set_num_threads(max(1, min(torch.get_num_threads(), (os.cpu_count() or 2) - 1)))
    # A long passage is read 16 windows a forward, whose feed-forward buffers (38 MB) glibc would unmap on free and
    # fault in again at every layer (skim/allocator.py); kept, a 30,000-character article's answer and views came
    # 12 % sooner in one paired run of scripts/bench_app.py --article.
    keep_freed_memory()
    reader = Reader.from_pretrained(path or None)
    # The first forward of a process pays one-off kernel set-up; without this warm-up the first skimmed run
    # would look several times slower than the full run that follows it.
    # A plain QA checkpoint (no predictors) cannot skim: it loads as a checkpoint to compare with, read at full
    # length; as the app's own model `get_reader` refuses it.
    # The passage is long enough to be judged (`skim_min_tokens`): a shorter one never ran the predictors, and the
    # first real skimmed input then paid their set-up (619 ms against 223 ms unskimmed in a screenshot).
    warm_up = " ".join(["A passage to warm the model up, long enough for its predictors to judge it."] * 24)
    for dtype in ("float32", "bfloat16") if bfloat16_is_fast() else ("float32",):  # what "auto" may pick
        for kind in reader.model.config.predictor_kinds if reader.model.has_predictors else []:  # each fast reader
            reader("Warm up?", warm_up, attention="none", predictor=kind, dtype=dtype)
        reader("Warm up?", warm_up, skim=False, attention="none", dtype=dtype)
    return reader


# A trace with every head's attention is ~20 MB for a full 384-token window (6 layers × 12 heads, float16), and
# cache_data hands each rerun its own unpickled copy: keep few entries.
@st.cache_data(max_entries=6, show_spinner=False)
def read(
    _reader: Reader,
    model_key: str,
    question: str,
    passage: str,
    threshold: float,
    skim: bool,
    attention: str = "",
    skim_layers: tuple[int, ...] | None = None,
    predictor: str | None = None,
    dtype: str = "float32",
) -> SkimTrace:
    """Answer once per distinct input. `model_key` stands in for the unhashable reader in the cache key.
    By default the skimmed run keeps every head's attention (the views draw it) and the full-model run none:
    nothing draws it, and it would double the cache. `attention="none"` runs the fast path, whose time is the
    one to compare with the full run (copying attention out costs the trace run several times the forward).
    `skim_layers`: skim only after these layers (None: every predictor layer). `predictor`: the kind that judges
    (None: the checkpoint's default; the full-model run passes None, whatever the sidebar says, to share one entry).
    `dtype`: the sidebar's arithmetic, "auto", "float32" or "bfloat16" (autocast); the trace records the one used."""
    attention = attention or ("heads" if skim else "none")
    return _reader(
        question,
        passage,
        threshold=threshold,
        skim=skim,
        attention=attention,
        skim_layers=skim_layers,
        predictor=predictor,
        dtype=dtype,
    )


def chosen_skim_layers(config: SkimConfig | None = None) -> tuple[int, ...] | None:
    """The sidebar's layers for a model with `config` (default: the app's model): None when they are all its
    predictor layers (the default, and the same cache entry as before any choice), else those of them it has."""
    allowed = config.predictor_layers if config is not None else st.session_state.predictor_layers
    chosen = tuple(i for i in allowed if i in st.session_state.skim_layers)
    return None if len(chosen) == len(allowed) else chosen


def chosen_predictor(config: SkimConfig | None = None) -> str:
    """The sidebar's predictor kind if the model with `config` (default: the app's) holds it, else its default."""
    kind = st.session_state.predictor
    return kind if config is None or kind in config.predictor_kinds else config.skim_default_predictor


def on_predictor_change(config: SkimConfig) -> None:
    """A new kind's scores mean something else: the threshold moves to that kind's default."""
    st.session_state.threshold = config.default_threshold(st.session_state.predictor)
    sync_url()


@st.cache_data(show_spinner=False)
def examples() -> list[Example]:
    return load_examples()


def example_by_key(key: str) -> Example:
    return next((e for e in examples() if e.key == key), examples()[0])


def init_state(config: SkimConfig) -> None:
    """Fill the session once: from the URL's parameters where they are valid (anything else falls back to the
    default silently), else the first example at the model's default threshold."""
    ss, url = st.session_state, st.query_params
    if "example" not in ss:
        ss.example = example_by_key(url.get("example", "")).key
    if "predictor" not in ss:
        ss.predictor = url_predictor(config)
    if "threshold" not in ss:  # the link's, else the default of the kind that judges
        ss.threshold = url_threshold(config.default_threshold(ss.predictor))
    ss.predictor_kinds = config.predictor_kinds
    ss.predictor_layers = config.predictor_layers
    if "skim_layers" not in ss:
        ss.skim_layers = url_layers(config.predictor_layers)
    if "dtype" not in ss:
        ss.dtype = url_dtype()
    if "compare" not in ss:
        ss.compare = True
    if "checkpoint" not in ss:
        ss.checkpoint = ""
    if "passage" not in ss:
        use_example(ss.example)
        _restore_texts()
    if "layer" not in ss:
        ss.layer = url_int("layer", config.num_hidden_layers) or 0
    if "head" not in ss:
        head = url_int("head", config.num_attention_heads)
        ss.head = MEAN_HEAD if head is None else head
    if "attn_block" not in ss:
        block = url_int("block", 1_000_000)  # checked against the blocks alive when the view is drawn
        ss.attn_block = WHOLE_MAP if block is None else block
    # Widgets that are not drawn in a run (form fields and selectors while another page is open) lose their
    # state; writing it back keeps the user's text and view across page switches.
    for key in ("passage", "question", "skim_layers", "layer", "head", "attn_block"):
        ss[key] = ss[key]


def _restore_texts() -> None:
    """A linked question replaces the example's; a linked passage (with its gold answer) replaces its text."""
    ss, url = st.session_state, st.query_params
    if url.get("question", "").strip():
        ss.question = url["question"][:MAX_QUESTION_CHARS]
    if url.get("passage", "").strip():
        ss.passage = url["passage"][:MAX_PASSAGE_CHARS]
    if url.get("gold", "").strip():
        open_in_explorer(ss.passage, ss.question, [url["gold"]], url_int("gold_start", len(ss.passage)))


def passage_in_url(passage: str) -> bool:
    """Whether a link can carry this passage: an example's goes by its key, a pasted one by value if short."""
    return passage == example_by_key(st.session_state.example).passage or len(passage) <= URL_PASSAGE_CHARS


def sync_url() -> None:
    """Write the view into the URL so that a copied link reopens it: called by the selectors' `on_change`
    callbacks and once per explorer run (a submitted form, a row opened from another page). Parameters that
    are not ours are left alone."""
    ss = st.session_state
    example = example_by_key(ss.example)
    params = {"example": example.key}
    if ss.question != example.question:
        params["question"] = ss.question
    if ss.passage != example.passage and passage_in_url(ss.passage):
        params["passage"] = ss.passage
    row = ss.get("gold")
    if row and gold() is row and row["answers"] and passage_in_url(ss.passage):
        params["gold"] = row["answers"][0]
        if row["answer_start"] is not None:
            params["gold_start"] = str(row["answer_start"])
    if len(ss.predictor_kinds) > 1:  # a model with one kind has nothing to choose
        params["predictor"] = ss.predictor
    params["threshold"] = f"{ss.threshold:g}"
    layers = chosen_skim_layers()
    if layers is not None:  # all of them, the default, stays out of the link
        params["skim_layers"] = ",".join(map(str, layers))
    if ss.dtype != default_dtype():  # the default stays out of the link
        params["dtype"] = ss.dtype
    params["layer"] = str(ss.layer)
    params["head"] = str(ss.head)
    if ss.attn_block != WHOLE_MAP:
        params["block"] = str(ss.attn_block)
    for key in URL_PARAMS:
        if key not in params and key in st.query_params:
            del st.query_params[key]
    changed = {k: v for k, v in params.items() if st.query_params.get(k) != v}
    if changed:
        st.query_params.update(changed)


def use_example(key: str) -> None:
    example = example_by_key(key)
    st.session_state.passage = example.passage
    st.session_state.question = example.question


def on_example_change() -> None:
    use_example(st.session_state.example)
    sync_url()


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
        reader = load_reader(model_path())
        reader.model.check_skim(True)  # the explorer skims: a plain checkpoint is only one to compare with
        return reader
    except InputError as err:
        st.error(f"Cannot load the model: {err}")
        return None


@dataclass(frozen=True)
class Checkpoint:
    """What the sidebar's checkpoint field gave: a reader, or the one-line reason it could not load."""

    reader: Reader | None = None
    key: str = ""  # stands in for the reader in `read`'s cache key: its path and the weights' modification time
    error: str | None = None


def load_checkpoint(text: str) -> Checkpoint:
    """The reader of a local checkpoint directory typed by the user (empty field: no reader, no error). A name
    that is not a local directory is refused, never looked up on the hub; pickled weights are refused by
    `skim.load_model`."""
    text = text.strip()
    if not text:
        return Checkpoint()
    path = Path(text).expanduser()
    if not path.is_dir():
        return Checkpoint(error=f"not a local directory: {text}")
    path = path.resolve()
    version = str(max((f.stat().st_mtime_ns for f in path.glob("*.safetensors")), default=0))
    try:
        return Checkpoint(load_reader(str(path), version), f"{path}@{version}")
    except InputError as err:
        return Checkpoint(error=str(err))
