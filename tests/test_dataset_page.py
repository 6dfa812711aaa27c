"""The Dataset page: bundled sample, uploads, batch evaluation, filters, opening a row in the explorer, the threshold
what-if and its downloads (AppTest on the tiny model), plus the pure pieces behind them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from app.dataset import SAMPLE_PATH, filter_results, load_sample, parse_squad_bytes, results_table
from app.dataset_figures import WHAT_IF_THRESHOLDS, what_if_figure, what_if_table
from app.dataset_views import SHOWN_COLUMNS
from skim import InputError
from skim.data import read_squad_json
from skim.evaluate import gold_block_fate, run_questions, sweep

from .app_driver import app_on_model, chart, record_media
from .app_driver import media_payload as payload
from .conftest import SHARED_SQUAD

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "streamlit_app.py")
PAGE = "app/pages/dataset.py"
TIMEOUT = 120

PARAGRAPHS = [
    (
        "The lighthouse at Harrow Point was built in 1841 by the engineer Edith Marlow. Its lamp burned whale oil "
        "until 1902, when the keepers switched to kerosene. The tower is 31 metres tall and painted with red and "
        "white bands so that ships can see it by day. A storm in 1953 broke the lantern glass.",
        [
            ("q1", "Who built the lighthouse?", "Edith Marlow", 65),
            ("q2", "How tall is the tower?", "31 metres", 169),
        ],
    ),
    (
        "Rye bread needs a sour starter. Mix 500 grams of rye flour with 400 millilitres of warm water and the "
        "starter, then leave the dough for twelve hours. Bake it at 230 degrees for one hour, and wait a full day "
        "before slicing, because the crumb keeps setting as it cools.",
        [
            ("q3", "How long should the dough rest?", "twelve hours", 136),
            ("q4", "At what temperature is it baked?", "230 degrees", 161),
        ],
    ),
]


def squad_json(paragraphs=PARAGRAPHS) -> dict:
    data = []
    for i, (context, qas) in enumerate(paragraphs):
        items = [{"id": q, "question": text, "answers": [{"text": a, "answer_start": s}]} for q, text, a, s in qas]
        data.append({"title": f"Article {i}", "paragraphs": [{"context": context, "qas": items}]})
    return {"version": "1.1", "data": data}


TINY_FILE = json.dumps(squad_json()).encode()


@pytest.fixture(autouse=True)
def tiny_app_model(tiny_model_dir, monkeypatch):
    yield from app_on_model(tiny_model_dir, monkeypatch)


@pytest.fixture
def downloads(monkeypatch) -> dict[str, bytes]:
    return record_media(monkeypatch)


def dataset_page() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    return at.switch_page(PAGE).run()


def upload(at: AppTest, data: bytes = TINY_FILE, name: str = "tiny.json") -> AppTest:
    at.radio(key="dataset_source").set_value("upload").run()
    at.file_uploader(key="dataset_upload").set_value((name, data, "application/json"))
    return at.run()


def evaluate(at: AppTest, n: int) -> AppTest:
    at.number_input(key=next(k for k in at.session_state if k.startswith("batch_n_"))).set_value(n)
    at.button(key="evaluate").click()
    return at.run()


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def results(at: AppTest) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "dropped at layer" in d.value.columns)


# The bundled sample and the pure pieces


def test_sample_is_an_official_format_slice_with_credit():
    raw = json.loads(SAMPLE_PATH.read_text(encoding="utf-8"))
    assert raw["version"] == "1.1"
    rows = read_squad_json(SAMPLE_PATH)
    assert len(rows) == 300 and len({r["id"] for r in rows}) == 300
    assert len({r["title"] for r in rows}) >= 20  # spread across articles
    credit = (REPO / "assets" / "README.md").read_text(encoding="utf-8")
    assert "CC BY-SA 4.0" in credit and "Rajpurkar" in credit and "squad-dev-sample.json" in credit
    dev_path = SHARED_SQUAD / "dev-v1.1.json"
    if dev_path.exists():  # whole paragraphs, unchanged, ids and all
        dev = {p["context"]: p["qas"] for a in json.loads(dev_path.read_text())["data"] for p in a["paragraphs"]}
        for article in raw["data"]:
            for paragraph in article["paragraphs"]:
                assert dev[paragraph["context"]] == paragraph["qas"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "looks binary"),
        ('{"data": "caf\u00e9"}'.encode("latin-1"), "is not UTF-8 text (bad byte at offset 13)"),
        (b'{"data": [', "is not valid JSON"),
        (b"[1, 2, 3]", 'expected {"data": [...]} at the top'),
        (b'{"data": [{"paragraphs": [{"context": "x"}]}]}', "missing or bad field 'qas'"),
        (b'{"data": [{"paragraphs": [{"context": 7, "qas": [{"id": 1, "question": "q"}]}]}]}', "not text"),
        (json.dumps(squad_json([("No answer here.", [])])).encode(), "holds no questions"),
        (b" " * (5 * 1024 * 1024 + 1), "the limit is 5 MB"),
    ],
)
def test_bad_files_are_refused_in_one_line(data, message):
    with pytest.raises(InputError) as err:
        parse_squad_bytes(data)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_unanswerable_questions_are_left_out():
    raw = squad_json()
    raw["data"][0]["paragraphs"][0]["qas"].append({"id": "x", "question": "Why?", "answers": [], "is_impossible": True})
    dataset = parse_squad_bytes(json.dumps(raw).encode())
    assert len(dataset.rows) == 4 and dataset.skipped == 1
    assert load_sample().fingerprint != dataset.fingerprint


def test_results_table_filters_and_gold_block_fate(tiny_reader):
    rows = parse_squad_bytes(TINY_FILE).rows
    full = run_questions(tiny_reader, rows, None, False, "full")
    skim = run_questions(tiny_reader, rows, 0.99, True, "skim")
    table = results_table(rows, full, skim)
    assert list(table["id"]) == ["q1", "q2", "q3", "q4"] and table["full F1"].eq(full["f1_per_question"]).all()
    assert sorted(SHOWN_COLUMNS) == sorted(table.columns)  # the page shows every column, each once
    for row, dropped_at in zip(rows, skim["gold_dropped_at_per_question"]):
        trace = tiny_reader(row["question"], row["context"], threshold=0.99, attention="none")
        block, layer = gold_block_fate(trace, row["answers"]["answer_start"][0])
        assert layer == dropped_at
        assert (layer is None) == (block in trace.layers[-1].kept_blocks)  # the old survival rule
    assert filter_results(table, dropped=True)["dropped at layer"].notna().all()
    assert (filter_results(table, wrong=True)["skim EM"] == 0).all()
    worse = filter_results(table, worse=True)
    assert (worse["skim F1"] < worse["full F1"]).all()
    assert len(filter_results(table)) == 4


def test_sweep_reports_progress_over_every_run(tiny_reader):
    rows = parse_squad_bytes(TINY_FILE).rows[:2]
    calls = []
    result = sweep(tiny_reader, rows, [0.0, 0.5], on_progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 6) for i in range(1, 7)]
    assert [p["threshold"] for p in result["skim"]] == [0.0, 0.5]


def test_what_if_figure_marks_the_threshold():
    points = [
        {"threshold": t, "exact_match": 60 - 50 * t, "f1": 70 - 50 * t, "seconds": 1 - t / 2}
        | {"kept_fraction": 1 - t / 2, "gold_block_alive": 1 - t, "speedup": 1 + t, "same_answer": 1 - t}
        for t in WHAT_IF_THRESHOLDS
    ]
    result = {"n": 10, "full": {"exact_match": 60.0, "f1": 70.0, "seconds": 1.0}, "skim": points}
    fig = what_if_figure(result, 0.3)
    assert [t.name for t in fig.data] == ["F1 with skimming", "speed-up, measured", "speed-up, ideal"]
    assert [s.x0 for s in fig.layout.shapes if s.type == "line" and s.x0 == s.x1] == [0.3]
    assert not [s for s in what_if_figure(result).layout.shapes if s.x0 == s.x1 == 0.3]
    table = what_if_table(result)
    assert table["ideal speed-up"].iloc[-1] == pytest.approx(1 / 0.55)
    assert table["F1 change"].iloc[0] == 0


# The page, in process


def test_page_opens_on_the_bundled_sample_and_evaluates_it():
    at = dataset_page()
    assert not at.exception and not at.error
    assert at.title[0].value == "Dataset"
    assert any("300 questions" in c.value for c in at.caption)
    assert not at.metric  # nothing runs before "Evaluate"
    at = evaluate(at, 3)
    assert not at.exception
    assert len(results(at)) == 3
    assert not at.get("progress")  # the bar empties itself when the batch is done


def test_upload_evaluate_filter_and_download(downloads):
    at = upload(dataset_page())
    assert not at.exception and not at.error
    assert any("tiny\\.json: 4 questions" in c.value for c in at.caption)
    at.slider(key="threshold").set_value(0.99).run()
    at = evaluate(at, 4)
    assert not at.exception
    for label in ("Full model EM", "Full model F1", "Skimming EM", "Skimming F1", "Kept fraction", "Speed-up"):
        assert metric(at, label)
    assert float(metric(at, "Kept fraction")) < 1.0
    table = results(at)
    assert len(table) == 4
    csv = pd.read_csv(io.BytesIO(payload(at, "download_results", downloads)))
    assert list(csv["id"]) == ["q1", "q2", "q3", "q4"] and (csv["threshold"] == 0.99).all()
    at.checkbox(key="filter_dropped").check().run()  # a cache hit: nothing is answered again
    assert not at.exception and not at.get("progress")
    shown = results(at)
    assert len(shown) == table["dropped at layer"].notna().sum() and shown["dropped at layer"].notna().all()


def test_the_batch_skims_after_the_sidebars_layers_only(tiny_reader):
    at = upload(dataset_page())
    at.slider(key="threshold").set_value(0.99).run()
    at.multiselect(key="skim_layers").set_value([1]).run()
    table = results(evaluate(at, 4))
    assert not at.exception
    assert set(table["dropped at layer"].dropna()) <= {1}  # layer 0 judges nothing, so drops nothing
    assert float(metric(at, "Kept fraction")) > 0.5  # layer 0 ran on every token: at most half is saved
    at.multiselect(key="skim_layers").set_value([0, 1]).run()
    assert any("other layers" in i.value for i in at.info)


@pytest.mark.parametrize(
    ("data", "message"),
    [(b"\x00\x01\x02binary", "looks binary"), (b"\xff\xfe{}", "not UTF-8"), (b"{not json", "not valid JSON")],
)
def test_bad_upload_shows_one_line_error(data, message):
    at = upload(dataset_page(), data, "bad*name*.json")
    assert not at.exception
    assert len(at.error) == 1 and "\n" not in at.error[0].value
    assert message in at.error[0].value.replace("\\", "")  # user-derived text is Markdown-escaped
    assert not at.get("button") or not at.button(key="evaluate")


def test_a_row_opens_in_the_explorer_at_its_threshold():
    at = upload(dataset_page())
    at.slider(key="threshold").set_value(0.25).run()
    at = evaluate(at, 4)
    at.slider(key="threshold").set_value(0.5).run()  # moved after evaluating: the row keeps the table's 0.25
    assert any("results are for threshold 0.25" in i.value for i in at.info)
    at.selectbox(key="batch_pick").set_value(2)
    at.button(key="open_row").click()
    at.run()
    assert not at.exception
    assert at.title[0].value == "Block-Skim Explorer"
    context, qas = PARAGRAPHS[1]
    assert at.session_state["passage"] == context and at.session_state["question"] == qas[0][1]
    assert at.session_state["threshold"] == 0.25
    assert at.session_state["gold"]["answers"] == ["twelve hours"]


def test_what_if_chart_downloads_and_drill_down(downloads):
    at = upload(dataset_page())
    at.number_input(key=next(k for k in at.session_state if k.startswith("what_if_n_"))).set_value(2)
    at.button(key="run_what_if").click()
    at.run()
    assert not at.exception
    spec = chart(at, "what_if_chart")
    threshold = at.session_state["threshold"]
    assert [s["x0"] for s in spec["layout"]["shapes"] if s.get("x0") == s.get("x1")] == [threshold]
    csv = pd.read_csv(io.BytesIO(payload(at, "what_if_csv", downloads)))
    assert list(csv[csv["predictor"] == "diagonal"]["threshold"]) == list(WHAT_IF_THRESHOLDS)
    data = json.loads(payload(at, "what_if_json", downloads))
    assert data["n"] == 2 and len(data["predictors"]["diagonal"]["skim"]) == len(WHAT_IF_THRESHOLDS)
    at.selectbox(key="what_if_pick").set_value(0.9)
    at.button(key="drill_down").click()
    at.run()
    assert not at.exception
    assert at.session_state["threshold"] == 0.9 and at.query_params["threshold"] == "0.9"
    assert len(results(at)) == 2
