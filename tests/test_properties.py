"""Property-based checks (hypothesis) of span mapping and the block partition on random texts."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

WORDS = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
PASSAGES = st.lists(WORDS, min_size=1, max_size=120).map(" ".join)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(passage=PASSAGES, threshold=st.sampled_from([0.0, 0.3, 0.6, 1.0]))
@example(passage="0 0 0:0:0:\uce51", threshold=0.0)  # the Hangul syllable's three pieces straddle blocks 0 and 1
def test_blocks_cover_each_window_once_and_answers_match_offsets(tiny_reader, passage, threshold):
    try:
        trace = tiny_reader("what is this?", passage, threshold=threshold)
    except ValueError as err:  # only a passage with no readable text may be refused
        assert "no readable text" in str(err) or "empty" in str(err)
        return
    for w in range(len(trace.windows)):
        blocks = [b for b in trace.blocks if b.window == w]
        assert all(a.end_char == b.start_char for a, b in zip(blocks, blocks[1:]))
        assert all(b.start_char <= b.end_char for b in blocks)
        # empty only when the block holds nothing but the pieces of a character the block before it holds
        window = trace.windows[w]
        for a, b in zip(blocks, blocks[1:]):
            if b.start_char == b.end_char:
                assert all(o is None or o[1] <= a.end_char for o in window.offsets[b.token_start : b.token_end])
    assert trace.blocks[0].start_char == 0 and trace.blocks[-1].end_char == len(passage)
    for answer in [trace.answer, *trace.alternatives] if trace.answer else []:
        assert passage[answer.start_char : answer.end_char] == answer.text
    # every context token falls inside its block's character range, or (a piece of a character whose pieces
    # straddle the cut) inside the block before it, which holds that character
    for before, block in zip([None, *trace.blocks], trace.blocks):
        window = trace.windows[block.window]
        for offset in window.offsets[block.token_start : block.token_end]:
            if offset is None:
                continue
            inside = block.start_char <= offset[0] and offset[1] <= block.end_char
            held_before = (
                before is not None
                and before.window == block.window
                and before.start_char <= offset[0]
                and offset[1] <= before.end_char
            )
            assert inside or held_before, (offset, block)
