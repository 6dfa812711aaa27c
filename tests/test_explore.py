"""The explorer's research features in the app (AppTest, tiny model): why a block was skimmed, downloads,
links that restore the view, and a second checkpoint."""

from __future__ import annotations

import csv
import html
import io
import json
import shutil

import numpy as np
import pytest

from app.examples import load_examples
from app.exports import png_export_available
from app.gold import gold_blocks
from skim import Reader, SkimTrace
from tests.app_driver import app_on_model, chart, record_downloads, run_app, shown_markup, submit
from tests.conftest import tiny_model

PASSAGE = "Ada Lovelace wrote the first published program in 1843. She worked with Charles Babbage in London."
QUESTION = "Who worked with Charles Babbage?"


@pytest.fixture(autouse=True)
def tiny_app_model(tiny_model_dir, monkeypatch):
    yield from app_on_model(tiny_model_dir, monkeypatch)


@pytest.fixture
def downloads(monkeypatch) -> dict:
    return record_downloads(monkeypatch)


@pytest.fixture(scope="module")
def other_model_dir(tmp_path_factory, tokenizer):
    """A second tiny checkpoint with other weights, as `--model`/the checkpoint field would take it."""
    path = tmp_path_factory.mktemp("other-model")
    tiny_model(seed=1).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def gold_dropped(reader: Reader):
    """The first example with a gold answer, a threshold at which its gold block is dropped, and that block."""
    example = next(e for e in load_examples() if e.answer)
    for threshold in (0.5, 0.7, 0.9, 0.99, 1.0):
        trace = reader(example.question, example.passage, threshold=threshold)
        gold = gold_blocks(trace, {"answers": [example.answer], "answer_start": None})[0]
        if trace.block_dropped_at()[gold.id] is not None:
            return example, threshold, gold, trace.block_dropped_at()[gold.id]
    raise AssertionError("no threshold drops the gold block")


def why_markup(at) -> str:
    return next(m for m in shown_markup(at) if 'class="skim-why"' in m)


def test_why_panel_marks_the_gold_block_and_the_layer_that_dropped_it(tiny_reader):
    example, threshold, gold, layer = gold_dropped(tiny_reader)
    at = run_app(example=example.key, threshold=str(threshold))
    assert not at.exception
    why = why_markup(at)
    assert f"Dropped by layer {layer}" in why and html.escape(example.answer, quote=False) in why
    assert at.selectbox(key=next(k for k in at.session_state if k.startswith("why_block_"))).value == gold.id
    shapes = chart(at, "skim_map")["layout"]["shapes"]
    assert [(s["x0"], s["name"]) for s in shapes if s.get("name") == "gold answer"] == [(gold.id - 0.4, "gold answer")]
    squares = chart(at, "why_predictor_inputs")["data"]
    assert len(squares) == layer + 1  # one square per layer the block reached, none after
    assert all(s["z"]["shape"] == "8, 8" for s in squares)  # the tiny model's 8-token blocks
    probs = chart(at, "why_keep_prob")["data"][0]["y"]
    assert probs["dtype"] in ("f4", "f8") and probs["bdata"]


def test_why_panel_opens_the_block_in_the_attention_view(tiny_reader):
    example, threshold, gold, layer = gold_dropped(tiny_reader)
    at = run_app(example=example.key, threshold=str(threshold))
    at.button(key="why_show_attention").click().run()
    assert not at.exception
    assert at.selectbox(key="layer").value == layer and at.selectbox(key="attn_block").value == gold.id
    assert at.query_params["layer"] == str(layer) and at.query_params["block"] == str(gold.id)
    assert f"block {gold.id}'s diagonal square" in chart(at, "attention")["layout"]["title"]["text"]


def test_download_buttons_give_parseable_files(downloads, tiny_reader):
    at = run_app(threshold="0.5")
    assert not at.exception
    trace = tiny_reader(at.session_state["question"], at.session_state["passage"], threshold=0.5)
    rows = list(csv.DictReader(io.StringIO(downloads["skim-decisions.csv"]())))
    assert len(rows) == trace.num_layers * len(trace.blocks)
    dropped = [(int(r["block"]), int(r["layer"])) for r in rows if r["decision"] == "dropped"]
    assert sorted(dropped) == sorted((b, d) for b, d in trace.block_dropped_at().items() if d is not None)
    summary = json.loads(downloads["skim-summary.json"]())
    assert summary["answer"] == trace.answer.text and len(summary["layers"]) == trace.num_layers
    full = json.loads(downloads["skim-trace.json"]())
    rebuilt = SkimTrace.from_dict(full["trace"])
    assert full["summary"] == summary and rebuilt.answer == trace.answer
    np.testing.assert_array_equal(rebuilt.attention[1].weights, trace.attention[1].weights)
    figures = ["skim-map", "tokens-per-layer", "keep-prob", "predictor-inputs", "attention"]
    for name in figures:
        page = downloads[f"{name}.html"]()
        assert page.startswith("<!doctype html>") and "Plotly.newPlot" in page
        assert "<script src=" not in page and len(page) > 4_000_000  # plotly.js inlined: opens offline
    if png_export_available():  # kaleido drives a local Chromium; CI installs one
        assert downloads["skim-map.png"]().startswith(b"\x89PNG")
    else:
        assert not any(name.endswith(".png") for name in downloads)


def test_link_restores_question_threshold_layer_and_head(tiny_reader):
    warsaw = next(e for e in load_examples() if e.key == "02_warsaw_parks")
    question = "Which <b>river</b> runs through it?"
    at = run_app(example=warsaw.key, question=question, threshold="0.25", layer="1", head="1")
    assert not at.exception and not at.error
    assert at.text_input(key="question").value == question
    assert at.session_state["passage"] == warsaw.passage
    assert at.slider(key="threshold").value == 0.25
    assert at.selectbox(key="layer").value == 1 and at.selectbox(key="head").value == 1
    assert "Layer 1 · head 1" in chart(at, "attention")["layout"]["title"]["text"]
    expected = tiny_reader(question, warsaw.passage, threshold=0.25).answer.text
    assert any(html.escape(expected, quote=False) in m for m in shown_markup(at) if "skim-answer" in m)


@pytest.mark.parametrize(
    "params",
    [
        {"example": "no-such-example", "threshold": "nan", "layer": "7", "head": "x", "block": "-3"},
        {"threshold": "abc", "layer": "-1", "head": "99", "block": "999", "gold": "x", "gold_start": "q"},
    ],
)
def test_bad_link_values_fall_back_to_defaults_silently(params):
    at = run_app(**params)
    assert not at.exception and not at.error
    assert at.session_state["example"] == load_examples()[0].key
    assert at.slider(key="threshold").value == pytest.approx(0.01)  # the tiny model's default
    assert at.selectbox(key="layer").value == 0 and at.selectbox(key="head").value == "mean"
    assert at.selectbox(key="attn_block").value == "all"


def test_the_url_follows_the_view():
    at = run_app()
    assert at.query_params["example"] == load_examples()[0].key and "question" not in at.query_params
    at.selectbox(key="layer").set_value(1).run()
    at.selectbox(key="head").set_value(0).run()
    at.slider(key="threshold").set_value(0.2).run()
    assert (at.query_params["layer"], at.query_params["head"], at.query_params["threshold"]) == ("1", "0", "0.2")
    at = submit(at, QUESTION, PASSAGE)
    assert (at.query_params["question"], at.query_params["passage"]) == (QUESTION, PASSAGE)
    at.selectbox(key="example").set_value("05_block_skim").run()
    assert at.query_params["example"] == "05_block_skim"
    assert "question" not in at.query_params and "passage" not in at.query_params


def test_skimming_after_chosen_layers_only_shows_in_the_run_and_the_link(tiny_reader, downloads):
    at = run_app(threshold="0.5")
    at.multiselect(key="skim_layers").set_value([1]).run()
    assert not at.exception and at.query_params["skim_layers"] == "1"
    summary = json.loads(downloads["skim-summary.json"]())
    expected = tiny_reader(at.session_state["question"], at.session_state["passage"], threshold=0.5, skim_layers=[1])
    assert summary["skim_layers"] == [1] and summary["layers"] == json.loads(json.dumps(expected.summary()))["layers"]
    assert summary["layers"][0]["keep_prob"] == {} and summary["layers"][1]["dropped_blocks"]
    reopened = run_app(threshold="0.5", skim_layers="1")
    assert reopened.multiselect(key="skim_layers").value == [1]
    at.multiselect(key="skim_layers").set_value([0, 1]).run()  # all of them again: the link drops the parameter
    assert "skim_layers" not in at.query_params
    assert run_app(skim_layers="0,9").multiselect(key="skim_layers").value == [0, 1]  # a bad link: the default


def test_link_to_a_pasted_passage_restores_it_with_its_gold_answer():
    start = PASSAGE.index("Charles Babbage")
    at = run_app(question=QUESTION, passage=PASSAGE, gold="Charles Babbage", gold_start=str(start))
    assert not at.exception
    assert at.text_area(key="passage").value == PASSAGE and at.text_input(key="question").value == QUESTION
    assert "The gold answer <b>Charles Babbage</b> starts in block" in why_markup(at)
    assert at.query_params["gold"] == "Charles Babbage" and at.query_params["gold_start"] == str(start)


def test_checkpoint_field_refuses_what_it_cannot_load(tmp_path, tiny_model_dir):
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    shutil.copy(tiny_model_dir / "config.json", pickled / "config.json")
    (pickled / "pytorch_model.bin").write_bytes(b"not really a pickle")
    gpt2 = tmp_path / "gpt2"
    gpt2.mkdir()
    (gpt2 / "config.json").write_text('{"model_type": "gpt2"}')
    (gpt2 / "model.safetensors").write_bytes(b"")
    at = run_app()
    for path, message in [
        (tmp_path / "missing", "not a local directory"),
        (pickled, "holds only pickled weights"),
        (gpt2, "unsupported architecture"),
        ("owner/model", "not a local directory"),  # never tried on the hub
    ]:
        at.text_input(key="checkpoint").input(str(path)).run()
        assert not at.exception
        assert [e.value.split(":")[0] for e in at.error] == ["Cannot load this checkpoint"]
        assert message in at.error[0].value.replace("\\", "")
    assert len(at.get("plotly_chart")) >= 5  # the explorer still shows the default model


def test_checkpoint_field_compares_a_second_model(other_model_dir, tiny_reader):
    at = run_app(threshold="0.5")
    at.text_input(key="checkpoint").input(f"  {other_model_dir}  ").run()
    assert not at.exception and not at.error
    table = next(d.value for d in at.dataframe if "checkpoint" in d.value.columns).set_index("")
    question, passage = at.session_state["question"], at.session_state["passage"]
    ours = tiny_reader(question, passage, threshold=0.5)
    theirs = Reader.from_pretrained(other_model_dir)(question, passage, threshold=0.5)
    assert table.loc["answer"].tolist() == [ours.answer.text, theirs.answer.text]
    assert table.loc["kept fraction"].tolist() == [f"{ours.kept_fraction:.3f}", f"{theirs.kept_fraction:.3f}"]
    assert table.loc["score"].tolist() == [f"{ours.answer.score:.3f}", f"{theirs.answer.score:.3f}"]
    assert table.loc["score", "default"] != table.loc["score", "checkpoint"]  # two models, not one cached trace


def test_the_app_opens_on_the_example_marked_opening():
    examples = load_examples()
    assert [e.key for e in examples if e.opening] == [examples[0].key]  # exactly one, listed first
    rest = [e.key for e in examples[1:]]
    assert rest == sorted(rest)  # the others keep their file-name order
