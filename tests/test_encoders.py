"""Block-Skim on every supported encoder: BERT, DistilBERT, ALBERT, ELECTRA and RoBERTa, tiny and random.

Each architecture gets a plain Hugging Face `*ForQuestionAnswering` checkpoint and a Block-Skim one, both saved by
`save_pretrained` as a user would have them. BERT-style tokenizers come from the offline MiniLM; RoBERTa's is a
tiny byte-level BPE trained here.
"""

from __future__ import annotations

import json
import logging
import socket
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    AlbertConfig,
    AutoModelForQuestionAnswering,
    BertConfig,
    DistilBertConfig,
    ElectraConfig,
    RobertaConfig,
    RobertaTokenizerFast,
)

from skim import BlockSkimForQuestionAnswering, Reader, load_model
from skim.cli import main
from skim.encoders import ENCODERS
from skim.fast import FastSkimReader
from skim.modeling import skim_model_class
from skim.qa import InputError, segment_ids
from skim.train import train
from tests.test_train import PARAGRAPHS, config

ARCHS = ["bert", "distilbert", "albert", "electra", "roberta"]
TOKEN_TYPES = {"bert", "albert", "electra"}  # the encoders that embed token types
assert TOKEN_TYPES == {t for t, adapter in ENCODERS.items() if adapter.token_types}
QUESTION = "When did Marie Curie win the Nobel Prize in Physics?"
PASSAGE = " ".join(PARAGRAPHS) + " Marie Curie was born in Warsaw. She studied in Paris and worked there. " * 3
SKIM = dict(skim_block_size=8, skim_predictor_kinds=["diagonal", "question"])


def encoder_config(model_type: str, vocab_size: int, skim: bool):
    """A tiny config of `model_type`: 2 layers (ALBERT: 3 sharing one layer), width 32, 2 heads, no dropout."""
    bert_like = dict(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    settings, base = {
        "bert": (bert_like, BertConfig),
        "distilbert": (
            dict(dim=32, n_layers=2, n_heads=2, hidden_dim=64, dropout=0.0, attention_dropout=0.0),
            DistilBertConfig,
        ),
        "albert": ({**bert_like, "num_hidden_layers": 3, "embedding_size": 16}, AlbertConfig),
        "electra": ({**bert_like, "embedding_size": 16}, ElectraConfig),
        "roberta": (
            {**bert_like, "max_position_embeddings": 514, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2},
            RobertaConfig,
        ),
    }[model_type]
    settings = {"vocab_size": vocab_size, **settings}
    if skim:
        return skim_model_class(model_type).config_class(**settings, **SKIM)
    return base(**settings)


def roberta_tokenizer() -> RobertaTokenizerFast:
    """A byte-level BPE with RoBERTa's special tokens and `<s> A </s></s> B </s>` pairs, trained on the test text."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=500,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator([PASSAGE, QUESTION, *PARAGRAPHS] * 3, trainer)
    bpe.post_processor = processors.RobertaProcessing(
        ("</s>", 2), ("<s>", 0), trim_offsets=True, add_prefix_space=False
    )
    return RobertaTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
    )


def sharpen(model: BlockSkimForQuestionAnswering) -> BlockSkimForQuestionAnswering:
    """As `tests.conftest.tiny_model`: sharper attention and amplified predictors, so that blocks differ."""
    with torch.no_grad():
        for name, module in model.base_model.named_modules():  # a shared ALBERT layer is listed once
            if name.endswith(("query", "key", "q_lin", "k_lin")):
                module.weight.mul_(20)
        for predictor in model.skim_predictors.values():
            predictor.norm1.running_var.fill_(1e-4)
            predictor.norm2.running_var.fill_(1e-4)
            predictor.classifier.weight.mul_(50)
        for predictor in model.question_predictors.values():
            predictor.classifier.weight.mul_(20)
    return model


@dataclass
class Encoder:
    model_type: str
    tokenizer: object
    plain: Path  # a stock `*ForQuestionAnswering` checkpoint
    skim: Path  # a Block-Skim checkpoint of the same architecture


@pytest.fixture(scope="module")
def bpe_tokenizer():
    return roberta_tokenizer()


@pytest.fixture(scope="module", params=ARCHS)
def encoder(request, tmp_path_factory, tokenizer, bpe_tokenizer) -> Encoder:
    model_type = request.param
    tok = bpe_tokenizer if model_type == "roberta" else tokenizer
    root = tmp_path_factory.mktemp(model_type)
    torch.manual_seed(0)
    plain = AutoModelForQuestionAnswering.from_config(encoder_config(model_type, len(tok), skim=False))
    plain.save_pretrained(root / "plain")
    torch.manual_seed(0)
    model = skim_model_class(model_type)(encoder_config(model_type, len(tok), skim=True)).eval()
    sharpen(model).save_pretrained(root / "skim")
    for path in ("plain", "skim"):
        tok.save_pretrained(root / path)
    return Encoder(model_type, tok, root / "plain", root / "skim")


def batch(encoder: Encoder) -> tuple[dict, dict]:
    """A padded batch of two, as our model reads it (segment mask) and as Hugging Face's does (its own inputs)."""
    tok = encoder.tokenizer
    encoded = tok(
        [QUESTION, "Where was she born?"],
        [PASSAGE, PARAGRAPHS[0]],
        padding=True,
        return_tensors="pt",
        return_token_type_ids=encoder.model_type in TOKEN_TYPES,
    )
    segments = torch.tensor([segment_ids(encoded.sequence_ids(i)) for i in range(2)])
    ours = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"], "token_type_ids": segments}
    if encoder.model_type in TOKEN_TYPES:  # for BERT-style tokenizers the segment mask is their token type ids
        assert torch.equal(segments, encoded["token_type_ids"])
    theirs = {k: v for k, v in encoded.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
    return ours, theirs


def test_segment_mask_marks_the_passage_and_its_closing_separator(bpe_tokenizer):
    encoded = bpe_tokenizer("Where?", "In Warsaw.")  # <s> question </s> </s> passage </s>, token types all 0
    sequence = encoded.sequence_ids()
    assert sequence[-1] is None and sequence.count(None) == 4
    assert segment_ids(sequence) == [int(s == 1) for s in sequence[:-1]] + [1]
    assert segment_ids([None, 0, None]) == [0, 0, 0]


@pytest.mark.parametrize("which", ["plain", "skim"])
def test_threshold_zero_gives_hugging_faces_logits(encoder, which):
    path = getattr(encoder, which)
    ours = BlockSkimForQuestionAnswering.from_pretrained(path).eval()
    hf = AutoModelForQuestionAnswering.from_pretrained(path).eval()
    assert type(ours) is skim_model_class(encoder.model_type)
    assert ours.base_model_prefix == encoder.model_type and hasattr(ours, encoder.model_type)
    inputs, hf_inputs = batch(encoder)
    with torch.no_grad():
        zero = ours(**inputs, threshold=0.0)
        full = ours(**inputs, skim=False)
        reference = hf(**hf_inputs)
    real = inputs["attention_mask"].bool()
    assert torch.equal(zero.start_logits, full.start_logits) and torch.equal(zero.end_logits, full.end_logits)
    assert torch.allclose(zero.start_logits[real], reference.start_logits[real], atol=1e-5)
    assert torch.allclose(zero.end_logits[real], reference.end_logits[real], atol=1e-5)


def test_skimming_physically_removes_blocks(encoder):
    model = BlockSkimForQuestionAnswering.from_pretrained(encoder.skim).eval()
    inputs, _ = batch(encoder)
    one = {k: v[:1] for k, v in inputs.items()}
    length = one["input_ids"].shape[1]
    with torch.no_grad():
        out = model(**one, threshold=1.0, output_attentions=True)
    frame = int((one["token_type_ids"][0] == 0).sum()) + 1  # everything but the passage, and its closing separator
    assert out.layer_tokens[0].tolist() == [length] + [frame] * (model.config.num_hidden_layers - 1)
    assert out.attentions[0].shape[-1] == length and out.attentions[-1].shape[-1] == frame  # rows really gone
    passage = one["token_type_ids"][0].bool()
    passage[-1] = False  # the closing separator stays
    assert torch.isinf(out.start_logits[0, passage]).all() and torch.isfinite(out.start_logits[0, ~passage]).all()


@pytest.mark.parametrize("predictor", ["diagonal", "question"])
@pytest.mark.parametrize("threshold", [0.0, 0.5, 1.0])
def test_fast_path_matches_the_models_forward(encoder, predictor, threshold):
    model = BlockSkimForQuestionAnswering.from_pretrained(encoder.skim).eval()
    fast = FastSkimReader(model, predictor=predictor)
    if encoder.model_type == "albert":  # one shared layer, fused once
        assert len({id(layer) for layer in fast.layers}) == 1 and len(fast.layers) == 3
    inputs, _ = batch(encoder)
    for rows in ([0], [0, 1]):  # batch of one (no mask) and a padded batch
        part = {k: v[rows] for k, v in inputs.items()}
        with torch.no_grad():
            slow = model(**part, threshold=threshold, skim=True, predictor=predictor)
        quick = fast(**part, threshold=threshold)
        for a, b in zip(slow.alive, quick.alive):
            assert torch.equal(a, b)
        for a, b in zip(slow.keep_probs, quick.keep_probs):
            assert torch.allclose(a, b, atol=1e-5, equal_nan=True)
        assert torch.equal(slow.layer_tokens, quick.layer_tokens)
        assert torch.equal(torch.isfinite(slow.start_logits), torch.isfinite(quick.start_logits))
        assert torch.allclose(slow.start_logits, quick.start_logits, atol=1e-5)
        assert torch.allclose(slow.end_logits, quick.end_logits, atol=1e-5)
        if threshold == 1.0:
            assert bool((quick.layer_tokens[:, -1] < part["attention_mask"].sum(1)).all())


def test_predictors_only_training_gives_a_plain_checkpoint_predictors_that_skim(encoder, tmp_path):
    from safetensors.torch import load_file

    output = train(
        config(tmp_path, encoder.plain, max_steps=2, predictors_only=True, predictor_kinds=["diagonal", "question"])
    )
    before, after = load_file(encoder.plain / "model.safetensors"), load_file(output / "model.safetensors")
    assert all(torch.equal(after[k], before[k].to(after[k].dtype)) for k in before)  # the encoder and head: frozen
    assert {k.split(".")[0] for k in after} - {k.split(".")[0] for k in before} == {
        "skim_predictors",
        "question_predictors",
    }
    assert json.loads((output / "config.json").read_text())["model_type"] == encoder.model_type
    model, tokenizer = load_model(output)
    assert model.has_predictors and type(model) is skim_model_class(encoder.model_type)
    trace = Reader(model, tokenizer)(QUESTION, PASSAGE, threshold=1.0, attention="none")
    assert trace.kept_fraction < 1 and any(layer.dropped_blocks for layer in trace.layers)


def answer_json(capsys, path: Path, *flags: str) -> tuple[int, dict | None, str]:
    code = main(["answer", "--model", str(path), "--question", QUESTION, "--context", PASSAGE, "--json", *flags])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out else None, err


def test_cli_answers_with_exact_offsets(encoder, capsys):
    code, record, _ = answer_json(capsys, encoder.skim)  # the model's own threshold
    assert code == 0 and record["answer"]
    assert PASSAGE[record["start_char"] : record["end_char"]] == record["answer"] == record["answer"].strip()
    reader = Reader.from_pretrained(encoder.skim)
    window = reader.windows(QUESTION, PASSAGE)[2][0]
    token_starts = {o[0] for o in window.offsets if o is not None}
    token_ends = {o[1] for o in window.offsets if o is not None}
    assert record["start_char"] in token_starts and record["end_char"] in token_ends  # on token boundaries
    traced = reader(QUESTION, PASSAGE, attention="heads")  # the app's path: the model's forward, attention kept
    assert (traced.answer.start_char, traced.answer.end_char) == (record["start_char"], record["end_char"])
    assert traced.attention and traced.kept_fraction == record["kept_fraction"]


def test_a_plain_checkpoint_answers_without_skimming_and_refuses_to_skim(encoder, capsys, caplog):
    with caplog.at_level(logging.WARNING):
        code, record, err = answer_json(capsys, encoder.plain, "--no-skim")
    assert code == 0 and record["kept_fraction"] == 1.0
    assert PASSAGE[record["start_char"] : record["end_char"]] == record["answer"]
    notes = [r.getMessage() for r in caplog.records if "no skim predictors" in r.getMessage()]
    assert len(notes) == 1 and "--predictors-only" in notes[0] and "\n" not in notes[0]
    code, record, err = answer_json(capsys, encoder.plain)
    assert code == 2 and record is None
    assert err.count("\n") == 1 and err.startswith("error: ") and "no skim predictors" in err and "--no-skim" in err


def test_a_hub_name_with_the_network_blocked_is_one_line(capsys, monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network blocked in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    code = main(
        ["answer", "--model", "someone/tiny-distilbert-squad", "--question", "Who?", "--context", "Me.", "--no-skim"]
    )
    out, err = capsys.readouterr()
    assert code == 2 and not out
    assert err.count("\n") == 1 and "someone/tiny-distilbert-squad" in err and "hub" in err


@pytest.mark.parametrize("model_type", ["gpt2", "t5"])
def test_other_architectures_are_refused_naming_the_supported_ones(tmp_path, model_type):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": model_type}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    supported = ".*".join(ENCODERS)
    with pytest.raises(InputError, match=f"unsupported architecture '{model_type}'.*{supported}"):
        load_model(tmp_path)


@pytest.fixture
def app_on_tiny_bert(tiny_model_dir, monkeypatch):
    from tests.app_driver import app_on_model

    yield from app_on_model(tiny_model_dir, monkeypatch)  # the app's default model: the tiny BERT


def test_a_plain_checkpoint_given_predictors_opens_in_the_app_beside_the_default(encoder, tmp_path, app_on_tiny_bert):
    from tests.app_driver import run_app

    output = train(config(tmp_path, encoder.plain, max_steps=2, predictors_only=True))
    at = run_app(threshold="0.5")
    at.text_input(key="checkpoint").input(str(output)).run()
    assert not at.exception and not at.error
    table = next(d.value for d in at.dataframe if "checkpoint" in d.value.columns).set_index("")
    theirs = Reader.from_pretrained(output)(at.session_state["question"], at.session_state["passage"], threshold=0.5)
    assert table.loc["answer", "checkpoint"] == theirs.answer.text


def test_question_slots_are_exactly_the_questions_tokens(encoder):
    """RoBERTa puts two separators between question and passage: neither is a question slot."""
    from skim.predictors import question_slots

    ours, _ = batch(encoder)
    n_slots, question = question_slots(ours["attention_mask"], ours["token_type_ids"], ours["input_ids"])
    lengths = [
        len(encoder.tokenizer(q, add_special_tokens=False)["input_ids"]) for q in (QUESTION, "Where was she born?")
    ]
    assert n_slots == max(lengths) and question.sum(1).tolist() == lengths
    assert question[0].all() and not question[1, lengths[1] :].any()


@pytest.mark.parametrize("kind", ["diagonal", "question"])
def test_bench_runs_hugging_faces_baseline_on_every_encoder(encoder, tmp_path, capsys, kind):
    """RoBERTa's one-row type table and DistilBERT's forward must not be given the segment mask as token types."""
    if encoder.model_type not in ("roberta", "distilbert"):
        pytest.skip("the encoders without token types")
    from tests.test_predictor_cli import squad_file

    path = encoder.skim
    if encoder.model_type == "roberta":  # as roberta-base: a one-row token-type table
        cfg = encoder_config("roberta", len(encoder.tokenizer), skim=True)
        cfg.type_vocab_size = 1
        torch.manual_seed(0)
        path = tmp_path / "one-type"
        sharpen(skim_model_class("roberta")(cfg).eval()).save_pretrained(path)
        encoder.tokenizer.save_pretrained(path)
    data = squad_file(tmp_path, articles=1, paragraphs=3)
    code = main(
        [
            "bench",
            "--model",
            str(path),
            "--data",
            str(data),
            "--seq-len",
            "128",
            "--n",
            "1",
            "--repeats",
            "1",
            "--predictor",
            kind,
            "--json",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    assert result["predictor"] == kind and result["hf_ms"] > 0 and 0 <= result["f1_hf"] <= 100


def test_a_plain_checkpoint_to_compare_with_answers_at_full_length_with_a_note(encoder, app_on_tiny_bert):
    if encoder.model_type != "bert":
        pytest.skip("one encoder is enough for the app")
    from tests.app_driver import run_app

    at = run_app(threshold="0.5")
    at.text_input(key="checkpoint").input(str(encoder.plain)).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    table = next(d.value for d in at.dataframe if "checkpoint" in d.value.columns).set_index("")
    theirs = Reader.from_pretrained(encoder.plain)(
        at.session_state["question"], at.session_state["passage"], skim=False
    )
    assert table.loc["answer", "checkpoint"] == theirs.answer.text
    assert table.loc["kept fraction", "checkpoint"] == "1.000"
    notes = [c.value for c in at.caption if "no skim predictors" in c.value]
    assert len(notes) == 1 and "\n" not in notes[0]
