"""Pure HTML builders for the passage view and the answer card.

Every user-derived string goes through `html.escape`, and newlines become `<br>`, so the markup is a single
HTML block: `st.markdown` then passes it through as HTML without reading any of the user's text as Markdown.
"""

from __future__ import annotations

import html
import re

from skim import SkimTrace
from skim.trace import Block

from .palette import ANSWER, DROP_MARK, KEPT, drop_colors


def text_html(text: str) -> str:
    """User text as inert HTML: escaped, newlines as `<br>` (a blank line would end the HTML block)."""
    return html.escape(text.replace("\r\n", "\n").replace("\r", "\n"), quote=False).replace("\n", "<br>")


def markdown_text(text: str) -> str:
    """User text (a path, an error naming one) for Streamlit's Markdown elements (`st.error`, `st.caption`): one
    line, every ASCII punctuation mark backslash-escaped, so nothing in it becomes a link, emphasis, maths or an
    icon."""
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", " ".join(text.split()))


def block_color(dropped_at: int | None, num_layers: int) -> str:
    return KEPT if dropped_at is None else drop_colors(num_layers)[dropped_at]


def block_title(trace: SkimTrace, block: Block, dropped_at: int | None) -> str:
    """Hover text (a `title` attribute): the block's fate and its P(keep) at every layer that scored it."""
    lines = [f"block {block.id} (tokens {block.token_start}–{block.token_end - 1} of window {block.window})"]
    lines.append("kept to the end" if dropped_at is None else f"dropped at layer {dropped_at}")
    for layer in trace.layers:
        p = layer.keep_prob.get(str(block.id))
        if p is not None:
            lines.append(f"L{layer.layer} P(keep) {p:.3f}")
    return html.escape("\n".join(lines), quote=True).replace("\n", "&#10;")


def _with_answer(trace: SkimTrace, start: int, end: int) -> str:
    """Escaped `context[start:end]` with the part inside the answer span wrapped in `<mark>`."""
    a = trace.answer
    if a is None or a.end_char <= start or a.start_char >= end:
        return text_html(trace.context[start:end])
    lo, hi = max(start, a.start_char), min(end, a.end_char)
    mark = f'<mark style="background:#fff59d;outline:2px solid {ANSWER};font-weight:600;padding:0 1px">'
    context = trace.context
    return text_html(context[start:lo]) + mark + text_html(context[lo:hi]) + "</mark>" + text_html(context[hi:end])


def passage_html(trace: SkimTrace, window: int = 0) -> str:
    """The passage as coloured blocks of `window`; text outside that window is greyed."""
    blocks = [b for b in trace.blocks if b.window == window]
    dropped_at = trace.block_dropped_at()
    if not blocks:
        return f'<div class="skim-passage">{text_html(trace.context)}</div>'
    parts = [f'<span style="color:#999">{_with_answer(trace, 0, blocks[0].start_char)}</span>']
    for b in blocks:
        color = block_color(dropped_at[b.id], trace.num_layers)
        parts.append(
            f'<span class="skim-block" title="{block_title(trace, b, dropped_at[b.id])}" '
            f'style="background:{color};border-left:2px solid #fff;border-radius:3px;padding:2px 0;'
            f'box-decoration-break:clone;-webkit-box-decoration-break:clone">'
            f'<sup style="color:#666;font-size:0.65em;padding:0 2px">b{b.id}</sup>'
            f"{_with_answer(trace, b.start_char, b.end_char)}</span>"
        )
    parts.append(f'<span style="color:#999">{_with_answer(trace, blocks[-1].end_char, len(trace.context))}</span>')
    return f'<div class="skim-passage" style="line-height:1.9">{"".join(parts)}</div>'


def legend_html(num_layers: int) -> str:
    """Colour key of the passage view (no user text)."""
    chip = '<span style="background:{};padding:1px 6px;border-radius:3px;margin-right:6px">{}</span>'
    chips = [chip.format(c, f"dropped at L{i}") for i, c in enumerate(drop_colors(num_layers))]
    chips.append(chip.format(KEPT, "kept to the end"))
    chips.append(f'<mark style="background:#fff59d;outline:2px solid {ANSWER};font-weight:600">answer</mark>')
    return f'<div style="font-size:0.85em;line-height:2">{"".join(chips)}</div>'


def answer_html(trace: SkimTrace, gold: str | None = None) -> str:
    """The answer in large type (escaped), with its score and the gold answer when one is known."""
    if trace.answer is None:
        return '<div class="skim-answer" style="font-size:1.6em;color:#999">no answer found</div>'
    block = trace.answer_block()
    where = f" · block {block.id}" if block is not None else ""
    gold_line = f'<div style="color:#555;font-size:0.9em">gold answer: {text_html(gold)}</div>' if gold else ""
    answer = f'<div class="skim-answer" style="font-size:1.6em;font-weight:600;color:{ANSWER}">'
    score = f'<div style="color:#555;font-size:0.9em">score p(start)·p(end) = {trace.answer.score:.3f}{where}</div>'
    return f"{answer}{text_html(trace.answer.text)}</div>{score}{gold_line}"


def why_html(trace: SkimTrace, block: Block, gold: str | None = None, also: list[Block] | None = None) -> str:
    """Why `block` was dropped or kept, in sentences: the layer and P(keep) that decided, and where the model's
    answer came from instead. `gold` is the gold answer when `block` holds it; `also` its other holders (the
    overlapping part of another window)."""
    dropped_at = trace.block_dropped_at()
    probs = {layer.layer: layer.keep_prob[str(block.id)] for layer in trace.layers if str(block.id) in layer.keep_prob}
    where = f"window {block.window}, characters {block.start_char}–{block.end_char}"
    lines = [
        f"The gold answer <b>{text_html(gold)}</b> starts in block {block.id} ({where})."
        if gold
        else f"Block {block.id} ({where})."
    ]
    fate = dropped_at[block.id]
    if fate is not None:
        later = "no later layer read it" if fate < trace.num_layers - 1 else "the answer head never saw it"
        lines.append(
            f'<b style="color:{DROP_MARK}">Dropped by layer {fate}</b>: its P(keep) there was {probs[fate]:.3f}, below '
            f"the threshold {trace.threshold:g}, so {later} and no answer could come from it."
        )
    elif probs:
        low = min(probs, key=probs.get)
        lines.append(f"Kept by every layer; its lowest P(keep) was {probs[low]:.3f}, at layer {low}.")
    answer_block = trace.answer_block()
    if answer_block is None:
        lines.append("The model found no answer.")
    elif answer_block.id == block.id:
        lines.append("The model's answer comes from this block.")
    else:
        lines.append(f"The model answered from block {answer_block.id} instead.")
    for other in also or []:
        other_fate = "kept to the end" if dropped_at[other.id] is None else f"dropped by layer {dropped_at[other.id]}"
        lines.append(f"Its start is also in block {other.id} of window {other.window}: {other_fate}.")
    return f'<div class="skim-why">{"<br>".join(lines)}</div>'
