"""Training on a tiny model: the loss falls, resume continues from the saved step, features are right."""

from __future__ import annotations

import json

import pytest
import torch
from datasets import Dataset

from skim.data import fill_with_neighbours, join_neighbours, prepare_train_features
from skim.train import TrainConfig, train

PARAGRAPHS = [
    "Marie Curie was born in Warsaw in 1867. She studied in Paris.",
    "She won the Nobel Prize in Physics in 1903 and in Chemistry in 1911.",
    "Her daughter Irène also won a Nobel Prize, in 1935, with her husband.",
]
QUESTIONS = [
    (0, "Where was Marie Curie born?", "Warsaw"),
    (0, "Where did she study?", "Paris"),
    (1, "When did she win the physics prize?", "1903"),
    (1, "When did she win the chemistry prize?", "1911"),
    (2, "Who was her daughter?", "Irène"),
    (2, "When did her daughter win?", "1935"),
]


def squad_file(tmp_path):
    paragraphs = [{"context": c, "qas": []} for c in PARAGRAPHS]
    for n, (p, question, answer) in enumerate(QUESTIONS):
        start = PARAGRAPHS[p].index(answer)
        paragraphs[p]["qas"].append(
            {"id": f"q{n}", "question": question, "answers": [{"text": answer, "answer_start": start}]}
        )
    path = tmp_path / "train.json"
    path.write_text(json.dumps({"version": "1.1", "data": [{"title": "Curie", "paragraphs": paragraphs}]}))
    return path


def config(tmp_path, base, **overrides) -> TrainConfig:
    settings = dict(
        output=str(tmp_path / "out"),
        scratch=str(tmp_path / "scratch"),
        data=str(squad_file(tmp_path)),
        base=str(base),
        batch_size=3,
        grad_accum=1,
        lr=3e-3,
        predictor_lr=3e-3,
        warmup=0.0,
        mixed_precision="no",
        log_every=1,
        join_fraction=0.5,
        max_length=64,
        stride=16,
        eval_questions=0,
        epochs=100,
    )
    settings.update(overrides)
    return TrainConfig(**settings)


def log(tmp_path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "scratch" / "log.jsonl").read_text().splitlines()]


def test_training_lowers_the_loss_and_exports_fp16(tmp_path, tiny_model_dir):
    output = train(config(tmp_path, tiny_model_dir, max_steps=24))
    steps = [r for r in log(tmp_path) if "qa_loss" in r]
    first = sum(r["qa_loss"] + 0.1 * r["skim_loss"] for r in steps[:4]) / 4
    last = sum(r["qa_loss"] + 0.1 * r["skim_loss"] for r in steps[-4:]) / 4
    assert last < 0.8 * first, (first, last)
    from safetensors import safe_open

    with safe_open(output / "model.safetensors", "pt") as f:
        assert f.get_tensor("qa_outputs.weight").dtype.__str__() == "torch.float16"
    assert (output / "tokenizer.json").exists() and not list(output.glob("*optimizer*"))


def test_resume_continues_from_the_saved_step(tmp_path, tiny_model_dir):
    train(config(tmp_path, tiny_model_dir, max_steps=3))
    assert [r["step"] for r in log(tmp_path) if "qa_loss" in r] == [1, 2, 3]
    train(config(tmp_path, tiny_model_dir, max_steps=5, resume=True))
    records = log(tmp_path)
    assert [r["step"] for r in records if "qa_loss" in r] == [1, 2, 3, 4, 5]
    assert records[-1]["checkpoint"] == "final" and records[-1]["step"] == 5
    assert records[-1]["examples_seen"] > records[3]["examples_seen"]


def test_features_label_the_answer_tokens(tokenizer):
    context = PARAGRAPHS[1]
    rows = {
        "question": ["When?"],
        "context": [context],
        "answers": [{"text": ["1911"], "answer_start": [context.index("1911")]}],
    }
    features = prepare_train_features(rows, tokenizer, max_length=64, stride=16)
    start, end = features["start_positions"][0], features["end_positions"][0]
    assert tokenizer.decode(features["input_ids"][0][start : end + 1]) == "1911"


def curie_rows() -> list[dict]:
    rows = []
    for p, question, answer in QUESTIONS:
        rows.append(
            {
                "id": question,
                "title": "Curie",
                "context": PARAGRAPHS[p],
                "question": question,
                "answers": {"text": [answer], "answer_start": [PARAGRAPHS[p].index(answer)]},
            }
        )
    return rows


def test_joined_passages_keep_the_answer_offsets():
    joined = join_neighbours(Dataset.from_list(curie_rows()), fraction=1.0, seed=0)
    for row in joined:
        start = row["answers"]["answer_start"][0]
        assert row["context"][start : start + len(row["answers"]["text"][0])] == row["answers"]["text"][0]
        assert len(row["context"]) > max(len(p) for p in PARAGRAPHS)


def test_filled_passages_reach_the_length_keep_offsets_and_put_the_answer_anywhere():
    filled = fill_with_neighbours(Dataset.from_list(curie_rows()), fraction=1.0, min_chars=140, seed=0)
    starts = []
    for row in filled:
        start = row["answers"]["answer_start"][0]
        assert row["context"][start : start + len(row["answers"]["text"][0])] == row["answers"]["text"][0]
        assert len(row["context"]) >= 140
        starts.append(start)
    assert min(starts) < 60 < max(starts)  # not always in the first paragraph


def test_predictors_only_stage_changes_nothing_but_the_predictors(tmp_path, tiny_model_dir):
    from safetensors.torch import load_file

    output = train(config(tmp_path, tiny_model_dir, max_steps=4, predictors_only=True))
    before, after = load_file(tiny_model_dir / "model.safetensors"), load_file(output / "model.safetensors")
    # The export is float16: compare with the start rounded the same way.
    changed = {k for k in after if not torch.equal(after[k], before[k].to(after[k].dtype))}
    changed -= {k for k in changed if k.endswith("num_batches_tracked")}
    assert changed and all(k.startswith(("skim_predictors", "question_predictors")) for k in changed)
    assert any(k.startswith("question_predictors") for k in changed)


def test_adding_question_predictors_to_a_paper_only_model_trains_only_them(tmp_path, tokenizer):
    """The shipped stage: a model with trained paper predictors gets question predictors, and only they learn."""
    from safetensors.torch import load_file

    from tests.conftest import tiny_model

    base = tmp_path / "paper-only"
    tiny_model(skim_predictor_kinds=["diagonal"]).save_pretrained(base)
    tokenizer.save_pretrained(base)
    output = train(
        config(
            tmp_path,
            base,
            max_steps=3,
            predictors_only=True,
            predictor_kinds=["diagonal", "question"],
            train_kinds=["question"],
        )
    )
    before, after = load_file(base / "model.safetensors"), load_file(output / "model.safetensors")
    assert not any(k.startswith("question_predictors") for k in before)
    assert any(k.startswith("question_predictors") for k in after)
    assert all(
        torch.equal(after[k], before[k].to(after[k].dtype)) for k in before if not k.endswith("num_batches_tracked")
    )
    loaded = json.loads((output / "config.json").read_text())
    assert loaded["skim_predictor_kinds"] == ["diagonal", "question"] and loaded["skim_default_predictor"] == "question"


def test_training_data_may_be_gzipped(tmp_path):
    import gzip

    from skim.data import read_squad_json
    from skim.qa import InputError

    plain = squad_file(tmp_path)
    packed = tmp_path / "train.json.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_squad_json(packed) == read_squad_json(plain)
    broken = tmp_path / "broken.json.gz"
    broken.write_bytes(b"not gzip at all")
    with pytest.raises(InputError, match="cannot read"):
        read_squad_json(broken)


def test_fit_minutes_ends_the_schedule_when_the_time_runs_out_and_a_resume_keeps_it(
    tmp_path, tiny_model_dir, monkeypatch
):
    import skim.train

    monkeypatch.setattr(skim.train, "FIT_FROM_STEP", 1)
    monkeypatch.setattr(skim.train, "FIT_STEPS", 2)
    train(config(tmp_path, tiny_model_dir, max_steps=50, fit_minutes=1e-6))  # no time left after the timed steps
    records = log(tmp_path)
    fitted = [r for r in records if "fitted_total_steps" in r]
    assert [(r["step"], r["fitted_total_steps"]) for r in fitted] == [(3, 3)] and fitted[0]["seconds_per_step"] > 0
    steps = [r for r in records if "qa_loss" in r]
    assert [r["step"] for r in steps] == [1, 2, 3] and records[-1]["checkpoint"] == "final"
    train(config(tmp_path, tiny_model_dir, max_steps=50, fit_minutes=1e-6, resume=True))
    assert [r["step"] for r in log(tmp_path) if "qa_loss" in r] == [1, 2, 3]  # the fitted end stands


def test_a_failing_checkpoint_measurement_is_logged_and_the_model_still_exported(tmp_path, tiny_model_dir, monkeypatch):
    import skim.train

    def broken(*args):
        raise RuntimeError("Expected all tensors to be on the same device")

    monkeypatch.setattr(skim.train, "quick_eval", broken)
    cfg = config(tmp_path, tiny_model_dir, max_steps=2, eval_data=str(squad_file(tmp_path)), eval_questions=2)
    output = train(cfg)
    final = log(tmp_path)[-1]
    assert final["checkpoint"] == "final" and "same device" in final["eval"]["error"]
    assert (output / "model.safetensors").exists()
