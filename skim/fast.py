"""The inference fast path: the same skim decisions and logits as `BlockSkimForQuestionAnswering`, without
attention maps, in as few tensor ops per layer as we could make it.

Why a second forward pass: the model's own `forward` needs the full attention probabilities (eager attention),
because training back-propagates through them and the app draws them. Answering needs neither. A predictor
reads only the 32×32 diagonal squares of the attention map, and a square's probabilities are
`exp(q_i·k_j·scale − logsumexp_i)`: with the row log-sum-exp that PyTorch's CPU flash-attention kernel returns
anyway, the squares cost `blocks × 32 × 32` dot products instead of a full `T × T` softmax. Everything else is
the encoder's layer written out with fused Q/K/V weights and BatchNorm folded into the predictor convolutions.

`tests/test_fast.py` checks that this path and the model's forward agree on kept blocks, P(keep) and logits.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .encoders import LayerWeights
from .fast_predictors import FastDiagonalPredictor, FastQuestionPredictor, passage_positions
from .modeling import BlockSkimForQuestionAnswering, SkimQAOutput
from .predictors import blocks_to_drop, question_slots


class _FastLayer:
    """One encoder layer's weights (`LayerWeights`, from the encoder's adapter), Q/K/V fused into a single matmul."""

    def __init__(self, weights: LayerWeights, num_heads: int):
        self.qkv, self.attn_out, self.attn_norm = weights.qkv, weights.attn_out, weights.attn_norm
        self.ffn_in, self.act = weights.ffn_in, weights.act
        self.ffn_out, self.ffn_norm = weights.ffn_out, weights.ffn_norm
        self.heads = num_heads

    def qkv_heads(self, hidden: torch.Tensor, rows: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        batch, length, width = hidden.shape
        qkv = _on_rows(lambda h: F.linear(h, *self.qkv), rows, hidden).view(batch, length, 3, self.heads, -1)
        return qkv.permute(2, 0, 3, 1, 4).unbind(0)  # 3 × (B, H, T, dh)

    def attention_output(self, context: torch.Tensor, hidden: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
        batch, _, length, _ = context.shape
        merged = context.transpose(1, 2).reshape(batch, length, -1)
        return _on_rows(lambda m, h: self.attn_norm(F.linear(m, *self.attn_out) + h), rows, merged, hidden)

    def feed_forward(self, hidden: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
        return _on_rows(
            lambda h: self.ffn_norm(F.linear(self.act(F.linear(h, *self.ffn_in)), *self.ffn_out) + h), rows, hidden
        )


def _on_rows(fn, rows: torch.Tensor | None, *tensors: torch.Tensor) -> torch.Tensor:
    """Apply a per-token function to the real rows only (`rows (B, T)` True), so that batch padding, which grows
    when examples in a batch keep different numbers of blocks, costs no matmul work. `rows=None`: every row."""
    if rows is None:
        return fn(*tensors)
    out = fn(*(t[rows] for t in tensors))  # (N, D') packed
    return out.new_zeros(*rows.shape, out.shape[-1]).index_put_((rows,), out)


class FastSkimReader:
    """Runs a `BlockSkimForQuestionAnswering` for answers only. Build it once per loaded model (it keeps fused
    copies of the weights); call it like the model with `skim`/`threshold`; returns a `SkimQAOutput` without
    attentions. Batch padding is supported (blocks kept differ per example: survivors are padded to the batch's
    longest)."""

    def __init__(
        self,
        model: BlockSkimForQuestionAnswering,
        pack: bool = True,
        layers: list[int] | None = None,
        predictor: str | None = None,
    ):
        cfg = model.config
        self.kind = model.check_predictor(predictor)  # which kind judges: "diagonal" (the paper's) or "question"
        self.pack = pack  # matmuls on real rows only; False = on the padded batch (for the benchmark's comparison)
        self.model = model
        fused: dict[int, _FastLayer] = {}  # ALBERT applies one layer at every depth: fuse its weights once
        for layer in model.encoder_layers():
            if id(layer) not in fused:
                fused[id(layer)] = _FastLayer(model.adapter.fast_weights(layer), cfg.num_attention_heads)
        self.layers = [fused[id(layer)] for layer in model.encoder_layers()]
        # `layers`: skim only after these layers (default: every layer with a predictor), e.g. to leave out layer
        # 0, whose hidden states have not yet seen the question.
        if self.kind == "question":
            heads, fast = model.question_predictors, lambda p: FastQuestionPredictor(p, cfg.skim_block_size)
        else:
            heads, fast = model.skim_predictors, FastDiagonalPredictor
        self.predictors = {int(i): fast(p) for i, p in heads.items() if layers is None or int(i) in layers}
        self.qa = (model.qa_outputs.weight, model.qa_outputs.bias)
        self.block_size = cfg.skim_block_size
        self.min_tokens = cfg.skim_min_tokens
        self.scale = 1.0 / math.sqrt(cfg.hidden_size // cfg.num_attention_heads)

    @torch.inference_mode()
    def __call__(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        threshold: float | None = None,
        skim: bool = True,
        layers: list[int] | None = None,
    ) -> SkimQAOutput:
        """`layers`: skim only after these of the reader's predictor layers on this call (None: all of them)."""
        self.model.check_skim(skim)
        bs = self.block_size
        predictors = self.predictors if layers is None else {i: p for i, p in self.predictors.items() if i in layers}
        threshold = self.model.config.default_threshold(self.kind) if threshold is None else threshold
        layer_thresholds = self.model.config.layer_thresholds(self.kind, threshold)
        batch, length = input_ids.shape
        device = input_ids.device
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        num_blocks = math.ceil(length / bs)
        padded = num_blocks * bs
        real = F.pad(attention_mask.bool(), (0, padded - length))  # (B, nb*bs)
        scorable = (F.pad(token_type_ids.bool(), (0, padded - length)) & real).view(batch, num_blocks, bs).any(-1)
        frame = attention_mask.bool() & ~token_type_ids.bool()  # never dropped: [CLS], question, [SEP]s
        frame[torch.arange(batch, device=device), attention_mask.sum(1) - 1] = True
        frame = F.pad(frame, (0, padded - length))
        alive = real.view(batch, num_blocks, bs).any(-1)
        in_context = F.pad(token_type_ids.bool(), (0, padded - length)) & real
        n_slots, question = question_slots(attention_mask, token_type_ids, input_ids)

        hidden = self.model.embed(input_ids, token_type_ids)
        positions = torch.arange(length, device=device).expand(batch, length)
        valid = attention_mask.bool()
        all_valid = bool(valid.all())  # no batch padding: attention needs no mask at all
        row_of = None  # (B, nb*bs) current row of each original position once a cut has happened

        keep_probs, alive_per_layer, layer_tokens = [], [], []
        for i, layer in enumerate(self.layers):
            layer_tokens.append(valid.sum(1))
            rows = None if all_valid or not self.pack else valid
            q, k, v = layer.qkv_heads(hidden, rows)
            mask = None if all_valid else valid[:, None, None, :]
            block_probs = torch.full((batch, num_blocks), float("nan"), device=device)
            long_enough = valid.sum(1) >= self.min_tokens  # (B,) inputs that can still pay for a predictor
            # A layer whose own threshold is 0 while skimming drops nothing: its predictor is not worth running.
            judging = (
                skim and i in predictors and bool(long_enough.any()) and (threshold == 0 or layer_thresholds[i] > 0)
            )
            if judging:
                context, lse = attention_with_lse(q, k, v, mask, self.scale)
                scored = scorable & alive & long_enough[:, None]  # see `skim_min_tokens`
                if bool(scored.any()):
                    if predictors[i].reads == "question":
                        to_rows, from_rows = self._question_attention(q, k, lse, n_slots)
                        where = passage_positions(row_of, real, in_context, length)
                        block_probs[scored] = predictors[i].keep_prob(to_rows, from_rows, question, *where, scored)
                    else:
                        squares = self._diagonal_squares(q, k, lse, scored, real, row_of)
                        block_probs[scored] = predictors[i].keep_prob(squares)
            else:
                context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=self.scale)
            attn_out = layer.attention_output(context, hidden, rows)

            if judging and layer_thresholds[i] > 0:
                scored = scorable & alive & long_enough[:, None]
                drop = blocks_to_drop(scored, block_probs, layer_thresholds[i])
                if bool(drop.any()):
                    alive = alive & ~drop
                    safe = positions.masked_fill(~valid, 0)
                    keep = valid & (alive.gather(1, safe // bs) | frame.gather(1, safe))
                    attn_out, positions, valid = _gather_rows(keep, attn_out, positions)
                    all_valid = bool(valid.all())
                    rows = None if all_valid or not self.pack else valid
                    row_of = torch.full((batch, padded + 1), -1, dtype=torch.long, device=device)
                    row_numbers = torch.arange(positions.shape[1], device=device).expand_as(positions)
                    row_of.scatter_(1, positions.masked_fill(~valid, padded), row_numbers)
                    row_of = row_of[:, :-1]
            keep_probs.append(block_probs)
            alive_per_layer.append(alive)
            hidden = layer.feed_forward(attn_out, rows)

        logits = F.linear(hidden, *self.qa).float().masked_fill(~valid[..., None], float("-inf"))
        full = torch.full((batch, length + 1, 2), float("-inf"), device=device)  # spare slot for batch padding
        full.scatter_(1, positions.masked_fill(~valid, length)[..., None].expand(-1, -1, 2), logits)
        return SkimQAOutput(
            start_logits=full[:, :length, 0],
            end_logits=full[:, :length, 1],
            keep_probs=tuple(keep_probs),
            alive=tuple(alive_per_layer),
            layer_tokens=torch.stack(layer_tokens, 1),
        )

    def _question_attention(self, q, k, lse, n_slots: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The question's rows `(B, H, NQ, T)` and columns `(B, H, T, NQ)` of the attention probabilities: the
        question's queries against every key and every query against the question's keys, normalised by the
        kernel's row log-sum-exp. Two thin matmuls, never the T×T map. The question is rows 1 … NQ."""
        batch, heads, length, dim = q.shape
        slots = slice(1, 1 + n_slots)
        # (B·H)-batched, the scale and the log-sum-exp ride in one `baddbmm` each (free views at batch size one).
        q, k = q.reshape(-1, length, dim), k.reshape(-1, length, dim)
        lse = lse.to(q.dtype).reshape(-1, length)  # float32 from the kernel when the weights are half precision
        # Both products put the question on the short side (NQ × T): BLAS runs the T × NQ shape ~3x slower here.
        to_rows = torch.baddbmm(lse[:, slots, None], q[:, slots], k.transpose(1, 2), beta=-1, alpha=self.scale)
        from_cols = torch.baddbmm(lse[:, None, :], k[:, slots], q.transpose(1, 2), beta=-1, alpha=self.scale)
        to_rows, from_cols = to_rows.exp_().view(batch, heads, -1, length), from_cols.exp_()
        return to_rows, from_cols.view(batch, heads, -1, length).transpose(-1, -2)  # columns: a view, no copy

    def _diagonal_squares(self, q, k, lse, scored, real, row_of) -> torch.Tensor:
        """The attention probabilities among each scored block's own positions, `(N, H, bs, bs)` for the N
        scored blocks in batch order, zero for positions that are padding or beyond the sequence."""
        bs = self.block_size
        batch, heads, _, dim = q.shape
        example, block = scored.nonzero(as_tuple=True)  # (N,) each
        present = real.view(batch, -1, bs)[example, block]  # (N, bs)
        if row_of is None:  # no cut yet: block k is rows k*bs… of the (padded) sequence, a view, no gather
            pad = real.shape[1] - q.shape[2]
            if pad:
                q, k, lse = F.pad(q, (0, 0, 0, pad)), F.pad(k, (0, 0, 0, pad)), F.pad(lse, (0, pad))
            q_sq = q.unflatten(2, (-1, bs))[example, :, block]  # (N, H, bs, dh)
            k_sq = k.unflatten(2, (-1, bs))[example, :, block]
            lse_sq = lse.unflatten(2, (-1, bs))[example, :, block]  # (N, H, bs)
        else:
            original = block[:, None] * bs + torch.arange(bs, device=q.device)  # (N, bs) original positions
            rows = row_of[example[:, None], original].clamp(min=0)  # gone rows are masked by `present`
            q_sq = q[example[:, None], :, rows].transpose(1, 2)  # (N, H, bs, dh)
            k_sq = k[example[:, None], :, rows].transpose(1, 2)
            lse_sq = lse[example[:, None], :, rows].transpose(1, 2)  # (N, H, bs)
        scores = torch.matmul(q_sq, k_sq.transpose(-1, -2)) * self.scale - lse_sq[..., None]
        both = present[:, None, :, None] & present[:, None, None, :]
        return scores.exp().masked_fill(~both, 0.0).to(q.dtype)


def attention_with_lse(q, k, v, mask: torch.Tensor | None, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention output `(B, H, T, dh)` and each row's log-sum-exp `(B, H, T)` (the predictors' input). On the CPU
    the flash-attention kernel returns both at once; elsewhere (a GPU running the training's quick eval) the
    scores are formed explicitly, which costs the T×T map that a GPU can afford."""
    additive = None if mask is None else _additive(mask, q.dtype)
    if q.device.type == "cpu":
        return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, attn_mask=additive, scale=scale)
    return explicit_attention_with_lse(q, k, v, additive, scale)


def explicit_attention_with_lse(q, k, v, additive: torch.Tensor | None, scale: float):
    """`attention_with_lse` from the full score map, on any device."""
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale
    if additive is not None:
        scores = scores + additive
    lse = torch.logsumexp(scores.float(), -1)
    return torch.matmul((scores.float() - lse[..., None]).exp().to(v.dtype), v), lse.to(q.dtype)


def _additive(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, torch.finfo(dtype).min)


def _gather_rows(keep: torch.Tensor, hidden: torch.Tensor, positions: torch.Tensor):
    """Physically remove the rows where `keep` is False, survivors in order, padded to the batch's longest."""
    if keep.shape[0] == 1:  # batch of one: no padding, a plain index_select
        index = keep[0].nonzero().squeeze(1)
        return hidden[:, index], positions[:, index], torch.ones(1, index.numel(), dtype=torch.bool, device=keep.device)
    new_length = int(keep.sum(1).max())
    order = torch.argsort(keep.int(), dim=1, descending=True, stable=True)[:, :new_length]
    hidden = hidden.gather(1, order[..., None].expand(-1, -1, hidden.shape[-1]))
    return hidden, positions.gather(1, order), keep.gather(1, order)


__all__ = ["FastSkimReader"]
