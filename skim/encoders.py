"""What differs between the encoders Block-Skim runs on: one small adapter per architecture.

Every supported encoder has the same shape: embeddings, then per layer a self-attention sub-block that can hand
back its probabilities, followed by a per-token feed-forward sub-block. `BlockSkimForQuestionAnswering` and the
fast path (`skim/fast.py`) are written once over that shape; an adapter says, for its architecture, how to

- build the Hugging Face base model under its own attribute name (`bert`, `distilbert`, `albert`, `electra`,
  `roberta`), so stock `*ForQuestionAnswering` checkpoints load key for key, `qa_outputs` included;
- `embed(base, input_ids, token_type_ids)`: embeddings at the encoder's width (ALBERT and ELECTRA project a
  narrower embedding up; DistilBERT and RoBERTa have no token types, and RoBERTa counts positions from
  `padding_idx + 1`, which its own embeddings module does from the input ids);
- `layers(base)`: the layers in order (ALBERT: its one shared layer, once per depth);
- `attention(layer, hidden, additive_mask) -> (attn_out, probs)` and `feed_forward(layer, attn_out)`: the two
  halves of a layer, residuals and layer norms included;
- `fast_weights(layer)`: the same layer as plain weights for the fast path (`LayerWeights`).

`token_type_ids` is also the question/passage segment mask (1 on the passage and the final separator, as BERT's
segment B; see `skim.qa.segment_ids`): encoders without token types read it only for that and never embed it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from transformers import (
    AlbertConfig,
    AlbertModel,
    AlbertPreTrainedModel,
    BertConfig,
    BertModel,
    BertPreTrainedModel,
    DistilBertConfig,
    DistilBertModel,
    DistilBertPreTrainedModel,
    ElectraConfig,
    ElectraModel,
    ElectraPreTrainedModel,
    PreTrainedModel,
    RobertaConfig,
    RobertaModel,
    RobertaPreTrainedModel,
)

Pair = tuple[torch.Tensor, torch.Tensor]  # a linear layer's (weight, bias)


@dataclass
class LayerWeights:
    """One layer for the fast path: `attn_norm(attn_out(attention(qkv(x))) + x)`, then
    `ffn_norm(ffn_out(act(ffn_in(h))) + h)`. Q, K and V are fused into one `(3D, D)` matmul."""

    qkv: Pair
    attn_out: Pair
    attn_norm: nn.LayerNorm
    ffn_in: Pair
    act: Callable[[torch.Tensor], torch.Tensor]
    ffn_out: Pair
    ffn_norm: nn.LayerNorm


def _pair(linear: nn.Linear) -> Pair:
    return linear.weight, linear.bias


def _fused(q: nn.Linear, k: nn.Linear, v: nn.Linear) -> Pair:
    return torch.cat([q.weight, k.weight, v.weight]), torch.cat([q.bias, k.bias, v.bias])


class BertAdapter:
    """BERT (MiniLM included): the reference shape the others are told apart from."""

    model_type = "bert"
    name = "BERT"
    token_types = True  # does the encoder embed token types? (Hugging Face's own model must not get them if not)
    config_class: type = BertConfig
    pretrained_class: type[PreTrainedModel] = BertPreTrainedModel

    def build(self, config) -> nn.Module:
        return BertModel(config, add_pooling_layer=False)

    def embed(self, base: nn.Module, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        return base.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)

    def layers(self, base: nn.Module) -> list[nn.Module]:
        return list(base.encoder.layer)

    def attention(self, layer, hidden: torch.Tensor, additive_mask: torch.Tensor) -> Pair:
        return layer.attention(hidden, additive_mask)

    def feed_forward(self, layer, attn_out: torch.Tensor) -> torch.Tensor:
        return layer.feed_forward_chunk(attn_out)

    def fast_weights(self, layer) -> LayerWeights:
        attn = layer.attention
        return LayerWeights(
            qkv=_fused(attn.self.query, attn.self.key, attn.self.value),
            attn_out=_pair(attn.output.dense),
            attn_norm=attn.output.LayerNorm,
            ffn_in=_pair(layer.intermediate.dense),
            act=layer.intermediate.intermediate_act_fn,
            ffn_out=_pair(layer.output.dense),
            ffn_norm=layer.output.LayerNorm,
        )


class RobertaAdapter(BertAdapter):
    """BERT's layers; no token types (a one-row type table), positions from `padding_idx + 1`."""

    model_type = "roberta"
    name = "RoBERTa"
    token_types = False  # a one-row type table: segment 1 would be out of range
    config_class = RobertaConfig
    pretrained_class = RobertaPreTrainedModel

    def build(self, config) -> nn.Module:
        return RobertaModel(config, add_pooling_layer=False)

    def embed(self, base: nn.Module, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        # RobertaEmbeddings numbers the non-padding tokens from padding_idx + 1, as fairseq did; the segment mask
        # must not reach its one-row token-type table.
        return base.embeddings(input_ids=input_ids)


class ElectraAdapter(BertAdapter):
    """BERT's layers after a narrower embedding projected up (`embeddings_project`, when the widths differ)."""

    model_type = "electra"
    name = "ELECTRA"
    config_class = ElectraConfig
    pretrained_class = ElectraPreTrainedModel

    def build(self, config) -> nn.Module:
        return ElectraModel(config)

    def embed(self, base: nn.Module, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        hidden = base.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)  # (B, L, E)
        return base.embeddings_project(hidden) if hasattr(base, "embeddings_project") else hidden  # (B, L, D)


class DistilBertAdapter:
    """No token types; attention and FFN sub-blocks under DistilBERT's own names."""

    model_type = "distilbert"
    name = "DistilBERT"
    token_types = False
    config_class = DistilBertConfig
    pretrained_class = DistilBertPreTrainedModel

    def build(self, config) -> nn.Module:
        return DistilBertModel(config)

    def embed(self, base: nn.Module, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        return base.embeddings(input_ids)

    def layers(self, base: nn.Module) -> list[nn.Module]:
        return list(base.transformer.layer)

    def attention(self, layer, hidden: torch.Tensor, additive_mask: torch.Tensor) -> Pair:
        attn_out, probs = layer.attention(hidden, attention_mask=additive_mask)  # out_lin applied, no residual
        return layer.sa_layer_norm(attn_out + hidden), probs

    def feed_forward(self, layer, attn_out: torch.Tensor) -> torch.Tensor:
        return layer.output_layer_norm(layer.ffn(attn_out) + attn_out)

    def fast_weights(self, layer) -> LayerWeights:
        attn = layer.attention
        return LayerWeights(
            qkv=_fused(attn.q_lin, attn.k_lin, attn.v_lin),
            attn_out=_pair(attn.out_lin),
            attn_norm=layer.sa_layer_norm,
            ffn_in=_pair(layer.ffn.lin1),
            act=layer.ffn.activation,
            ffn_out=_pair(layer.ffn.lin2),
            ffn_norm=layer.output_layer_norm,
        )


class AlbertAdapter:
    """One set of layer weights shared by every depth (per group, with `num_hidden_groups` > 1), after an
    embedding projected up (`embedding_hidden_mapping_in`). Only one layer per group is supported
    (`inner_group_num` 1, as in every released ALBERT): with more, a "layer" would not be one attention."""

    model_type = "albert"
    name = "ALBERT"
    token_types = True
    config_class = AlbertConfig
    pretrained_class = AlbertPreTrainedModel

    def build(self, config) -> nn.Module:
        if config.inner_group_num != 1:
            raise ValueError(f"ALBERT with inner_group_num={config.inner_group_num} is not supported (only 1)")
        return AlbertModel(config, add_pooling_layer=False)

    def embed(self, base: nn.Module, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        hidden = base.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)  # (B, L, E)
        return base.encoder.embedding_hidden_mapping_in(hidden)  # (B, L, D)

    def layers(self, base: nn.Module) -> list[nn.Module]:
        depth, groups = base.config.num_hidden_layers, base.config.num_hidden_groups
        # the same group index as AlbertTransformer.forward
        return [base.encoder.albert_layer_groups[int(i / (depth / groups))].albert_layers[0] for i in range(depth)]

    def attention(self, layer, hidden: torch.Tensor, additive_mask: torch.Tensor) -> Pair:
        return layer.attention(hidden, additive_mask)  # dense, residual and LayerNorm included

    def feed_forward(self, layer, attn_out: torch.Tensor) -> torch.Tensor:
        return layer.full_layer_layer_norm(layer.ff_chunk(attn_out) + attn_out)

    def fast_weights(self, layer) -> LayerWeights:
        attn = layer.attention
        return LayerWeights(
            qkv=_fused(attn.query, attn.key, attn.value),
            attn_out=_pair(attn.dense),
            attn_norm=attn.LayerNorm,
            ffn_in=_pair(layer.ffn),
            act=layer.activation,
            ffn_out=_pair(layer.ffn_output),
            ffn_norm=layer.full_layer_layer_norm,
        )


ENCODERS = {
    e.model_type: e for e in (BertAdapter(), DistilBertAdapter(), AlbertAdapter(), ElectraAdapter(), RobertaAdapter())
}
EncoderAdapter = BertAdapter | DistilBertAdapter | AlbertAdapter  # what every adapter provides (see the module doc)
SUPPORTED = ", ".join(f"{t} ({e.name})" for t, e in ENCODERS.items())


def encoder_for(model_type: str | None) -> EncoderAdapter:
    """The adapter of `model_type` (a config's `model_type`), or `ValueError` naming what is supported."""
    if model_type not in ENCODERS:
        raise ValueError(f"unsupported architecture {model_type!r}; supported: {SUPPORTED}")
    return ENCODERS[model_type]


__all__ = ["ENCODERS", "SUPPORTED", "EncoderAdapter", "LayerWeights", "encoder_for"]
