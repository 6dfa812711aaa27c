"""Block-Skim on a Hugging Face encoder (BERT, DistilBERT, ALBERT, ELECTRA, RoBERTa): predictors, joint loss, and
real pruning at inference. What differs between the encoders is in `skim/encoders.py`.

Blocks are the paper's absolute 32-token chunks of the input sequence (block k = positions `k*bs … k*bs+bs-1`).
Every block holding a context token (segment 1 in `token_type_ids`, see `skim.qa.segment_ids`) is scored.
Dropping a block removes its *context* tokens only: [CLS], the question and the separators (the "frame") are
never removed, so the first block, which shares its 32 positions with the question, loses just its passage
part. The original code protects nothing.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import BertPreTrainedModel, PreTrainedConfig
from transformers.utils import ModelOutput

from .config import SkimConfig, skim_config_class
from .encoders import ENCODERS, encoder_for
from .predictors import (
    PREDICTOR_KINDS,
    QuestionPredictor,
    SkimPredictor,
    blocks_to_drop,
    diagonal_blocks,
    passage_row_blocks,
    question_features,
    question_slots,
)
from .qa import InputError

logger = logging.getLogger(__name__)


@dataclass
class SkimQAOutput(ModelOutput):
    """Output of `BlockSkimForQuestionAnswering`.

    Logits are over the *original* positions `(B, L)`; a position removed by skimming has logit `-inf`.
    Per-layer tuples have one entry per Transformer layer:
    `keep_probs[i] (B, nb)` P(keep) of each block scored after layer i (NaN where not scored),
    `alive[i] (B, nb)` blocks still present after layer i's cut, `layer_tokens (B, n_layers)` real tokens
    entering each layer, `attentions[i] (B, H, T_i, T_i)` over the tokens alive at layer i, whose original
    positions are `positions[i] (B, T_i)` (-1 for batch padding).
    """

    loss: torch.Tensor | None = None
    qa_loss: torch.Tensor | None = None
    skim_loss: torch.Tensor | None = None
    start_logits: torch.Tensor | None = None
    end_logits: torch.Tensor | None = None
    keep_probs: tuple[torch.Tensor, ...] | None = None
    alive: tuple[torch.Tensor, ...] | None = None
    layer_tokens: torch.Tensor | None = None
    attentions: tuple[torch.Tensor, ...] | None = None
    positions: tuple[torch.Tensor, ...] | None = None


def skim_labels_from_span(
    start_positions: torch.Tensor, end_positions: torch.Tensor, num_blocks: int, block_size: int
) -> torch.Tensor:
    """Per-block targets `(B, nb)`: 1 when the block holds at least one gold answer token.

    The original code required *two* answer tokens (`sum > 1`), which labels every one-token answer's block
    as skippable; we use ≥ 1, the natural rule. A feature whose answer lies outside it (start = end = 0,
    pointing at [CLS]) has no positive block.
    """
    block_start = torch.arange(num_blocks, device=start_positions.device) * block_size  # (nb,)
    block_end = block_start + block_size - 1
    has_answer = (start_positions > 0)[:, None]
    overlaps = (block_start[None] <= end_positions[:, None]) & (block_end[None] >= start_positions[:, None])
    return (overlaps & has_answer).long()


class BlockSkimForQuestionAnswering(BertPreTrainedModel):
    """Span QA with a Block-Skim predictor after chosen layers, on BERT; the other encoders are its subclasses
    (`skim_model_class`), each with its adapter, config class, base-model name and weight init.

    Training (`model.train()` or `skim=False`) runs at full length and adds the skim loss. With `skim=True`
    (the default in eval mode) blocks whose P(keep) < threshold are gathered out of the hidden states and the
    attention mask, so later layers and the QA head run on fewer tokens.
    """

    config_class = SkimConfig
    config: SkimConfig
    adapter = ENCODERS["bert"]
    has_predictors = True  # False: a plain QA checkpoint, its predictors untrained (set by `skim.load_model`)

    def __init__(self, config: SkimConfig):
        super().__init__(config)
        # The predictors need attention probabilities, which only the eager kernel returns (SDPA gives None).
        self.config._attn_implementation = "eager"
        if config.model_type != self.adapter.model_type:
            raise ValueError(f"a {config.model_type!r} config needs skim_model_class({config.model_type!r})")
        setattr(self, self.base_model_prefix, self.adapter.build(config))  # HF's name: stock checkpoints load as is
        self.qa_outputs = nn.Linear(config.hidden_size, 2)
        kinds = config.predictor_kinds
        unknown = set(kinds) - set(PREDICTOR_KINDS)
        if unknown or config.skim_default_predictor not in kinds:
            raise ValueError(
                f"predictor kinds {kinds} (default {config.skim_default_predictor!r}): "
                f"each must be one of {PREDICTOR_KINDS}, the default among them"
            )
        heads, layers = config.num_attention_heads, config.predictor_layers
        # The paper's kind keeps its original name, so checkpoints from before the question kind load unchanged.
        if "diagonal" in kinds:
            self.skim_predictors = nn.ModuleDict({str(i): SkimPredictor(heads, config.skim_block_size) for i in layers})
        if "question" in kinds:
            self.question_predictors = nn.ModuleDict({str(i): QuestionPredictor(heads) for i in layers})
        self.post_init()

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """Called on `BlockSkimForQuestionAnswering`, loads any supported encoder's checkpoint (Block-Skim or plain
        QA) into the class of its `model_type`; a plain one gets untrained predictors."""
        if cls is BlockSkimForQuestionAnswering:
            config = kwargs.get("config")
            if config is None:
                hub = {k: kwargs[k] for k in ("cache_dir", "local_files_only", "revision", "token") if k in kwargs}
                config = PreTrainedConfig.get_config_dict(str(pretrained_model_name_or_path), **hub)[0]
            model_type = config.get("model_type") if isinstance(config, dict) else config.model_type
            cls = skim_model_class(model_type)
        # Explicit super(): `cls` was just replaced by the architecture's subclass, whose loader must run.
        return super(BlockSkimForQuestionAnswering, cls).from_pretrained(  # noqa: UP008
            pretrained_model_name_or_path, *args, **kwargs
        )

    def embed(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        """Embeddings at the encoder's width `(B, L, D)`."""
        return self.adapter.embed(self.base_model, input_ids, token_type_ids)

    def encoder_layers(self) -> list[nn.Module]:
        return self.adapter.layers(self.base_model)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()  # the generic init sets weight/bias but says nothing about BN buffers

    def check_skim(self, skim: bool) -> None:
        """Without trained predictors (`has_predictors` False), skimming is refused with one line (`InputError`)
        saying how to train some; answering at full length notes it once."""
        if self.has_predictors:
            return
        name = getattr(self, "name_or_path", "") or "this checkpoint"
        how = f"give it predictors: python -m skim train --base {name} --predictors-only --data PATH --output DIR"
        if skim:
            raise InputError(f"{name} has no skim predictors (a plain QA checkpoint): answer with --no-skim, or {how}")
        if not getattr(self, "_noted_no_predictors", False):
            self._noted_no_predictors = True
            logger.warning("note: %s has no skim predictors, so it reads every token; to skim, %s", name, how)

    def check_predictor(self, predictor: str | None) -> str:
        """`predictor` (None: the checkpoint's default) if this checkpoint holds that kind, else `ValueError`."""
        kinds = self.config.predictor_kinds
        predictor = self.config.skim_default_predictor if predictor is None else predictor
        if predictor not in kinds:
            raise ValueError(f"this checkpoint has no {predictor!r} predictors; it holds: {', '.join(kinds)}")
        return predictor

    def _predict(self, kind, i, probs, positions, valid, real, in_context, question, n_slots, scored, cut, dtype):
        """Layer `i`'s `kind` predictor on the scored blocks: logits `(N, 2)` in batch order."""
        bs = self.config.skim_block_size
        batch, num_blocks = scored.shape
        if not bool(scored.any()):
            return torch.zeros(0, 2, device=probs.device)
        if kind == "question":
            row_block = passage_row_blocks(positions, valid, in_context, bs)
            slots = slice(1, 1 + n_slots)  # the question's rows (see `question_slots`)
            features = question_features(probs[:, :, slots, :], probs[:, :, :, slots], question, row_block, scored, bs)
            return self.question_predictors[str(i)](features[scored].to(dtype)).float()
        index = None
        if cut:
            # Current row of every original position; batch padding is scattered into a spare last slot.
            index = torch.full((batch, num_blocks * bs + 1), -1, dtype=torch.long, device=probs.device)
            rows = torch.arange(positions.shape[1], device=probs.device).expand_as(positions)
            index.scatter_(1, positions.masked_fill(~valid, num_blocks * bs), rows)
            index = index[:, :-1].masked_fill(~real, -1).view(batch, num_blocks, bs)
        diag = diagonal_blocks(probs, index, bs, real)  # (B, nb, H, bs, bs)
        return self.skim_predictors[str(i)](diag[scored].to(dtype)).float()

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        start_positions: torch.Tensor | None = None,
        end_positions: torch.Tensor | None = None,
        threshold: float | None = None,
        skim: bool | None = None,
        output_attentions: bool = False,
        skim_layers: list[int] | None = None,
        predictor: str | None = None,
    ) -> SkimQAOutput:
        """`skim_layers`: at inference, skim only after these of the predictor layers (None: all of them).
        `predictor`: the kind that judges ("diagonal" or "question"; None: the checkpoint's default); `keep_probs`
        are its scores. With labels every predictor of every kind is scored and trained, whatever these say."""
        cfg = self.config
        bs = cfg.skim_block_size
        skim = (not self.training) if skim is None else skim
        predictor = self.check_predictor(predictor)
        threshold = cfg.default_threshold(predictor) if threshold is None else threshold
        labelled = start_positions is not None and end_positions is not None
        if not labelled:
            self.check_skim(skim)
        batch, length = input_ids.shape
        device = input_ids.device
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)  # no context segment: nothing is scorable
        num_blocks = math.ceil(length / bs)

        # Static facts about the original sequence, padded to whole blocks.
        real = F.pad(attention_mask.bool(), (0, num_blocks * bs - length))  # (B, nb*bs)
        in_context = F.pad(token_type_ids.bool(), (0, num_blocks * bs - length)) & real
        last_real = attention_mask.sum(1) - 1  # final [SEP]
        frame = attention_mask.bool() & ~token_type_ids.bool()  # [CLS], question, first [SEP]
        frame[torch.arange(batch, device=device), last_real] = True
        block_real = real.view(batch, num_blocks, bs).any(-1)
        n_slots, question = question_slots(attention_mask, token_type_ids, input_ids)
        scorable = in_context.view(batch, num_blocks, bs).any(-1)  # (B, nb) blocks with passage text

        hidden = self.embed(input_ids, token_type_ids)  # (B, L, D)
        positions = torch.arange(length, device=device).expand(batch, length)  # original index of each row
        valid = attention_mask.bool()  # (B, T) real token, not batch padding
        alive = block_real.clone()  # (B, nb)
        cut = False  # has any token been removed yet?

        layer_thresholds = cfg.layer_thresholds(predictor, threshold)
        active = set(cfg.predictor_layers)
        if skim_layers is not None and not labelled:
            active &= set(skim_layers)
        if skim and not labelled and threshold > 0:  # a layer whose own threshold is 0 would drop nothing
            active = {i for i in active if layer_thresholds[i] > 0}
        kinds = cfg.predictor_kinds if labelled else [predictor]
        keep_probs, alive_per_layer, attentions, position_maps, layer_tokens = [], [], [], [], []
        skim_losses = []
        for i, layer in enumerate(self.encoder_layers()):
            layer_tokens.append(valid.sum(1))
            additive_mask = torch.zeros(valid.shape, dtype=hidden.dtype, device=device)
            additive_mask = additive_mask.masked_fill(~valid, torch.finfo(hidden.dtype).min)[:, None, None, :]
            attn_out, probs = self.adapter.attention(layer, hidden, additive_mask)  # probs (B, H, T, T), eager
            if output_attentions:
                attentions.append(probs)
                position_maps.append(positions.masked_fill(~valid, -1))

            block_probs = torch.full((batch, num_blocks), float("nan"), device=device)
            # The full model (skim off, no labels) skips the predictors, so its timing is the plain encoder's.
            if i in active and (skim or labelled):
                scored = scorable & alive  # (B, nb)
                if not labelled:  # an input too short to pay for its predictor is not judged (`skim_min_tokens`)
                    scored &= (valid.sum(1) >= cfg.skim_min_tokens)[:, None]
                for kind in kinds:
                    logits = self._predict(
                        kind, i, probs, positions, valid, real, in_context, question, n_slots, scored, cut, hidden.dtype
                    )  # (N, 2)
                    if kind == predictor:
                        head = self.question_predictors[str(i)] if kind == "question" else None
                        block_probs[scored] = head.keep_score(logits) if head else logits.softmax(-1)[:, 1]
                    if labelled and logits.shape[0]:
                        labels = skim_labels_from_span(start_positions, end_positions, num_blocks, bs)[scored]
                        weight = torch.tensor([1.0, cfg.skim_beta], device=device)
                        skim_losses.append(F.cross_entropy(logits, labels, weight=weight))
                if skim:
                    # Cut between attention and FFN: the FFN is per token, so survivors get the same output as
                    # cutting after the layer (the paper), and dropped tokens cost no FFN work.
                    drop = blocks_to_drop(scored, block_probs, layer_thresholds[i])
                    alive = alive & ~drop
                    token_alive = alive.repeat_interleave(bs, 1).gather(1, positions.masked_fill(~valid, 0))
                    keep = valid & (token_alive | frame.gather(1, positions.masked_fill(~valid, 0)))
                    if not bool(keep.eq(valid).all()):
                        # Physical removal: gather survivors (order kept) and pad to the batch's longest.
                        # Masking alone would save nothing.
                        new_length = int(keep.sum(1).max())
                        order = torch.argsort(keep.int(), dim=1, descending=True, stable=True)[:, :new_length]
                        attn_out = attn_out.gather(1, order[..., None].expand(-1, -1, attn_out.shape[-1]))
                        hidden = hidden.gather(1, order[..., None].expand(-1, -1, hidden.shape[-1]))
                        positions = positions.gather(1, order)
                        valid = keep.gather(1, order)
                        cut = True
            keep_probs.append(block_probs)
            alive_per_layer.append(alive.clone())
            hidden = self.adapter.feed_forward(layer, attn_out)  # (B, T_i, D)

        logits = self.qa_outputs(hidden).float()  # (B, T_last, 2), survivors only
        logits = logits.masked_fill(~valid[..., None], float("-inf"))
        full = torch.full((batch, length + 1, 2), float("-inf"), device=device)  # spare slot for batch padding
        full.scatter_(1, positions.masked_fill(~valid, length)[..., None].expand(-1, -1, 2), logits)
        start_logits, end_logits = full[:, :length, 0], full[:, :length, 1]

        loss = qa_loss = skim_loss = None
        if labelled:
            ignored = length
            qa_loss = (
                F.cross_entropy(start_logits, start_positions.clamp(0, ignored), ignore_index=ignored)
                + F.cross_entropy(end_logits, end_positions.clamp(0, ignored), ignore_index=ignored)
            ) / 2
            skim_loss = torch.stack(skim_losses).sum() if skim_losses else torch.zeros((), device=device)
            loss = qa_loss + cfg.skim_alpha * skim_loss

        return SkimQAOutput(
            loss=loss,
            qa_loss=qa_loss,
            skim_loss=skim_loss,
            start_logits=start_logits,
            end_logits=end_logits,
            keep_probs=tuple(keep_probs),
            alive=tuple(alive_per_layer),
            layer_tokens=torch.stack(layer_tokens, 1),
            attentions=tuple(attentions) if output_attentions else None,
            positions=tuple(position_maps) if output_attentions else None,
        )


def _skim_class(adapter) -> type[BlockSkimForQuestionAnswering]:
    """`BlockSkimForQuestionAnswering` on `adapter`'s encoder. Also subclassing the encoder's own
    `*PreTrainedModel` brings its `_init_weights` (every one calls `super()`, so BERT's, the encoder's and the
    generic one all run; each touches only its own module types), which in transformers 5 also fills the
    non-persistent buffers (position ids) of a model loaded from the meta device."""
    pretrained = adapter.pretrained_class
    name = f"BlockSkim{pretrained.__name__.removesuffix('PreTrainedModel')}ForQuestionAnswering"
    return type(
        name,
        (BlockSkimForQuestionAnswering, pretrained),
        {
            "__module__": __name__,
            "__doc__": f"`BlockSkimForQuestionAnswering` on {adapter.name}.",
            "adapter": adapter,
            "config_class": skim_config_class(adapter.config_class),
            "base_model_prefix": pretrained.base_model_prefix,
        },
    )


SKIM_CLASSES = {t: BlockSkimForQuestionAnswering if t == "bert" else _skim_class(a) for t, a in ENCODERS.items()}


def skim_model_class(model_type: str | None) -> type[BlockSkimForQuestionAnswering]:
    """The Block-Skim model class of a config's `model_type`, or `ValueError` naming the supported ones."""
    encoder_for(model_type)
    return SKIM_CLASSES[model_type]


__all__ = [
    "BlockSkimForQuestionAnswering",
    "QuestionPredictor",
    "SkimPredictor",
    "SkimQAOutput",
    "diagonal_blocks",
    "skim_labels_from_span",
    "skim_model_class",
]
