"""`--predictor` on answer, eval and bench, and `bench --articles`: JSON keys, exit codes, one-line errors."""

from __future__ import annotations

import json
import math

import pytest

from skim import bench, bench_articles, evaluate
from tests.conftest import tiny_model
from tests.test_cli import PASSAGE, run, run_answer

KINDS = ["diagonal", "question"]


@pytest.fixture(scope="module")
def diagonal_only_dir(tmp_path_factory, tokenizer):
    """A checkpoint as the shipped one: the paper's predictors only."""
    path = tmp_path_factory.mktemp("diagonal-only")
    tiny_model(skim_predictor_kinds=["diagonal"]).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def squad_file(tmp_path, articles: int = 2, paragraphs: int = 6):
    """An official-format file of `articles` articles of `paragraphs` paragraphs, one question each."""
    data = []
    for a in range(articles):
        title = f"Article{a}"
        items = []
        for p in range(paragraphs):
            context = f"Paragraph {p} of {title}. " + f"The {title.lower()} section number {p} has filler words. " * 6
            answer = f"section number {p}"
            items.append(
                {
                    "context": context,
                    "qas": [
                        {
                            "id": f"{title}-{p}",
                            "question": f"Which section is {p}?",
                            "answers": [{"text": answer, "answer_start": context.index(answer)}],
                        }
                    ],
                }
            )
        data.append({"title": title, "paragraphs": items})
    path = tmp_path / "dev.json"
    path.write_text(json.dumps({"version": "1.1", "data": data}))
    return path


def one_error_line(code, out, err):
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


# --- answer -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_answer_json_names_the_predictor_that_judged(capsys, tiny_model_dir, kind):
    code, out, _ = run_answer(
        capsys,
        tiny_model_dir,
        "--predictor",
        kind,
        "--json",
    )
    record = json.loads(out)
    assert code == 0 and record["predictor"] == kind
    assert PASSAGE[record["start_char"] : record["end_char"]] == record["answer"]


def test_answer_defaults_to_the_checkpoints_predictor_and_its_threshold(capsys, tiny_model_dir, tiny_reader):
    cfg = tiny_reader.model.config
    for kind in KINDS:
        argv = ["answer", "--model", str(tiny_model_dir), "--question", "Where?", "--context", PASSAGE, "--json"]
        record = json.loads(
            run(capsys, *argv, *(["--predictor", kind] if kind != cfg.skim_default_predictor else []))[1]
        )
        assert record["predictor"] == kind and record["threshold"] == cfg.default_threshold(kind)


def test_answer_human_output_names_the_predictor(capsys, tiny_model_dir):
    code, out, _ = run_answer(
        capsys,
        tiny_model_dir,
        "--predictor",
        "question",
    )
    assert (
        code == 0 and out.startswith("Answer: ") and "(question predictor)" in out and "token-layers processed" in out
    )


def test_answer_with_a_kind_the_checkpoint_lacks_is_one_error_line(capsys, diagonal_only_dir):
    argv = ["answer", "--model", str(diagonal_only_dir), "--question", "Where?", "--context", PASSAGE]
    err = one_error_line(*run(capsys, *argv, "--predictor", "question"))
    assert "question" in err and "diagonal" in err
    code, out, _ = run(capsys, *argv, "--json")  # the default still works
    assert code == 0 and json.loads(out)["predictor"] == "diagonal"


def test_an_unknown_kind_is_one_error_line(capsys, tiny_model_dir, tmp_path):
    data = squad_file(tmp_path)
    model = ["--model", str(tiny_model_dir)]
    for argv in (
        ["answer", *model, "--question", "Where?", "--context", PASSAGE],
        ["eval", *model, "--data", str(data)],
        ["bench", *model, "--data", str(data)],
    ):
        one_error_line(*run(capsys, *argv, "--predictor", "oracle"))


# --- eval ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_eval_json_has_the_predictor(capsys, tiny_model_dir, tiny_reader, tmp_path, kind):
    data = squad_file(tmp_path, articles=1, paragraphs=2)
    code, out, _ = run(
        capsys, "eval", "--data", str(data), "--model", str(tiny_model_dir), "--predictor", kind, "--json"
    )
    result = json.loads(out)
    assert code == 0 and result["predictor"] == kind and result["n"] == 2
    assert result["threshold"] == tiny_reader.model.config.default_threshold(kind)
    assert {"exact_match", "f1", "seconds"} <= set(result["full"])
    assert {"exact_match", "f1", "seconds", "kept_fraction", "gold_block_alive"} <= set(result["skim"])
    assert result["speedup"] > 0 and "same_answer" in result
    code, out, _ = run(
        capsys,
        "eval",
        "--data",
        str(data),
        "--model",
        str(tiny_model_dir),
        "--predictor",
        kind,
        "--sweep",
        "0",
        "0.5",
        "--json",
    )
    swept = json.loads(out)
    assert code == 0 and swept["predictor"] == kind and [p["threshold"] for p in swept["skim"]] == [0.0, 0.5]


def test_eval_default_predictor_is_the_checkpoints(capsys, tiny_model_dir, tmp_path):
    data = squad_file(tmp_path, articles=1, paragraphs=1)
    code, out, _ = run(capsys, "eval", "--data", str(data), "--model", str(tiny_model_dir), "--json")
    assert code == 0 and json.loads(out)["predictor"] == "diagonal"


def test_eval_rejects_a_missing_kind_before_any_question(capsys, diagonal_only_dir, tmp_path, monkeypatch):
    def no_run(*args, **kwargs):
        raise AssertionError("questions were read before the predictor was checked")

    monkeypatch.setattr(evaluate, "run_questions", no_run)
    data = squad_file(tmp_path)
    for extra in ([], ["--sweep", "0.1", "0.2"]):
        one_error_line(
            *run(
                capsys,
                "eval",
                "--data",
                str(data),
                "--model",
                str(diagonal_only_dir),
                "--predictor",
                "question",
                *extra,
            )
        )


# --- bench --------------------------------------------------------------------------------------------------

WINDOW_KEYS = {
    "seq_len",
    "batch_size",
    "dtype",
    "n",
    "threshold",
    "threads",
    "skim_layers",
    "predictor",
    "hf_ms",
    "full_ms",
    "skim_ms",
    "speedup_vs_hf",
    "speedup_vs_full",
    "kept_fraction",
    "limit_speedup",
    "f1_hf",
    "f1_full",
    "f1_skim",
    "skim_padded_ms",
    "flops_ratio",
    "flops_ratio_padded_512",
    "mean_tokens",
    "predictor_auc",
    "layer_ms",
    "predictor_ms",
    "predictor_cost_fraction",
    "predictor_ms_by_kind",
}


@pytest.mark.parametrize("kind", KINDS)
def test_bench_json_has_the_predictor(capsys, tiny_model_dir, tmp_path, kind):
    data = squad_file(tmp_path)
    code, out, _ = run(
        capsys,
        "bench",
        "--model",
        str(tiny_model_dir),
        "--data",
        str(data),
        "--seq-len",
        "128",
        "--n",
        "2",
        "--repeats",
        "1",
        "--predictor",
        kind,
        "--json",
    )
    result = json.loads(out)
    assert code == 0 and WINDOW_KEYS <= set(result)
    assert result["predictor"] == kind and result["seq_len"] == 128 and result["n"] == 2


def test_bench_default_threshold_is_the_predictors(capsys, tiny_model_dir, tiny_reader, tmp_path):
    data = squad_file(tmp_path)
    code, out, _ = run(
        capsys,
        "bench",
        "--model",
        str(tiny_model_dir),
        "--data",
        str(data),
        "--seq-len",
        "128",
        "--n",
        "1",
        "--repeats",
        "1",
        "--predictor",
        "question",
        "--json",
    )
    assert code == 0 and json.loads(out)["threshold"] == tiny_reader.model.config.default_threshold("question")


def test_bench_rejects_a_missing_kind_before_loading_the_baseline(capsys, diagonal_only_dir, tmp_path, monkeypatch):
    def no_load(*args, **kwargs):
        raise AssertionError("the HF model was loaded before the predictor was checked")

    monkeypatch.setattr(bench.AutoModelForQuestionAnswering, "from_pretrained", no_load)
    data = squad_file(tmp_path)
    for extra in ([], ["--articles"]):
        err = one_error_line(
            *run(
                capsys,
                "bench",
                "--model",
                str(diagonal_only_dir),
                "--data",
                str(data),
                "--predictor",
                "question",
                *extra,
            )
        )
        assert "question" in err


ARTICLE_KEYS = WINDOW_KEYS | {"em_hf", "em_full", "em_skim", "mean_windows"}


@pytest.mark.parametrize("kind", KINDS)
def test_bench_articles_json_contract(capsys, tiny_model_dir, tmp_path, kind):
    data = squad_file(tmp_path)
    code, out, err = run(
        capsys,
        "bench",
        "--articles",
        "--n",
        "2",
        "--model",
        str(tiny_model_dir),
        "--data",
        str(data),
        "--threshold",
        "0.5",
        "--predictor",
        kind,
        "--json",
    )
    assert code == 0, err
    result = json.loads(out)
    assert ARTICLE_KEYS <= set(result)
    assert result["seq_len"] == "articles" and result["n"] == 2 and result["predictor"] == kind
    assert result["threshold"] == 0.5 and result["dtype"] == "float32"
    assert result["mean_windows"] > 1  # whole articles: several windows per question
    assert all(result[k] > 0 for k in ("hf_ms", "full_ms", "skim_ms", "speedup_vs_hf", "speedup_vs_full"))
    assert 0 < result["kept_fraction"] < 1 and math.isclose(result["limit_speedup"], 1 / result["kept_fraction"])
    assert all(0 <= result[f"{m}_{r}"] <= 100 for m in ("em", "f1") for r in ("hf", "full", "skim"))
    assert len(result["predictor_auc"]) == 2 and all(a is None or 0 <= a <= 1 for a in result["predictor_auc"])
    # Same weights, same windows, same decoding: HF and ours with skimming off pick the same answers.
    assert math.isclose(result["f1_hf"], result["f1_full"], abs_tol=1e-6)
    assert math.isclose(result["em_hf"], result["em_full"], abs_tol=1e-6)
    assert "bench articles" in err  # the progress bar, on stderr


def test_bench_articles_human_output(capsys, tiny_model_dir, tmp_path):
    data = squad_file(tmp_path)
    code, out, _ = run(capsys, "bench", "--articles", "--n", "1", "--model", str(tiny_model_dir), "--data", str(data))
    assert code == 0 and "whole article" in out and "diagonal predictor" in out


@pytest.mark.parametrize("flags", [["--native"], ["--seq-len", "128"], ["--batch-size", "4"]])
def test_bench_articles_refuses_window_flags(capsys, tiny_model_dir, tmp_path, flags):
    data = squad_file(tmp_path)
    one_error_line(*run(capsys, "bench", "--articles", "--model", str(tiny_model_dir), "--data", str(data), *flags))


def test_article_inputs_are_whole_articles_with_the_gold_span(tokenizer, tmp_path):
    from skim.data import read_squad_json

    rows = read_squad_json(squad_file(tmp_path))
    items = bench_articles.article_inputs(tokenizer, rows, n=3)
    assert len(items) == 3
    for item in items:
        start, end = item["span"]
        assert item["context"][start:end] == item["answers"][0]
        assert item["context"].count("\n\n") == 5  # six paragraphs, joined in order
        assert len(item["windows"]) > 1 and all(len(w.input_ids) <= 384 for w in item["windows"])


def test_eval_refuses_a_plain_checkpoint_before_any_question(capsys, tokenizer, tmp_path, monkeypatch):
    from transformers import AutoModelForQuestionAnswering

    from tests.test_encoders import encoder_config

    def no_run(*args, **kwargs):
        raise AssertionError("questions were read before the checkpoint was found to have no predictors")

    plain = tmp_path / "plain"
    AutoModelForQuestionAnswering.from_config(encoder_config("bert", len(tokenizer), skim=False)).save_pretrained(plain)
    tokenizer.save_pretrained(plain)
    capsys.readouterr()  # the save's progress bar
    monkeypatch.setattr(evaluate, "run_questions", no_run)
    data = squad_file(tmp_path)
    for extra in ([], ["--sweep", "0.1", "0.2"]):
        err = one_error_line(*run(capsys, "eval", "--data", str(data), "--model", str(plain), *extra))
        assert "no skim predictors" in err


def test_eval_no_skim_reads_a_plain_checkpoint(capsys, tokenizer, tmp_path):
    from transformers import AutoModelForQuestionAnswering

    from tests.test_encoders import encoder_config

    plain = tmp_path / "plain"
    AutoModelForQuestionAnswering.from_config(encoder_config("bert", len(tokenizer), skim=False)).save_pretrained(plain)
    tokenizer.save_pretrained(plain)
    capsys.readouterr()  # the save's progress bar
    code, out, _ = run(capsys, "eval", "--data", str(squad_file(tmp_path)), "--model", str(plain), "--no-skim")
    assert code == 0 and "full model (no skimming)" in out and " F1 " in out


def test_bench_articles_reads_at_the_many_windows_threshold(capsys, tiny_model_dir, tokenizer, tmp_path):
    """`skim_question_many_windows_scale`: the articles bench gives each article the threshold the Reader would."""
    from tests.conftest import tiny_model

    scaled = tmp_path / "scaled"
    tiny_model(skim_question_many_windows_scale=2.0).save_pretrained(scaled)
    tokenizer.save_pretrained(scaled)
    data = str(squad_file(tmp_path))
    results = []
    for model, threshold in ((scaled, "0.2"), (tiny_model_dir, "0.4")):
        args = ["--model", str(model), "--data", data, "--threshold", threshold, "--predictor", "question", "--json"]
        code, out, err = run(capsys, "bench", "--articles", "--n", "2", *args)
        assert code == 0, err
        results.append(json.loads(out))
    assert results[0]["threshold"] == 0.2 and results[0]["kept_fraction"] < 1
    assert [r["kept_fraction"] for r in results] == [results[1]["kept_fraction"]] * 2
    assert results[0]["f1_skim"] == results[1]["f1_skim"]
