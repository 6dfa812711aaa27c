"""Sidebar controls shared by every page: example, skim predictor and threshold, skimming layers, full-model
comparison, a second checkpoint."""

from __future__ import annotations

import streamlit as st

from skim import Reader
from skim.inference import DTYPE_CHOICES

from .kinds import default_thresholds, kind_label, threshold_help
from .markup import markdown_text
from .state import examples, load_checkpoint, on_example_change, on_predictor_change, sync_url


def render_sidebar(reader: Reader) -> None:
    """Values live in `st.session_state` (keys `example`, `predictor`, `threshold`, `skim_layers`, `dtype`,
    `compare`, `checkpoint`), set once by `init_state`."""
    cfg = reader.model.config
    titles = {e.key: e.title for e in examples()}
    st.selectbox("Example", list(titles), format_func=titles.get, key="example", on_change=on_example_change)
    if len(cfg.predictor_kinds) > 1:
        st.radio(
            "Skim predictor",
            cfg.predictor_kinds,
            format_func=kind_label,
            key="predictor",
            on_change=on_predictor_change,
            args=(cfg,),
            help="What judges each block after a layer. **Question-aware (ours)**: a small network over how the "
            "question's tokens attend to the block and the block's tokens attend to the question. **Diagonal "
            "(paper)**: the paper's CNN over the block's attention to itself. See About.",
        )
    st.slider(
        "Skim threshold",
        min_value=0.0,
        max_value=1.0,
        step=0.001,
        format="%.3f",
        key="threshold",
        on_change=sync_url,
        help=threshold_help(cfg),
    )
    st.multiselect(
        "Skim after layers",
        reader.model.config.predictor_layers,
        format_func="layer {}".format,
        key="skim_layers",
        on_change=sync_url,
        placeholder="none: nothing is skimmed",
        help="Only these layers' predictors judge and drop blocks; the others let every block through. "
        "Early layers save the most work per dropped block but judge worst: on this model, skimming only after "
        "layers 3-5 is faster than after all six at the same accuracy (README, Speed).",
    )
    st.radio(
        "Arithmetic",
        DTYPE_CHOICES,
        key="dtype",
        horizontal=True,
        on_change=sync_url,
        help="How the explorer's reads multiply (the weights stay float32). **auto** (the default): bfloat16 "
        "(autocast) for a passage of several windows on a CPU that multiplies it natively, where a 30,000-character "
        "article is answered with every view in about 60 % of the float32 time; float32 otherwise, where bfloat16 "
        "did not pay (one window is read once, with its attention maps). **float32** gives exactly what "
        "`python -m skim answer` gives; bfloat16 scores differ by a few thousandths and can tip a close answer. "
        "The answer card names the one used. The Dataset page always reads in float32.",
    )
    st.toggle(
        "Compare with the full model", key="compare", help="Also run without skimming: time, speed-up, agreement."
    )
    st.caption(
        f"Model `{reader.name}` · {cfg.num_hidden_layers} layers · {cfg.num_attention_heads} heads · "
        f"blocks of {cfg.skim_block_size} tokens · {default_thresholds(cfg)}"
    )
    render_checkpoint_field()


def render_checkpoint_field() -> None:
    st.text_input(
        "Compare with another checkpoint",
        key="checkpoint",
        placeholder="/path/to/model directory",
        help="A local directory as `python -m skim train` exports it: config.json, model.safetensors and the "
        "tokenizer. Pickled weights (.bin, .pt) are refused. The explorer then shows its answer beside the default's.",
    )
    checkpoint = load_checkpoint(st.session_state.checkpoint)
    if checkpoint.error:
        st.error(f"Cannot load this checkpoint: {markdown_text(checkpoint.error)}")
    elif checkpoint.reader is not None:
        cfg = checkpoint.reader.model.config
        st.caption(
            f"Loaded {markdown_text(checkpoint.reader.name)} · {cfg.num_hidden_layers} layers · "
            f"{cfg.num_attention_heads} heads · {default_thresholds(cfg)}"
        )
