"""Where the gold answer sits among a trace's blocks: pure functions, no Streamlit (the "why did it skim" panel)."""

from __future__ import annotations

from skim import SkimTrace
from skim.trace import Block


def gold_start(passage: str, answers: list[str], answer_start: int | None) -> int | None:
    """Character where the gold answer starts: `answer_start` when it points at the answer, else the first
    occurrence of an answer text in the passage, else None."""
    points_at_answer = not answers or any(passage.startswith(a, answer_start or 0) for a in answers)
    if answer_start is not None and 0 <= answer_start < len(passage) and points_at_answer:
        return answer_start
    for answer in answers:
        found = passage.find(answer) if answer else -1
        if found >= 0:
            return found
    return None


def gold_blocks(trace: SkimTrace, gold: dict | None) -> list[Block]:
    """Blocks holding the first character of the gold answer of a `state.gold()` record (a block holds the answer
    by its first character, as `skim.evaluate.gold_block_survives` counts it): one, or two where overlapping
    windows both read it. The one to explain comes first: in the window whose attention the trace kept, so that
    its predictor's inputs can be shown."""
    if not gold:
        return []
    start = gold_start(trace.context, gold.get("answers", []), gold.get("answer_start"))
    if start is None:
        return []
    holders = [b for b in trace.blocks if b.start_char <= start < b.end_char]
    shown = {a.window for a in trace.attention}
    return sorted(holders, key=lambda b: b.window not in shown)  # stable: window order otherwise
