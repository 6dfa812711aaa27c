"""The inference fast path must make exactly the trace path's decisions; the benchmark must time honest inputs."""

from __future__ import annotations

import json
import math

import pytest
import torch

from skim.bench import FixedKeep, _auc, _batch, bench_inputs, flops, gold_blocks, scorable_blocks
from skim.cli import main
from skim.fast import FastSkimReader
from tests.conftest import tiny_model
from tests.test_cli import PASSAGE

THRESHOLDS = [0.0, 0.3, 0.5, 0.7, 1.0]


def padded_batch(tokenizer):
    questions = ["Who wrote it?", "When was the first edition printed and what did it cost?", "Where?"]
    passages = [PASSAGE, PASSAGE[:150], PASSAGE[40:260]]
    return tokenizer(questions, passages, return_tensors="pt", padding=True, return_token_type_ids=True)


def calibrated_tiny_model():
    """A tiny model whose question predictors map logits through stored answer-block quantiles (as the shipped
    model's do), spread so that the piecewise-linear map, not its flat ends, decides."""
    model = tiny_model()
    torch.manual_seed(1)
    for predictor in model.question_predictors.values():
        predictor.calibrate(torch.randn(400, 2) * 0.4)
    return model


@pytest.mark.parametrize("predictor", ["diagonal", "question", "question-calibrated"])
@pytest.mark.parametrize("pack", [True, False])
@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_fast_path_matches_the_models_forward(tokenizer, threshold, pack, predictor):
    model = calibrated_tiny_model() if predictor == "question-calibrated" else tiny_model()
    predictor = predictor.removesuffix("-calibrated")
    fast = FastSkimReader(model, pack=pack, predictor=predictor)
    inputs = padded_batch(tokenizer)
    for rows in ([0], [0, 1, 2]):  # batch of one (no mask) and a padded batch
        batch = {k: v[rows] for k, v in inputs.items()}
        with torch.no_grad():
            slow = model(**batch, threshold=threshold, skim=True, predictor=predictor)
        quick = fast(**batch, threshold=threshold)
        for a, b in zip(slow.alive, quick.alive):
            assert torch.equal(a, b)
        for a, b in zip(slow.keep_probs, quick.keep_probs):
            assert torch.allclose(a, b, atol=1e-5, equal_nan=True)
        assert torch.equal(slow.layer_tokens, quick.layer_tokens)
        assert torch.equal(torch.isfinite(slow.start_logits), torch.isfinite(quick.start_logits))
        assert torch.allclose(slow.start_logits, quick.start_logits, atol=1e-5)
        assert torch.allclose(slow.end_logits, quick.end_logits, atol=1e-5)


@pytest.mark.parametrize("layers", [[1], [0]])
def test_fast_path_matches_the_models_forward_when_only_some_layers_skim(tokenizer, layers):
    model = tiny_model()
    batch = padded_batch(tokenizer)
    with torch.no_grad():
        slow = model(**batch, threshold=0.5, skim=True, skim_layers=layers)
    quick = FastSkimReader(model)(**batch, threshold=0.5, layers=layers)
    for i, (a, b) in enumerate(zip(slow.keep_probs, quick.keep_probs)):
        assert torch.allclose(a, b, atol=1e-5, equal_nan=True)
        assert bool(a.isnan().all()) == (i not in layers)  # no other layer's predictor ran
    for a, b in zip(slow.alive, quick.alive):
        assert torch.equal(a, b)
    assert torch.allclose(slow.start_logits, quick.start_logits, atol=1e-5)
    with torch.no_grad():
        real_blocks = model(**batch, threshold=0.0, skim=True).alive[-1]  # nothing dropped: the real blocks
    dropped_after = [int((real_blocks & ~alive).sum()) for alive in slow.alive]
    assert dropped_after[layers[0]] > 0 and all(d == 0 for d in dropped_after[: layers[0]])


def test_some_threshold_really_drops_blocks_in_that_comparison(tokenizer):
    """Guards the test above: agreement on runs that drop nothing would prove little."""
    out = FastSkimReader(tiny_model())(**padded_batch(tokenizer), threshold=0.5)
    assert not out.alive[-1].all() and out.alive[-1].any()


@pytest.mark.parametrize("threshold", [0.0, 0.5])
def test_reader_gives_the_same_answer_and_decisions_with_and_without_attention(tiny_reader, threshold):
    question = "When did she win the Nobel Prize?"
    fast = tiny_reader(question, PASSAGE, threshold=threshold, attention="none")
    traced = tiny_reader(question, PASSAGE, threshold=threshold, attention="heads")
    assert fast.answer.text == traced.answer.text and fast.answer.start_char == traced.answer.start_char
    assert math.isclose(fast.answer.score, traced.answer.score, rel_tol=1e-4)
    assert fast.kept_fraction == traced.kept_fraction
    for a, b in zip(fast.layers, traced.layers):
        assert (a.kept_blocks, a.dropped_blocks) == (b.kept_blocks, b.dropped_blocks)
        assert a.keep_prob.keys() == b.keep_prob.keys()
        assert all(math.isclose(a.keep_prob[k], b.keep_prob[k], abs_tol=1e-4) for k in a.keep_prob)
    assert fast.attention == [] and traced.attention


def squad_rows() -> list[dict]:
    """Two articles of several paragraphs, answers at known offsets."""
    rows = []
    for title in ("Rivers", "Mountains"):
        for p in range(6):
            context = f"Paragraph {p} of {title}. " + f"The {title.lower()} section number {p} has filler words. " * 6
            answer = f"section number {p}"
            rows.append(
                {
                    "id": f"{title}{p}",
                    "title": title,
                    "context": context,
                    "question": f"Which section is {p}?",
                    "answers": {"text": [answer], "answer_start": [context.index(answer)]},
                }
            )
    return rows


def test_bench_inputs_are_full_length_windows_holding_the_gold_answer(tokenizer):
    items = bench_inputs(tokenizer, squad_rows(), seq_len=128, n=4)
    assert len(items) == 4
    for item in items:
        window = item["window"]
        assert len(window.input_ids) == 128
        spans = [o for o in window.offsets if o is not None]
        answer = item["answers"][0]
        at = item["context"].find(answer, spans[0][0])
        assert 0 <= at and at + len(answer) <= spans[-1][1]


def test_scorable_blocks_are_the_ones_the_model_scores(tokenizer):
    model = tiny_model()
    for item in bench_inputs(tokenizer, squad_rows(), seq_len=100, n=3):  # 100 tokens: a last, partial block
        out = FastSkimReader(model)(**_batch([item["window"]]), threshold=0.0)
        scored = [b for b, p in enumerate(out.keep_probs[0][0].tolist()) if not math.isnan(p)]
        assert scored == scorable_blocks(item["window"], model.config.skim_block_size)


def test_a_perfect_stand_in_predictor_keeps_exactly_the_gold_blocks(tokenizer):
    """What `scripts/skim_ceiling.py` times: after its layer, only the answer's blocks and the question remain."""
    model = tiny_model()
    bs = model.config.skim_block_size
    reader = FastSkimReader(model, layers=[0])
    oracle = reader.predictors[0] = FixedKeep(reader.predictors[0])
    for item in bench_inputs(tokenizer, squad_rows(), seq_len=128, n=3):
        window = item["window"]
        gold = gold_blocks(window, *item["span"], bs)
        oracle.probs = torch.tensor([float(b in gold) for b in scorable_blocks(window, bs)])
        out = reader(**_batch([window]), threshold=0.5)
        alive = {b for b, kept in enumerate(out.alive[0][0].tolist()) if kept}
        question_only = {b for b in alive if not any(window.token_type_ids[b * bs : (b + 1) * bs])}
        assert gold and alive - question_only == gold
        assert int(torch.isfinite(out.start_logits).sum()) < len(window.input_ids)  # the rest is really gone
        oracle.probs = oracle.probs[:-1]
        with pytest.raises(ValueError):
            reader(**_batch([window]), threshold=0.5)


def test_native_inputs_are_the_paragraph_alone(tokenizer):
    rows = squad_rows()
    items = bench_inputs(tokenizer, rows, seq_len=384, n=3, native=True)
    assert [item["context"] for item in items] == [rows[0]["context"], rows[4]["context"], rows[8]["context"]]


def test_flops_grow_with_tokens_and_a_cut_saves_feed_forward_work():
    full = flops([100, 100], [100, 100], 32, 64)
    assert flops([100, 50], [50, 50], 32, 64) < full < flops([200, 200], [200, 200], 32, 64)


def test_auc_ranks_gold_blocks_above_others():
    assert _auc([0.9, 0.8], [0.1, 0.2, 0.3]) == 1.0
    assert _auc([0.1], [0.5, 0.6]) == 0.0
    assert _auc([0.5], [0.5]) == 0.5


def test_bench_cli_json_contract(capsys, tmp_path, tiny_model_dir):
    data = tmp_path / "dev.json"
    paragraphs = {}
    for row in squad_rows():
        paragraphs.setdefault(row["title"], []).append(
            {
                "context": row["context"],
                "qas": [
                    {
                        "id": row["id"],
                        "question": row["question"],
                        "answers": [
                            {"text": row["answers"]["text"][0], "answer_start": row["answers"]["answer_start"][0]}
                        ],
                    }
                ],
            }
        )
    data.write_text(json.dumps({"data": [{"title": t, "paragraphs": p} for t, p in paragraphs.items()]}))
    code = main(
        [
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
            "--threshold",
            "0.5",
            "--json",
        ]
    )
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {
        "seq_len",
        "batch_size",
        "dtype",
        "n",
        "hf_ms",
        "full_ms",
        "skim_ms",
        "speedup_vs_hf",
        "speedup_vs_full",
        "kept_fraction",
        "limit_speedup",
        "f1_hf",
        "f1_skim",
        "flops_ratio_padded_512",
    } <= set(result)
    assert result["seq_len"] == 128 and result["n"] == 2 and result["dtype"] == "float32"
    assert len(result["predictor_auc"]) == 2 and all(a is None or 0 <= a <= 1 for a in result["predictor_auc"])
    assert 0 < result["kept_fraction"] <= 1 and math.isclose(result["limit_speedup"], 1 / result["kept_fraction"])
    # Same weights: the HF model and ours with skimming off give the same answers.
    assert math.isclose(result["f1_hf"], result["f1_full"], abs_tol=1e-6)


@pytest.mark.parametrize("predictor", ["diagonal", "question"])
def test_inputs_too_short_to_pay_for_a_predictor_are_not_judged(tokenizer, predictor):
    """`skim_min_tokens`: a predictor judges an input only while that many of its tokens are alive; the fast path
    and the model's forward apply the same rule, example by example in a padded batch."""
    batch = padded_batch(tokenizer)
    lengths = batch["attention_mask"].sum(1)
    model = tiny_model(skim_min_tokens=int(lengths.max()))  # only the longest input is long enough
    with torch.no_grad():
        slow = model(**batch, threshold=0.5, skim=True, predictor=predictor)
    quick = FastSkimReader(model, predictor=predictor)(**batch, threshold=0.5)
    longest = int(lengths.argmax())
    for a, b in zip(slow.keep_probs, quick.keep_probs):
        assert torch.allclose(a, b, atol=1e-5, equal_nan=True)
        assert all(bool(a[e].isnan().all()) for e in range(len(lengths)) if e != longest)
    assert not bool(slow.keep_probs[0][longest].isnan().all())
    for a, b in zip(slow.alive, quick.alive):
        assert torch.equal(a, b)
    assert torch.allclose(slow.start_logits, quick.start_logits, atol=1e-5)


def test_predictor_cost_times_every_kind_against_a_layer(tokenizer):
    from skim.cost import predictor_cost

    inputs = dict(padded_batch(tokenizer))
    cost = predictor_cost(tiny_model(), [{k: v[:1] for k, v in inputs.items()}], repeats=2)
    assert set(cost["predictor_ms"]) == set(cost["predictor_cost_fraction"]) == {"diagonal", "question"}
    assert cost["layer_ms"] > 0


def test_attention_off_the_cpu_gives_the_flash_kernels_output_and_log_sum_exp():
    """A GPU has no CPU flash kernel: the explicit path it takes must give the same output and log-sum-exp."""
    from skim.fast import _additive, attention_with_lse, explicit_attention_with_lse

    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 3, 20, 8) for _ in range(3))
    mask = torch.ones(2, 1, 1, 20, dtype=torch.bool)
    mask[1, ..., 15:] = False
    context, lse = attention_with_lse(q, k, v, mask, 0.3)  # the CPU kernel
    got_context, got_lse = explicit_attention_with_lse(q, k, v, _additive(mask, q.dtype), 0.3)
    assert torch.allclose(got_context[:, :, :15], context[:, :, :15], atol=1e-5)
    assert torch.allclose(got_lse[:, :, :15], lse[:, :, :15], atol=1e-5)


def test_question_features_under_bf16_autocast_are_the_float32_ones():
    """Training runs under bf16 autocast: the attention masses must still be summed in float32 (a DistilBERT
    predictors-only run failed with a dtype mismatch in the block sums)."""
    from skim.predictors import question_features

    torch.manual_seed(0)
    to_rows, from_rows = torch.rand(1, 2, 3, 16), torch.rand(1, 2, 16, 3)
    question = torch.ones(1, 3, dtype=torch.bool)
    row_block = torch.tensor([[4, 4, 4, 4, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3]])
    scored = torch.ones(1, 4, dtype=torch.bool)
    expected = question_features(to_rows, from_rows, question, row_block, scored, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = question_features(to_rows, from_rows, question, row_block, scored, 4)
    assert got.dtype == torch.float32 and torch.allclose(got, expected)


@pytest.mark.parametrize("predictor", ["diagonal", "question"])
def test_fast_path_runs_on_half_precision_weights(tokenizer, predictor):
    """A float16 checkpoint loaded as it is (as `scripts/calibrate_model.py` loads one) runs the fast path: the
    attention kernel's log-sum-exp comes back in float32 and must meet the half-precision queries in one dtype."""
    model = calibrated_tiny_model()
    batch = padded_batch(tokenizer)
    with torch.no_grad():
        reference = FastSkimReader(model, predictor=predictor)(**batch, threshold=0.3)
    half = FastSkimReader(model.half(), predictor=predictor)(**batch, threshold=0.3)
    # The tiny model's predictors are made sharp on purpose, so half-precision rounding moves their scores; what
    # must hold is that the same blocks are scored before any cut, with scores that are probabilities.
    first, first_half = reference.keep_probs[0], half.keep_probs[0].float()
    assert torch.equal(first.isnan(), first_half.isnan())
    assert bool(((first_half >= 0) & (first_half <= 1)).sum() == (~first_half.isnan()).sum())
    assert half.start_logits.shape == reference.start_logits.shape
