"""Per-layer threshold scales (`skim_question_layer_scales`): each layer applies its own multiple of the threshold,
a layer at 0 runs no predictor while skimming, and the fast path and the model's forward still agree."""

from __future__ import annotations

import pytest
import torch

from skim import Reader
from skim.fast import FastSkimReader
from tests.conftest import tiny_config, tiny_model
from tests.test_cli import PASSAGE
from tests.test_fast import padded_batch

SCALES = [[1.5, 0.0], [0.5, 2.0]]


@pytest.fixture(scope="module")
def scaled_path(tmp_path_factory, tokenizer):
    """A saved tiny checkpoint whose question kind judges after layer 0 only, at 1.5 × the threshold."""
    path = tmp_path_factory.mktemp("scaled")
    tiny_model(skim_question_layer_scales=[1.5, 0.0]).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def reader(scaled_path):
    return Reader.from_pretrained(scaled_path)


def test_layer_thresholds_scale_only_the_question_kind_and_leave_0_and_1_alone():
    cfg = tiny_config(skim_question_layer_scales=[2.0, 0.0])
    assert cfg.layer_thresholds("question", 0.1) == [0.2, 0.0]
    assert cfg.layer_thresholds("diagonal", 0.1) == [0.1, 0.1]  # the paper's raw P(keep) is not rescaled
    assert cfg.layer_thresholds("question", 0.0) == [0.0, 0.0]  # score everything, drop nothing
    assert cfg.layer_thresholds("question", 1.0) == [1.0, 1.0]  # drop every block, in every layer
    assert tiny_config().layer_thresholds("question", 0.1) == [0.1, 0.1]
    with pytest.raises(ValueError, match="2 layers"):
        tiny_config(skim_question_layer_scales=[1.0]).layer_thresholds("question", 0.1)


@pytest.mark.parametrize("scales", SCALES)
def test_fast_path_matches_the_models_forward_with_scaled_layers(tokenizer, scales):
    model = tiny_model(skim_question_layer_scales=scales)
    fast = FastSkimReader(model, predictor="question")
    inputs = padded_batch(tokenizer)
    for rows in ([0], [0, 1, 2]):
        batch = {k: v[rows] for k, v in inputs.items()}
        with torch.no_grad():
            slow = model(**batch, threshold=0.3, skim=True, predictor="question")
        quick = fast(**batch, threshold=0.3)
        for a, b in zip(slow.alive, quick.alive):
            assert torch.equal(a, b)
        for a, b in zip(slow.keep_probs, quick.keep_probs):
            assert torch.allclose(a, b, atol=1e-5, equal_nan=True)
        assert torch.allclose(slow.start_logits, quick.start_logits, atol=1e-5)


def test_each_layer_drops_below_its_own_threshold(tokenizer):
    batch = {k: v[[0]] for k, v in padded_batch(tokenizer).items()}
    out = FastSkimReader(tiny_model(skim_question_layer_scales=[1.5, 1.0]), predictor="question")(
        **batch, threshold=0.3
    )
    judged = ~out.keep_probs[0].isnan()
    layer0 = out.keep_probs[0][judged]
    assert torch.equal(out.alive[0][judged], layer0 >= 0.45)  # 0.3 x 1.5
    assert 0 < int((layer0 < 0.45).sum()) < int(judged.sum())  # the cut falls inside this model's spread
    assert int((layer0 < 0.3).sum()) < int((layer0 < 0.45).sum())  # so a plain 0.3 would have kept more
    judged = ~out.keep_probs[1].isnan()
    assert torch.equal(out.alive[1][judged], out.keep_probs[1][judged] >= 0.3)


def test_a_layer_at_scale_0_runs_no_predictor_while_skimming_but_is_scored_at_threshold_0(tokenizer):
    batch = {k: v[[0]] for k, v in padded_batch(tokenizer).items()}
    model = tiny_model(skim_question_layer_scales=[1.5, 0.0])
    fast = FastSkimReader(model, predictor="question")
    skimming = fast(**batch, threshold=0.3)
    assert not skimming.keep_probs[0].isnan().all()
    assert skimming.keep_probs[1].isnan().all()  # not judged: nothing it could drop was worth its cost
    scoring = fast(**batch, threshold=0.0)
    assert not scoring.keep_probs[1].isnan().all()  # threshold 0 shows every layer's scores
    plain = FastSkimReader(tiny_model(), predictor="question")(**batch, threshold=0.45)
    for a, b in zip(skimming.alive[:1], plain.alive[:1]):  # layer 0 at 0.3 x 1.5 decides as a plain 0.45
        assert torch.equal(a, b)


def test_the_trace_records_each_layers_threshold(reader):
    trace = reader("Who wrote it?", PASSAGE, threshold=0.2, predictor="question")
    assert trace.layer_thresholds == pytest.approx([0.3, 0.0])
    assert trace.summary()["layer_thresholds"] == pytest.approx([0.3, 0.0])
    assert reader("Who wrote it?", PASSAGE, threshold=0.2, predictor="diagonal").layer_thresholds == [0.2, 0.2]
    assert reader("Who wrote it?", PASSAGE, skim=False).layer_thresholds is None


def test_the_keep_prob_figure_draws_each_layers_threshold(reader):
    from app.block_figures import keep_prob_figure
    from app.kinds import threshold_help

    trace = reader("Who wrote it?", PASSAGE, threshold=0.2, predictor="question")
    steps = [d for d in keep_prob_figure(trace, 0).data if d.name == "threshold"]
    assert len(steps) == 1 and list(steps[0].y) == pytest.approx([0.3, 0.0])
    assert "L0 ×1.5, L1 ×0" in threshold_help(reader.model.config)
    uniform = reader("Who wrote it?", PASSAGE, threshold=0.2, predictor="diagonal")
    assert not [d for d in keep_prob_figure(uniform, 0).data if d.name == "threshold"]  # one line, as before


def test_the_cli_names_each_layers_threshold(scaled_path, capsys):
    from skim.cli import main

    argv = ["answer", "--model", str(scaled_path), "--question", "Who wrote it?", "--context", PASSAGE]
    assert main([*argv, "--predictor", "question", "--threshold", "0.2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].endswith("(threshold 0.3)") and lines[3].endswith("(not judged: this layer's threshold is 0)")
    assert main([*argv, "--predictor", "diagonal"]) == 0
    assert "threshold" not in capsys.readouterr().out.splitlines()[2]  # one threshold: the lines are as before


def test_the_skim_maps_legend_names_each_judging_layers_threshold(reader):
    from app.figures import drop_label

    scaled = reader("Who wrote it?", PASSAGE, threshold=0.2, predictor="question")
    assert drop_label(scaled) == "dropped (P(keep) < its layer's threshold: L0 0.3)"
    assert (
        drop_label(reader("Who wrote it?", PASSAGE, threshold=0.2, predictor="diagonal")) == "dropped (P(keep) < 0.2)"
    )


def test_passage_threshold_scales_only_the_question_kind_of_several_windows():
    cfg = tiny_config(skim_question_many_windows_scale=3.0)
    assert cfg.passage_threshold("question", 0.01, 1) == 0.01  # one window: as asked
    assert cfg.passage_threshold("question", 0.01, 2) == pytest.approx(0.03)
    assert cfg.passage_threshold("diagonal", 0.01, 5) == 0.01
    assert [cfg.passage_threshold("question", t, 5) for t in (0.0, 1.0)] == [0.0, 1.0]
    assert tiny_config().passage_threshold("question", 0.01, 5) == 0.01


def test_the_many_windows_scale_applies_from_its_fewest_windows_on():
    cfg = tiny_config(skim_question_many_windows_scale=2.0, skim_question_many_windows_min=3)
    assert [cfg.passage_threshold("question", 0.01, w) for w in (1, 2, 3, 30)] == pytest.approx(
        [0.01, 0.01, 0.02, 0.02]
    )
    assert (
        tiny_config(skim_question_many_windows_scale=2.0, skim_question_many_windows_min=1).passage_threshold(
            "question", 0.01, 1
        )
        == 0.01
    )  # one window is never "many"


def test_a_passage_of_several_windows_is_read_at_the_scaled_threshold(tokenizer):
    """The Reader gives every window of a long passage the scaled threshold (the trace's `layer_thresholds` say
    so, `threshold` stays what was asked), with the same cuts as the unscaled model asked for the product."""
    passage = "Ada Lovelace wrote the first program. " * 60
    plain = Reader(tiny_model(), tokenizer)
    scaled = Reader(tiny_model(skim_question_many_windows_scale=2.0), tokenizer)
    for attention in ("none", "heads"):
        trace = scaled("Who?", passage, threshold=0.2, predictor="question", attention=attention)
        same = plain("Who?", passage, threshold=0.4, predictor="question", attention=attention)
        assert len(trace.windows) > 1 and trace.threshold == 0.2
        assert trace.layer_thresholds == same.layer_thresholds == [0.4, 0.4]
        assert [layer.dropped_blocks for layer in trace.layers] == [layer.dropped_blocks for layer in same.layers]
        assert any(layer.dropped_blocks for layer in trace.layers)
    short = scaled("Who?", PASSAGE, threshold=0.2, predictor="question")
    assert len(short.windows) == 1 and short.layer_thresholds == [0.2, 0.2]


def test_the_threshold_help_names_the_many_windows_scale():
    from app.kinds import threshold_help

    assert "×3 the question kind's threshold" in threshold_help(tiny_config(skim_question_many_windows_scale=3.0))
    assert "several windows" not in threshold_help(tiny_config())
    from_three = threshold_help(tiny_config(skim_question_many_windows_scale=2.0, skim_question_many_windows_min=3))
    assert "A passage read in 3 windows or more gets ×2" in from_three
