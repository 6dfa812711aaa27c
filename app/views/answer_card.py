"""The answer card: answer, score, time with and without skimming, speed-up, saving, agreement."""

from __future__ import annotations

import streamlit as st

from skim import SkimTrace

from ..markup import answer_html, text_html


def render_answer_card(
    trace: SkimTrace,
    full: SkimTrace | None,
    gold: str | None = None,
    timed: SkimTrace | None = None,
    pending: bool = False,
) -> None:
    """`full` is the same input read without skimming, or `None` when the comparison is off or still `pending`
    (the page draws the card again when it is done); `timed` the same skimmed run without attention maps, whose
    model time is the one comparable with `full`'s."""
    with st.container(border=True):
        st.caption("Answer")
        st.markdown(answer_html(trace, gold), unsafe_allow_html=True)
        for row in range(0, 6, 2):  # two per row: three squeeze values like "124 ms" into "124…" in this column
            for col, (label, value, help_text) in zip(st.columns(2), _cells(trace, full, timed)[row : row + 2]):
                col.metric(label, value, help=help_text)
        # The same elements in the same order whatever `full` is: the page draws the card a second time in the same
        # run once the comparison is in, and the browser keeps any element of the first past the second's last.
        disagreement = ""
        if full is not None and full.answer is not None and not _agree(trace, full):
            disagreement = f"Full model: <b>{text_html(full.answer.text)}</b> (score {full.answer.score:.3f})"
        st.markdown(f"<div>{disagreement}</div>", unsafe_allow_html=True)
        if full is not None:
            st.caption("Without skimming: the same model with no block removed, read after the views were drawn.")
        elif pending:
            st.caption("The full model is reading the same input for the comparison…")
        else:
            st.caption("Turn on *Compare with the full model* in the sidebar for the unskimmed time and answer.")
        st.caption(
            f"Timings are for this machine, in {trace.dtype} arithmetic, and include noise from anything else it runs."
        )


SPEED_UP_HELP = (
    "Time without ÷ time with skimming. Below 1× the predictors cost more than the blocks they removed saved: "
    "each predictor costs a tenth (ours) to a sixth (the paper's) of a layer, and a block dropped late saves little. On this 6-layer "
    "model only blocks dropped after the first layers pay (see About)."
)


def _cells(trace: SkimTrace, full: SkimTrace | None, timed: SkimTrace | None) -> list[tuple[str, str, str | None]]:
    """(label, value, help) of each metric. Model time only (both runs share tokenisation), taken from runs
    that copy no attention out: the trace run does, for the views, and would look several times slower."""
    # A traced passage of many windows was read by the fast path first (`model_fast`): that is the time to compare.
    skim_ms = timed.timings_ms["model"] if timed else trace.timings_ms.get("model_fast", trace.timings_ms["model"])
    full_ms = full.timings_ms["model"] if full else None
    dropped = sum(len(layer.dropped_blocks) for layer in trace.layers)
    return [
        ("With skimming", f"{skim_ms:.0f} ms", "Model forward time, blocks removed as they are judged."),
        ("Without skimming", f"{full_ms:.0f} ms" if full_ms else "—", "The same model with no block removed."),
        ("Speed-up", f"{full_ms / skim_ms:.2f}×" if full_ms else "—", SPEED_UP_HELP),
        ("Token-layers saved", f"{1 - trace.kept_fraction:.0%}", "1 − kept fraction: token × layer work skipped."),
        ("Blocks dropped", f"{dropped} of {len(trace.blocks)}", None),
        ("Full model agrees", "—" if full is None else "yes" if _agree(trace, full) else "no", "Same answer text?"),
    ]


def _agree(trace: SkimTrace, full: SkimTrace) -> bool:
    return (trace.answer.text if trace.answer else "") == (full.answer.text if full.answer else "")
