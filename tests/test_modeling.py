"""Invariants of the Block-Skim forward pass on a tiny random BERT."""

from __future__ import annotations

import torch
from transformers import BertForQuestionAnswering

from skim import BlockSkimForQuestionAnswering
from skim.modeling import diagonal_blocks, skim_labels_from_span
from tests.conftest import tiny_model

QUESTION = "Who wrote the novel about manners?"
PASSAGE = (
    "The novel was written by Jane Austen and published in 1813. It follows Elizabeth Bennet. "
    "Critics praised its wit, and it has sold millions of copies. Many films were made of it. "
    "The first edition had three volumes and cost eighteen shillings."
)


def encode(tokenizer, question=QUESTION, passage=PASSAGE):
    return tokenizer(question, passage, return_tensors="pt", return_token_type_ids=True)


def test_threshold_zero_gives_exactly_the_full_models_logits(tokenizer):
    model = tiny_model()
    inputs = encode(tokenizer)
    with torch.no_grad():
        full = model(**inputs, skim=False)
        zero = model(**inputs, threshold=0.0, skim=True)
        hf = BertForQuestionAnswering(model.config).eval()
        hf.load_state_dict(model.state_dict(), strict=False)
        reference = hf(**inputs)
    assert torch.equal(full.start_logits, zero.start_logits)
    assert torch.equal(full.end_logits, zero.end_logits)
    assert torch.allclose(zero.start_logits, reference.start_logits, atol=1e-5)
    assert torch.allclose(zero.end_logits, reference.end_logits, atol=1e-5)
    assert zero.layer_tokens.eq(inputs["input_ids"].shape[1]).all()


def test_threshold_one_keeps_only_question_and_special_tokens(tokenizer):
    model = tiny_model()
    inputs = encode(tokenizer)
    with torch.no_grad():
        out = model(**inputs, threshold=1.0, output_attentions=True)
    frame = (inputs["token_type_ids"][0] == 0).sum().item() + 1  # [CLS] question [SEP] + final [SEP]
    assert out.layer_tokens[0, 0] == inputs["input_ids"].shape[1]
    assert out.layer_tokens[0, 1:].eq(frame).all()
    survivors = out.positions[-1][0].tolist()
    types = inputs["token_type_ids"][0].tolist()
    assert all(types[p] == 0 or p == len(types) - 1 for p in survivors)
    # With nothing left in the passage there is no span to give: every logit outside the frame is -inf.
    assert torch.isinf(out.start_logits[0, inputs["token_type_ids"][0] == 1][:-1]).all()


def test_dropped_block_never_reappears_and_logits_are_masked(tokenizer):
    model = tiny_model(seed=3)
    inputs = encode(tokenizer, passage=PASSAGE * 3)
    with torch.no_grad():
        out = model(**inputs, threshold=0.5)
    alive = torch.stack(out.alive, 0)[:, 0]  # (layers, nb)
    assert (alive[1:] <= alive[:-1]).all(), "a block came back after being dropped"
    assert (~alive[-1]).any(), "this seed is expected to drop something at 0.5"
    bs = model.config.skim_block_size
    for block in (~alive[-1]).nonzero().flatten().tolist():
        span = slice(block * bs, (block + 1) * bs)
        context = inputs["token_type_ids"][0, span].bool()
        context[-1:] &= span.stop <= inputs["input_ids"].shape[1] - 1  # final [SEP] is never dropped
        assert torch.isinf(out.start_logits[0, span][context]).all()
    # tokens entering each layer only ever shrink
    assert (out.layer_tokens[0, 1:] <= out.layer_tokens[0, :-1]).all()


def test_batched_skimming_matches_one_at_a_time(tokenizer):
    model = tiny_model(seed=3)
    passages = [PASSAGE, PASSAGE * 2]
    batch = tokenizer([QUESTION] * 2, passages, padding=True, return_tensors="pt", return_token_type_ids=True)
    with torch.no_grad():
        together = model(**batch, threshold=0.5)
        for i, passage in enumerate(passages):
            alone = model(**encode(tokenizer, passage=passage), threshold=0.5)
            n = alone.start_logits.shape[1]
            assert torch.allclose(together.start_logits[i, :n], alone.start_logits[0], atol=1e-4, equal_nan=True)
            assert torch.equal(together.alive[-1][i][: alone.alive[-1].shape[1]], alone.alive[-1][0])


def test_diagonal_blocks_view_and_gather_agree():
    probs = torch.rand(2, 3, 20, 20)
    view = diagonal_blocks(probs, None, 8)  # (B, nb, H, bs, bs), padded to 24
    index = torch.arange(24).masked_fill(torch.arange(24) >= 20, -1).expand(2, 24).reshape(2, 3, 8)
    gathered = diagonal_blocks(probs, index, 8)
    assert view.shape == gathered.shape == (2, 3, 3, 8, 8)
    assert torch.equal(view, gathered)
    assert torch.equal(view[1, 1, 2], probs[1, 2, 8:16, 8:16])


def test_skim_labels_mark_the_gold_answer_block():
    # block size 8: an answer on tokens 17..19 sits in block 2; one spanning 15..16 touches blocks 1 and 2.
    labels = skim_labels_from_span(torch.tensor([17, 15, 0]), torch.tensor([19, 16, 0]), num_blocks=4, block_size=8)
    assert labels.tolist() == [[0, 0, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]]


def test_save_and_load_round_trip(tmp_path, tokenizer):
    model = tiny_model(seed=1, skim_layers=[1], skim_threshold=0.2)
    model.save_pretrained(tmp_path)
    loaded = BlockSkimForQuestionAnswering.from_pretrained(tmp_path).eval()
    assert loaded.config.skim_layers == [1] and loaded.config.skim_threshold == 0.2
    assert list(loaded.skim_predictors) == ["1"]
    inputs = encode(tokenizer)
    with torch.no_grad():
        a, b = model(**inputs), loaded(**inputs)
    assert torch.equal(a.start_logits, b.start_logits)
    assert all(torch.equal(x, y) for x, y in zip(a.alive, b.alive))
    assert (tmp_path / "model.safetensors").exists()
