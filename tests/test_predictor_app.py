"""The app with two kinds of skim predictor (AppTest, tiny model holding both): the sidebar's control and its link,
the Dataset batch and what-if per kind, the "why did it skim" view of the question-aware kind, and the pure pieces
behind that view."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
import torch

from app.dataset import parse_squad_bytes
from app.dataset_figures import QUESTION_THRESHOLDS, WHAT_IF_THRESHOLDS, kinds_figure
from app.examples import load_examples
from app.gold import gold_blocks
from app.kinds import kind_label
from app.question_figures import _features, predictor_features, question_positions, question_read, top_words
from skim import Reader
from tests.app_driver import app_on_model, chart, record_downloads, record_media, run_app
from tests.app_driver import media_payload as payload
from tests.conftest import tiny_model
from tests.test_dataset_page import TINY_FILE, dataset_page, evaluate, results, upload

QUESTION = "Who worked with Charles Babbage?"
PASSAGE = "Ada Lovelace wrote the first published program in 1843. She worked with Charles Babbage in London. " * 3


@pytest.fixture(autouse=True)
def tiny_app_model(tiny_model_dir, monkeypatch):
    yield from app_on_model(tiny_model_dir, monkeypatch)


@pytest.fixture
def downloads(monkeypatch) -> dict:
    return record_downloads(monkeypatch)


@pytest.fixture
def media(monkeypatch) -> dict[str, bytes]:
    return record_media(monkeypatch)


@pytest.fixture(scope="module")
def paper_only_dir(tmp_path_factory, tokenizer):
    """A tiny checkpoint holding only the paper's kind, like the shipped model today."""
    path = tmp_path_factory.mktemp("paper-only")
    tiny_model(seed=1, skim_predictor_kinds=["diagonal"]).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def summary(downloads: dict) -> dict:
    return json.loads(downloads["skim-summary.json"]())


def test_the_control_drives_the_trace_and_moves_the_threshold(tiny_reader, downloads):
    cfg = tiny_reader.model.config
    at = run_app()
    radio = at.radio(key="predictor")
    assert radio.options == [kind_label(k) for k in cfg.predictor_kinds] and radio.value == "diagonal"
    assert summary(downloads)["predictor"] == "diagonal"
    assert at.query_params["predictor"] == "diagonal"
    radio.set_value("question").run()
    assert not at.exception and not at.error
    assert at.slider(key="threshold").value == pytest.approx(cfg.default_threshold("question"))
    assert at.query_params["predictor"] == "question"
    got = summary(downloads)
    expected = tiny_reader(at.session_state["question"], at.session_state["passage"], predictor="question")
    assert got["predictor"] == "question" and got["threshold"] == pytest.approx(cfg.default_threshold("question"))
    assert got["layers"] == json.loads(json.dumps(expected.summary()))["layers"]
    at.radio(key="predictor").set_value("diagonal").run()
    assert at.slider(key="threshold").value == pytest.approx(cfg.default_threshold("diagonal"))


@pytest.mark.parametrize(
    ("params", "kind", "threshold"),
    [
        ({"predictor": "question"}, "question", 0.02),  # the kind's default threshold
        ({"predictor": "question", "threshold": "0.3"}, "question", 0.3),  # the link's threshold wins
        ({"predictor": "nonsense", "threshold": "0.3"}, "diagonal", 0.3),
        ({"predictor": ""}, "diagonal", 0.01),
    ],
)
def test_link_sets_the_predictor_and_a_bad_value_falls_back(params, kind, threshold, downloads):
    at = run_app(**params)
    assert not at.exception and not at.error
    assert at.radio(key="predictor").value == kind
    assert at.slider(key="threshold").value == pytest.approx(threshold)
    assert summary(downloads)["predictor"] == kind and at.query_params["predictor"] == kind


def test_a_model_with_one_kind_shows_no_control(paper_only_dir, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("SKIM_MODEL", str(paper_only_dir))
    at = run_app(predictor="question")  # a link from a two-kind model: silently the default
    assert not at.exception and not at.error
    assert not at.get("radio") or "predictor" not in [r.key for r in at.radio]
    assert at.session_state["predictor"] == "diagonal" and "predictor" not in at.query_params


def test_a_checkpoint_without_the_kind_compares_with_its_own_default(paper_only_dir, tiny_reader):
    at = run_app(predictor="question")
    at.text_input(key="checkpoint").input(str(paper_only_dir)).run()
    assert not at.exception and not at.error
    table = next(d.value for d in at.dataframe if "checkpoint" in d.value.columns).set_index("")
    other = Reader.from_pretrained(paper_only_dir).model.config
    assert table.loc["predictor"].tolist() == [
        f"{kind_label('question')} at {tiny_reader.model.config.default_threshold('question'):g}",
        f"{kind_label('diagonal')} at {other.default_threshold('diagonal'):g}",
    ]


def test_the_batch_is_judged_by_the_sidebars_kind(tiny_reader):
    at = upload(dataset_page())
    at.radio(key="predictor").set_value("question").run()
    at.slider(key="threshold").set_value(0.5).run()
    table = results(evaluate(at, 4))
    assert not at.exception
    rows = parse_squad_bytes(TINY_FILE).rows
    expected = [tiny_reader(r["question"], r["context"], threshold=0.5, predictor="question").answer for r in rows]
    assert table["skim answer"].tolist() == [a.text if a else "" for a in expected]
    assert any(f"judged by the {kind_label('question')} predictor" in c.value for c in at.caption)
    at.radio(key="predictor").set_value("diagonal").run()
    assert any("judged by the" in i.value for i in at.info)


def test_what_if_draws_one_curve_per_kind(media):
    at = upload(dataset_page())
    at.number_input(key=next(k for k in at.session_state if k.startswith("what_if_n_"))).set_value(2)
    at.button(key="run_what_if").click()
    at.run()
    assert not at.exception
    spec = chart(at, "what_if_kinds")
    assert [d["name"] for d in spec["data"]] == [kind_label("diagonal"), kind_label("question")]
    assert all(d["type"] == "scatter" for d in spec["data"])
    csv = pd.read_csv(io.BytesIO(payload(at, "what_if_csv", media)))
    assert list(csv["predictor"]) == ["diagonal"] * len(WHAT_IF_THRESHOLDS) + ["question"] * len(QUESTION_THRESHOLDS)
    assert list(csv[csv["predictor"] == "question"]["threshold"]) == list(QUESTION_THRESHOLDS)
    data = json.loads(payload(at, "what_if_json", media))
    assert sorted(data["predictors"]) == ["diagonal", "question"] and data["n"] == 2
    # Both lines on the same questions: the full model's F1 is one number.
    assert data["predictors"]["diagonal"]["full"]["f1"] == data["predictors"]["question"]["full"]["f1"]
    at.radio(key="what_if_axis").set_value("ideal").run()
    ideal = chart(at, "what_if_kinds")["data"][1]
    question = csv[csv["predictor"] == "question"]
    fig = kinds_figure(data["predictors"], "ideal")
    assert list(fig.data[1].x) == pytest.approx(list(question["ideal speed-up"])) and ideal["name"] == fig.data[1].name
    at.radio(key="predictor").set_value("question").run()  # the threshold chart follows the sidebar: no rerun
    assert not at.get("progress")
    assert kind_label("question") in chart(at, "what_if_chart")["layout"]["title"]["text"]
    assert at.selectbox(key="what_if_pick").options == [f"{t:g}" for t in QUESTION_THRESHOLDS]


def test_why_view_shows_what_the_question_aware_predictor_read(tiny_reader):
    example = next(e for e in load_examples() if e.answer)
    at = run_app(example=example.key, predictor="question", threshold="0.5")
    assert not at.exception and not at.error
    trace = tiny_reader(example.question, example.passage, threshold=0.5, predictor="question")
    gold = gold_blocks(trace, {"answers": [example.answer], "answer_start": None})[0]
    assert not [c for c in at.get("plotly_chart") if c.proto.id.endswith("-why_predictor_inputs")]
    spec = chart(at, "why_question_attention")
    n_question = len(question_positions(trace.windows[gold.window]))
    assert [d["type"] for d in spec["data"]] == ["heatmap", "heatmap"]
    layer_box = at.selectbox(key=next(k for k in at.session_state if k.startswith("why_layer_")))
    read = question_read(trace, layer_box.value, None, gold.id)
    assert spec["data"][0]["z"]["shape"] == f"{n_question}, {len(read.block)}"
    words = next(d.value for d in at.dataframe if "question word" in d.value.columns)
    assert 0 < len(words) <= 5 and all(w in example.question.lower() for w in words["question word"])
    features = next((d.value for d in at.dataframe if "head" in d.value.columns), None)
    if str(gold.id) in trace.layers[layer_box.value].keep_prob:
        assert len(features) == tiny_reader.model.config.num_attention_heads
    at.button(key="why_show_attention").click().run()
    assert not at.exception
    assert at.selectbox(key="layer").value == layer_box.value and at.selectbox(key="attn_block").value == "all"


def test_question_features_from_the_trace_are_the_predictors_inputs(tiny_reader):
    """Run the trace's own predictors on the features the view computes: they give the trace's scores back."""
    trace = tiny_reader(QUESTION, PASSAGE, threshold=0.5, predictor="question")
    model = tiny_reader.model
    checked = 0
    for amap in trace.attention:
        features = torch.from_numpy(_features(trace, amap))
        head = model.question_predictors[str(amap.layer)]
        for b in trace.blocks:
            p = trace.layers[amap.layer].keep_prob.get(str(b.id))
            if p is not None and b.window == amap.window:
                with torch.no_grad():
                    score = head.keep_score(head(features[b.index][None].float())).item()
                assert score == pytest.approx(p, abs=2e-3)  # the trace's attention is float16
                checked += 1
    assert checked >= 5
    table = predictor_features(trace, 0, 1)
    assert list(table["head"]) == list(range(model.config.num_attention_heads))
    assert ((table.iloc[:, 1:5] > 0) & (table.iloc[:, 1:5] <= 1)).all().all()  # attention masses


def test_top_words_join_word_pieces(tiny_reader):
    trace = tiny_reader(QUESTION, PASSAGE, threshold=0.0, predictor="question")
    window = trace.windows[0]
    assert [window.tokens[p] for p in question_positions(window)][:3] == ["who", "worked", "with"]
    read = question_read(trace, 0, None, 1)
    assert read.share == pytest.approx(read.to_block.sum(1))
    words = top_words(trace, read, 1, k=10)
    assert "babbage" in set(words["question word"]) and not any(w.startswith("##") for w in words["question word"])
    assert words["share"].is_monotonic_decreasing


def test_a_block_gone_before_the_layer_has_nothing_to_read(tiny_reader):
    trace = tiny_reader(QUESTION, PASSAGE, threshold=0.99, predictor="question")
    gone = next(b for b, layer in trace.block_dropped_at().items() if layer == 0)
    with pytest.raises(ValueError, match="gone before layer 1"):
        question_read(trace, 1, None, gone)
