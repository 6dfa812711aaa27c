"""The Streamlit app end to end, in process (AppTest), on the tiny random checkpoint from conftest."""

from __future__ import annotations

import html
import json
import re

import pytest
from streamlit.testing.v1 import AppTest

from app.examples import load_examples
from tests.app_driver import app_on_model, chart, run_app, shown_markup, submit


@pytest.fixture(autouse=True)
def tiny_app_model(tiny_model_dir, monkeypatch):
    yield from app_on_model(tiny_model_dir, monkeypatch)


def visible_text(markup: str) -> str:
    """What a reader sees of our markup: tags and block labels gone, entities still escaped."""
    return re.sub(r"<[^>]+>", "", re.sub(r"<sup[^>]*>b\d+</sup>", "", markup))


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def answer_markup(at: AppTest) -> str:
    return next(m for m in shown_markup(at) if 'class="skim-answer"' in m)


def test_default_page_shows_the_worked_example(tiny_reader):
    at = run_app()
    assert not at.exception
    assert not at.error
    first = load_examples()[0]
    assert at.session_state["passage"] == first.passage
    expected = tiny_reader(first.question, first.passage).answer.text
    assert html.escape(expected, quote=False) in answer_markup(at)
    charts = at.get("plotly_chart")
    assert len(charts) >= 3
    types = [json.loads(c.proto.spec)["data"][0]["type"] for c in charts]
    assert types.count("heatmap") >= 2  # skim map and attention
    assert metric(at, "Full model agrees") == "yes"  # default threshold keeps everything on the tiny model


def test_threshold_changes_the_kept_blocks():
    at = run_app()
    at.slider(key="threshold").set_value(0.0).run()
    assert not at.exception
    kept_all = metric(at, "Blocks dropped")
    assert kept_all.startswith("0 of")
    assert metric(at, "Token-layers saved") == "0%"
    at.slider(key="threshold").set_value(0.99).run()
    assert not at.exception
    assert metric(at, "Blocks dropped") != kept_all
    assert metric(at, "Token-layers saved") != "0%"
    skim_map = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(skim_map["data"][1]["x"]["bdata"]) > 0  # the ✕ marks of dropped blocks


def test_pasted_passage_and_question_are_answered(tiny_reader):
    passage = "Ada Lovelace wrote the first published program in 1843. She worked with Charles Babbage in London."
    question = "Who worked with Charles Babbage?"
    at = submit(run_app(), question, passage)
    assert not at.exception
    expected = tiny_reader(question, passage).answer.text
    assert html.escape(expected, quote=False) in answer_markup(at)
    assert any("skim-passage" in m and "Babbage" in m for m in shown_markup(at))


def test_script_in_a_passage_stays_text():
    passage = "Mallory wrote <script>alert('pwned')</script> and <b>bold</b> here. *not italic* $x$. Then she left."
    at = submit(run_app(), "What did Mallory write?", passage)
    assert not at.exception
    markup = shown_markup(at)
    assert not any("<script" in m or "<b>bold" in m for m in markup)
    assert any("&lt;script&gt;alert('pwned')&lt;/script&gt;" in visible_text(m) for m in markup if "skim-passage" in m)
    # The passage view is one HTML block with no line breaks, so Markdown never reads the user's text.
    assert all("\n" not in m for m in markup if "skim-passage" in m)


def test_empty_input_shows_an_error_not_a_traceback():
    at = submit(run_app(), "   ", "Some passage.")
    assert not at.exception
    assert [e.value for e in at.error] == ["the question is empty"]
    at = submit(at, "Who?", "")
    assert not at.exception
    assert [e.value for e in at.error] == ["the passage is empty"]


def test_long_example_is_read_in_windows():
    at = run_app()
    long = next(e for e in load_examples() if e.key.startswith("03"))
    at.selectbox(key="example").set_value(long.key).run()
    assert not at.exception
    assert at.session_state["passage"] == long.passage
    assert any("overlapping windows" in i.value for i in at.info)
    assert at.radio(key="passage_window").options  # a window picker for the passage view


def test_attention_selectors_draw_one_matrix():
    at = run_app()
    at.selectbox(key="layer").set_value(1).run()
    at.selectbox(key="head").set_value(0).run()
    block_box = at.selectbox(key="attn_block")
    block = int(re.match(r"block (\d+)", block_box.options[1]).group(1))
    block_box.set_value(block).run()
    assert not at.exception
    spec = chart(at, "attention")
    assert [d["type"] for d in spec["data"]] == ["heatmap"]
    assert spec["data"][0]["z"]["shape"] == "8, 8"  # one 8-token block of the tiny model
    assert "head 0" in spec["layout"]["title"]["text"] and f"block {block}" in spec["layout"]["title"]["text"]


def test_compare_off_runs_only_the_skimmed_model():
    at = run_app()
    at.toggle(key="compare").set_value(False).run()
    assert not at.exception
    assert metric(at, "Without skimming") == "—"
    assert not any(s.value.startswith("Compared") for s in at.subheader)


TIMINGS_NOTE = "Timings are for this machine, in float32 arithmetic, and include noise from anything else it runs."


def test_the_full_model_runs_after_every_view_is_built(monkeypatch):
    """The comparison is read last, so a long passage's answer and views are on screen while it runs; the card is
    then drawn again with its time, and shown once."""
    import app.views.export as export_view
    from skim import Reader

    events: list[str] = []
    call, downloads = Reader.__call__, export_view.render_trace_downloads

    def spy_call(self, question, context, *args, **kwargs):
        events.append("skim" if kwargs.get("skim", True) else "full")
        return call(self, question, context, *args, **kwargs)

    def spy_views(trace):
        events.append("views")
        return downloads(trace)

    monkeypatch.setattr(Reader, "__call__", spy_call)
    monkeypatch.setattr(export_view, "render_trace_downloads", spy_views)
    at = run_app()
    events.clear()  # the first run also warms the model up
    submit(at, "Who wrote the program?", "Ada Lovelace wrote the first published program in 1843.")
    assert not at.exception
    assert events.index("full") > events.index("views") > events.index("skim")
    assert metric(at, "Without skimming").endswith(" ms") and metric(at, "Speed-up").endswith("×")
    assert [m.label for m in at.metric].count("Without skimming") == 1
    assert not any("is reading the same input" in c.value for c in at.caption)
    assert [c.value for c in at.caption].count(TIMINGS_NOTE) == 1  # the first card's tail is not left behind


def test_url_picks_example_and_threshold():
    at = run_app(example="05_block_skim", threshold="0.5")
    assert not at.exception
    assert at.session_state["example"] == "05_block_skim"
    assert at.slider(key="threshold").value == 0.5


def test_about_page_renders_and_the_view_survives_a_visit():
    at = run_app()
    at.selectbox(key="layer").set_value(1).run()
    at.switch_page("app/pages/about.py").run()
    assert not at.exception
    assert len(at.dataframe) == 1
    at.switch_page("app/pages/explore.py").run()
    assert not at.exception
    assert at.selectbox(key="layer").value == 1
    assert at.query_params["layer"] == "1"


def test_examples_are_complete(tokenizer):
    examples = load_examples()
    assert len(examples) >= 5
    for e in examples:
        assert e.title and e.question.strip() and e.passage.strip() and e.source
        assert e.answer is None or e.answer in e.passage
    lengths = [len(tokenizer(e.question, e.passage)["input_ids"]) for e in examples]
    assert max(lengths) >= 600
    assert sum("Written for Block-Skim Explorer" in e.source for e in examples) >= 2
