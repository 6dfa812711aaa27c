"""The `python -m skim` contract: JSON keys, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from skim.cli import main
from tests.conftest import REPO

PASSAGE = "Marie Curie was born in Warsaw in 1867. She won two Nobel Prizes, in physics and in chemistry. " * 3


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_answer(capsys, model_dir, *extra: str) -> tuple[int, str, str]:
    """`answer --model model_dir --question Where? --context PASSAGE` plus `extra`."""
    return run(capsys, "answer", "--model", str(model_dir), "--question", "Where?", "--context", PASSAGE, *extra)


def test_answer_json_contract(capsys, tiny_model_dir):
    code, out, _ = run_answer(
        capsys,
        tiny_model_dir,
        "--threshold",
        "0.5",
        "--json",
    )
    assert code == 0
    record = json.loads(out)
    assert PASSAGE[record["start_char"] : record["end_char"]] == record["answer"]
    assert isinstance(record["score"], float) and 0 < record["kept_fraction"] <= 1
    assert {"total"} <= set(record["timings_ms"])
    assert [b["id"] for b in record["blocks"]] == list(range(len(record["blocks"])))
    assert all({"id", "start_char", "end_char"} <= set(b) for b in record["blocks"])
    assert [layer["layer"] for layer in record["layers"]] == [0, 1]
    for layer in record["layers"]:
        assert {"kept_blocks", "dropped_blocks", "keep_prob"} <= set(layer)
        assert all(0 <= p <= 1 for p in layer["keep_prob"].values())


@pytest.mark.parametrize("flags", [["--no-skim"], ["--threshold", "0"]])
def test_full_model_processes_every_token(capsys, tiny_model_dir, flags):
    code, out, _ = run(
        capsys, "answer", "--model", str(tiny_model_dir), "--question", "Where?", "--context", PASSAGE, *flags, "--json"
    )
    record = json.loads(out)
    assert code == 0 and record["kept_fraction"] == 1.0
    assert all(layer["dropped_blocks"] == [] for layer in record["layers"])


def test_skim_layers_limit_which_layers_judge_and_drop(capsys, tiny_model_dir):
    argv = [
        "answer",
        "--model",
        str(tiny_model_dir),
        "--question",
        "Where?",
        "--context",
        PASSAGE,
        "--threshold",
        "0.5",
    ]
    code, out, _ = run(capsys, *argv, "--skim-layers", "1", "--json")
    record = json.loads(out)
    assert code == 0 and record["skim_layers"] == [1]
    first, second = record["layers"]
    assert first["keep_prob"] == {} and first["dropped_blocks"] == []  # layer 0 neither scores nor drops
    assert second["keep_prob"] and second["dropped_blocks"]  # layer 1 does, at this threshold
    everywhere = json.loads(run(capsys, *argv, "--json")[1])
    assert everywhere["skim_layers"] is None and everywhere["layers"][0]["keep_prob"]


def test_context_file_and_human_output(capsys, tiny_model_dir, tmp_path):
    path = tmp_path / "passage.txt"
    path.write_text(PASSAGE, encoding="utf-8")
    code, out, _ = run(
        capsys, "answer", "--model", str(tiny_model_dir), "--question", "Where?", "--context-file", str(path)
    )
    assert code == 0 and out.startswith("Answer: ") and "token-layers processed" in out


def bad_files(tmp_path):
    binary = tmp_path / "binary.bin"
    binary.write_bytes(b"\x00\x01\x02PK\x03\x04" * 10)
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Café in Zürich".encode("latin-1"))
    return {"binary": binary, "latin1": latin1, "missing": tmp_path / "nope.txt", "directory": tmp_path}


@pytest.mark.parametrize(
    "case",
    [
        "empty-question",
        "empty-passage",
        "missing",
        "binary",
        "latin1",
        "directory",
        "no-model",
        "bad-threshold",
        "no-context",
        "bad-layer",
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, tiny_model_dir, tmp_path, case):
    files = bad_files(tmp_path)
    model = ["--model", str(tiny_model_dir)]
    argv = {
        "empty-question": ["answer", *model, "--question", "  ", "--context", PASSAGE],
        "empty-passage": ["answer", *model, "--question", "Where?", "--context", ""],
        "missing": ["answer", *model, "--question", "Where?", "--context-file", str(files["missing"])],
        "binary": ["answer", *model, "--question", "Where?", "--context-file", str(files["binary"])],
        "latin1": ["answer", *model, "--question", "Where?", "--context-file", str(files["latin1"])],
        "directory": ["answer", *model, "--question", "Where?", "--context-file", str(files["directory"])],
        "no-model": [
            "answer",
            "--model",
            str(tmp_path / "no-such-model"),
            "--question",
            "Where?",
            "--context",
            PASSAGE,
        ],
        "bad-threshold": ["answer", *model, "--question", "Where?", "--context", PASSAGE, "--threshold", "1.5"],
        "no-context": ["answer", *model, "--question", "Where?"],
        "bad-layer": ["answer", *model, "--question", "Where?", "--context", PASSAGE, "--skim-layers", "7"],
    }[case]
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1, err


def tiny_squad(tmp_path) -> str:
    """An official-format SQuAD file of two questions about PASSAGE."""
    qas = [
        {"id": "q1", "question": "Where was she born?", "answers": [{"text": "Warsaw", "answer_start": 24}]},
        {"id": "q2", "question": "When?", "answers": [{"text": "1867", "answer_start": 34}]},
    ]
    path = tmp_path / "dev.json"
    path.write_text(
        json.dumps({"version": "1.1", "data": [{"title": "T", "paragraphs": [{"context": PASSAGE, "qas": qas}]}]})
    )
    return str(path)


def test_eval_json_contract(capsys, tiny_model_dir, tmp_path):
    path = tiny_squad(tmp_path)
    code, out, err = run(capsys, "eval", "--data", str(path), "--model", str(tiny_model_dir), "--limit", "2", "--json")
    assert code == 0
    result = json.loads(out)
    assert result["n"] == 2
    assert {"exact_match", "f1", "seconds"} <= set(result["full"])
    assert {"exact_match", "f1", "seconds", "kept_fraction"} <= set(result["skim"])
    assert all(0 <= result[k]["f1"] <= 100 for k in ("full", "skim")) and result["speedup"] > 0


def test_eval_rejects_a_malformed_file(capsys, tiny_model_dir, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"data": [{"paragraphs": [{"qas": []}]}]}')
    code, _, err = run(capsys, "eval", "--data", str(path), "--model", str(tiny_model_dir))
    assert code == 2 and err.startswith("error: ") and "SQuAD" in err


def test_module_entry_point_exit_code_without_traceback(tmp_path):
    # run from elsewhere: nothing may depend on the working directory
    result = subprocess.run(
        [sys.executable, "-m", "skim", "answer", "--model", str(tmp_path), "--question", "q", "--context", "c"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 2
    assert (
        "Traceback" not in result.stderr
        and result.stderr == f"error: {tmp_path} has no config.json: not a model directory\n"
    )


def test_eval_sweep_reports_each_threshold(capsys, tiny_model_dir, tmp_path):
    path = tiny_squad(tmp_path)
    code, out, _ = run(
        capsys, "eval", "--data", str(path), "--model", str(tiny_model_dir), "--sweep", "0", "1", "--json"
    )
    result = json.loads(out)
    assert code == 0 and [p["threshold"] for p in result["skim"]] == [0.0, 1.0]
    assert result["skim"][0]["kept_fraction"] == 1.0 and result["skim"][0]["f1"] == result["full"]["f1"]
    assert result["skim"][1]["kept_fraction"] < 1.0


def test_eval_no_skim_runs_the_full_model_only(capsys, tiny_model_dir, tmp_path):
    path = tiny_squad(tmp_path)
    code, out, _ = run(capsys, "eval", "--data", path, "--model", str(tiny_model_dir), "--no-skim", "--json")
    assert code == 0
    result = json.loads(out)
    _, both, _ = run(capsys, "eval", "--data", path, "--model", str(tiny_model_dir), "--json")
    full = json.loads(both)["full"]
    assert set(result) == {"n", "full"} and result["n"] == 2
    assert (result["full"]["exact_match"], result["full"]["f1"]) == (full["exact_match"], full["f1"])
    code, _, err = run(
        capsys, "eval", "--data", path, "--model", str(tiny_model_dir), "--no-skim", "--threshold", "0.5"
    )
    assert code == 2 and err.startswith("error: ") and "--no-skim" in err
