"""Export builders (`app.exports`) on traces of the tiny random model: the files a researcher takes away."""

from __future__ import annotations

import csv
import io
import json

import numpy as np

from app.exports import CSV_FIELDS, decisions_csv, figure_html, trace_json, trace_json_mb
from app.figures import tokens_figure
from skim import SkimTrace

PASSAGE = (
    '=HYPERLINK("http://e") starts this passage. The dog sat on the log while the cat sat on the mat all day long.'
)


def test_decisions_csv_has_a_row_per_layer_and_block(tiny_reader):
    trace = tiny_reader("Where did the dog sit?", PASSAGE, threshold=0.5)
    rows = list(csv.DictReader(io.StringIO(decisions_csv(trace))))
    assert list(rows[0]) == CSV_FIELDS and len(rows) == trace.num_layers * len(trace.blocks)
    dropped_at = trace.block_dropped_at()
    for r in rows:
        layer, block = int(r["layer"]), int(r["block"])
        p = trace.layers[layer].keep_prob.get(str(block))
        assert r["keep_prob"] == ("" if p is None else str(p))
        assert r["dropped_at"] == ("" if dropped_at[block] is None else str(dropped_at[block]))
        gone = dropped_at[block] is not None and layer > dropped_at[block]
        assert r["decision"] == ("gone" if gone else "dropped" if layer == dropped_at[block] else "kept")
    first = next(r["text"] for r in rows if r["block"] == "0")
    assert first.startswith("'=HYPERLINK")  # a spreadsheet shows it as text instead of running it


def test_trace_json_round_trips_with_attention(tiny_reader):
    trace = tiny_reader("Where did the dog sit?", PASSAGE, threshold=0.5)
    text = trace_json(trace)
    data = json.loads(text)
    assert data["summary"] == json.loads(json.dumps(trace.summary()))
    rebuilt = SkimTrace.from_dict(data["trace"])
    assert rebuilt.layers == trace.layers and rebuilt.blocks == trace.blocks
    for a, b in zip(rebuilt.attention, trace.attention, strict=True):
        np.testing.assert_array_equal(a.weights, b.weights)
    assert abs(trace_json_mb(trace) - len(text.encode()) / 1e6) < 0.5 * len(text.encode()) / 1e6 + 0.05


def test_figure_html_is_one_offline_page(tiny_reader):
    page = figure_html(tokens_figure(tiny_reader("Where did the dog sit?", PASSAGE)))
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "<script src=" not in page and "Plotly.newPlot" in page
