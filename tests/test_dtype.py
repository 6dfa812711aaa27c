"""bfloat16 reads (autocast): the Reader's `dtype`, `answer --dtype`, and the explorer's Arithmetic control."""

from __future__ import annotations

import json

import pytest

from app.url import DTYPE_ENV, default_dtype
from skim import InputError, inference
from tests.app_driver import app_on_model, run_app
from tests.test_cli import PASSAGE, run_answer

QUESTION = "Who worked with Charles Babbage?"


@pytest.fixture(autouse=True)
def tiny_app_model(tiny_model_dir, monkeypatch):
    yield from app_on_model(tiny_model_dir, monkeypatch)


@pytest.mark.parametrize("attention", ["none", "heads"])  # the batched fast path and the traced model
def test_bfloat16_reads_are_recorded_and_close_to_float32(tiny_reader, attention):
    passage = PASSAGE * 12  # several windows: the batched path, and the answer's window traced again
    exact = tiny_reader(QUESTION, passage, threshold=0.0, attention=attention)
    fast = tiny_reader(QUESTION, passage, threshold=0.0, attention=attention, dtype="bfloat16")
    assert exact.dtype == "float32" and fast.dtype == "bfloat16" and fast.summary()["dtype"] == "bfloat16"
    scores = [
        (p, fast.layers[i].keep_prob[b]) for i, layer in enumerate(exact.layers) for b, p in layer.keep_prob.items()
    ]
    assert scores and all(abs(p - q) < 0.05 for p, q in scores)
    assert any(p != q for p, q in scores)  # it did run in bfloat16: float32 would match to the last digit
    if attention == "heads":
        assert fast.attention and fast.attention[0].weights.dtype.name == "float16"


def test_an_unknown_dtype_is_an_input_error(tiny_reader):
    with pytest.raises(InputError, match="dtype must be one of auto, float32, bfloat16"):
        tiny_reader(QUESTION, PASSAGE, dtype="float16")


def test_answer_takes_dtype_and_the_json_names_it(capsys, tiny_model_dir):
    for argv, dtype in (((), "float32"), (("--dtype", "bfloat16"), "bfloat16"), (("--dtype", "auto"), "float32")):
        code, out, _ = run_answer(capsys, tiny_model_dir, *argv, "--json")
        record = json.loads(out)
        assert code == 0 and record["dtype"] == dtype  # auto: PASSAGE is one window
        assert PASSAGE[record["start_char"] : record["end_char"]] == record["answer"]


def test_the_default_dtype_is_pinned_by_the_environment(monkeypatch):
    monkeypatch.setenv(DTYPE_ENV, "bfloat16")
    assert default_dtype() == "bfloat16"
    monkeypatch.setenv(DTYPE_ENV, "float32")
    assert default_dtype() == "float32"
    monkeypatch.setenv(DTYPE_ENV, "int8")  # not one the Reader takes
    assert default_dtype() == "auto"
    monkeypatch.delenv(DTYPE_ENV)
    assert default_dtype() == "auto"


@pytest.mark.parametrize("native", [True, False])
def test_auto_is_bfloat16_only_for_several_windows_on_a_cpu_with_native_bfloat16(tiny_reader, monkeypatch, native):
    monkeypatch.setattr(inference, "bfloat16_is_fast", lambda: native)
    short = tiny_reader(QUESTION, PASSAGE, dtype="auto")
    long = tiny_reader(QUESTION, PASSAGE * 12, dtype="auto")
    assert len(short.windows) == 1 and len(long.windows) > 1
    assert short.dtype == "float32"
    assert long.dtype == ("bfloat16" if native else "float32")


def test_the_arithmetic_control_reads_in_bfloat16_and_goes_in_the_link():
    at = run_app()
    assert at.session_state.dtype == "float32" and "dtype" not in at.query_params  # the pinned default stays out
    at.sidebar.radio(key="dtype").set_value("bfloat16").run()
    assert not at.exception
    assert at.query_params["dtype"] == "bfloat16"
    captions = [c.value for c in at.caption]
    assert any("in bfloat16 arithmetic" in c for c in captions)
    linked = run_app(dtype="bfloat16")
    assert linked.session_state.dtype == "bfloat16"
    assert run_app(dtype="float64").session_state.dtype == "float32"  # a bad link falls back to the default


def test_the_explorer_defaults_to_auto(monkeypatch):
    monkeypatch.delenv(DTYPE_ENV)
    at = run_app()
    assert not at.exception and at.session_state.dtype == "auto" and "dtype" not in at.query_params
    assert any("arithmetic" in c.value for c in at.caption)  # the card names the one "auto" picked
