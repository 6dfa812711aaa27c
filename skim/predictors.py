"""The two kinds of skim predictor, and what each reads from a layer's self-attention.

- `diagonal` (the paper's, `SkimPredictor`): a CNN over the block's own `H×bs×bs` diagonal square of attention.
- `question` (ours, `QuestionPredictor`): an MLP over how the question's tokens attend to the block and the block's
  tokens attend to the question, per head. Our probes showed the diagonal square ranks blocks at chance after the
  first layers, while the question's rows of the same attention map already point at the answer's block.

Both read only the attention probabilities; neither sees an absolute position (a position prior learnt from
SQuAD, where answers sit early, is exactly what makes early predictors fail on long inputs).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

PREDICTOR_KINDS = ("diagonal", "question")
FEATURES_PER_HEAD = 8  # four attention masses, each as a log and centred over the input's blocks
CALIBRATION_POINTS = 65


class SkimPredictor(nn.Module):
    """The paper's CNN over one block's diagonal attention (research brief §1).

    conv3×3 → BN → ReLU → avgpool2 → conv3×3 → BN → ReLU → avgpool2 → linear → 2 logits (skim, keep).
    The original code also defines an unused 1×1 conv; it is left out here.
    """

    def __init__(self, num_heads: int, block_size: int):
        super().__init__()
        if block_size % 4:
            raise ValueError(f"skim_block_size must be a multiple of 4, got {block_size}")
        self.conv1 = nn.Conv2d(num_heads, num_heads, kernel_size=3, padding=1)
        self.norm1 = nn.BatchNorm2d(num_heads)
        self.conv2 = nn.Conv2d(num_heads, num_heads, kernel_size=3, padding=1)
        self.norm2 = nn.BatchNorm2d(num_heads)
        self.pool = nn.AvgPool2d(2)
        self.classifier = nn.Linear(num_heads * (block_size // 4) ** 2, 2)

    def forward(self, blocks: torch.Tensor) -> torch.Tensor:
        """`blocks (N, H, bs, bs)` → logits `(N, 2)`."""
        x = self.pool(F.relu(self.norm1(self.conv1(blocks))))  # (N, H, bs/2, bs/2)
        x = self.pool(F.relu(self.norm2(self.conv2(x))))  # (N, H, bs/4, bs/4)
        return self.classifier(x.flatten(1))


class QuestionPredictor(nn.Module):
    """A block's question↔block attention features (`question_features`) → 2 logits (skim, keep).

    BatchNorm → linear → GELU → linear: the features are logs of attention masses whose scale differs per head and
    per layer, so they are standardised first (an affine map at inference, folded into the first linear).

    `gold_quantiles`: after training, quantiles of the keep-minus-skim logit of held-out *answer* blocks
    (`calibrate`). With them, `keep_score` is the fraction of answer blocks that score lower than this block, so one
    threshold means the same in every layer: at threshold t each layer drops blocks that fewer than a fraction t
    of real answer blocks look like (about t of the answer blocks are lost per skimming layer).
    """

    def __init__(self, num_heads: int, hidden: int = 64):
        super().__init__()
        width = FEATURES_PER_HEAD * num_heads + 1
        self.norm = nn.BatchNorm1d(width)
        self.hidden = nn.Linear(width, hidden)
        self.classifier = nn.Linear(hidden, 2)
        self.register_buffer("gold_quantiles", torch.zeros(CALIBRATION_POINTS))
        self.register_buffer("calibrated", torch.zeros(()))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """`features (N, 8H+1)` → logits `(N, 2)`."""
        if self.training and features.shape[0] < 2:  # batch statistics of one block are undefined: use the running ones
            norm = self.norm
            features = F.batch_norm(features, norm.running_mean, norm.running_var, norm.weight, norm.bias, eps=norm.eps)
        else:
            features = self.norm(features)
        return self.classifier(F.gelu(self.hidden(features)))

    def keep_score(self, logits: torch.Tensor) -> torch.Tensor:
        return calibrated_score(logits, self.gold_quantiles if bool(self.calibrated) else None)

    @torch.no_grad()
    def calibrate(self, gold_logits: torch.Tensor) -> None:
        """Store the quantiles of held-out answer blocks' logits `(N, 2)`."""
        margin = (gold_logits[:, 1] - gold_logits[:, 0]).float()
        levels = torch.linspace(0, 1, CALIBRATION_POINTS, device=margin.device)
        self.gold_quantiles.copy_(torch.quantile(margin, levels))
        self.calibrated.fill_(1.0)


def calibrated_score(logits: torch.Tensor, quantiles: torch.Tensor | None) -> torch.Tensor:
    """P(keep) from `logits (N, 2)`; with `quantiles`, the fraction of answer blocks below each block's logit
    margin (piecewise linear between the stored quantiles, 0 below the lowest, 1 above the highest)."""
    if quantiles is None:
        return logits.float().softmax(-1)[:, 1]
    margin = (logits[:, 1] - logits[:, 0]).float()
    upper = torch.searchsorted(quantiles, margin).clamp(1, len(quantiles) - 1)
    low, high = quantiles[upper - 1], quantiles[upper]
    where = ((margin - low) / (high - low).clamp(min=1e-6)).clamp(0, 1)
    score = (upper - 1 + where) / (len(quantiles) - 1)
    return torch.where(margin <= quantiles[0], 0.0, torch.where(margin >= quantiles[-1], 1.0, score))


def blocks_to_drop(scored: torch.Tensor, keep_probs: torch.Tensor, threshold: float) -> torch.Tensor:
    """The decision rule of both the model's forward and the fast path: of the `scored (B, nb)` blocks, those whose
    `keep_probs` fall below `threshold`; ≥ 1 drops every scored block, 0 none."""
    if threshold >= 1:
        return scored
    if threshold > 0:
        return scored & (keep_probs < threshold)
    return torch.zeros_like(scored)


def question_features(
    to_rows: torch.Tensor,
    from_rows: torch.Tensor,
    question: torch.Tensor,
    row_block: torch.Tensor,
    scored: torch.Tensor,
    block_size: int,
) -> torch.Tensor:
    """What the question-aware predictor reads, for every block: `(B, nb, 8H + 1)`.

    `to_rows (B, H, NQ, T)`: attention of each question token (NQ slots, `question (B, NQ)` True where real) to each
    current row; `from_rows (B, H, T, NQ)`: attention of each row to each question token. `row_block (B, T)`: the
    block of each row that is passage text, `nb` for every other row (question, [CLS], padding). `scored (B, nb)`:
    the blocks to centre over. Per head: the attention mass the question gives the block (mean and max over the
    question's tokens) and the mass the block's tokens give the question (mean and max over the block's tokens),
    each as a log and as that log minus its mean over the input's scored blocks (so that a long passage, which
    spreads attention thinner, reads like a short one); then the block's share of passage tokens.
    """
    if torch.is_autocast_enabled(to_rows.device.type):  # sums of many small masses: float32, whatever autocast says
        with torch.autocast(to_rows.device.type, enabled=False):
            return question_features(to_rows.float(), from_rows.float(), question, row_block, scored, block_size)
    batch = to_rows.shape[0]
    num_blocks = scored.shape[1]
    # Block membership as a one-hot (B, T, nb) matrix: the sums over a block's rows are then matmuls, which beat
    # scatter-adds on these small shapes several times over (rows are not block-aligned once blocks are gone).
    member = F.one_hot(row_block, num_blocks + 1)[..., :num_blocks].to(to_rows.dtype)
    q = question.to(to_rows.dtype)
    mass = torch.matmul(to_rows, member[:, None]) * q[:, None, :, None]  # (B, H, NQ, nb)
    to_mean = mass.sum(2) / q.sum(1).clamp(min=1)[:, None, None]  # (B, H, nb)
    to_max = mass.amax(2)

    # (B, H, T) each row's mass on the question, as (1 × NQ) @ (NQ × T): the fast path's columns are stored that way
    to_question = torch.matmul(q[:, None, None, :], from_rows.transpose(-1, -2)).squeeze(-2)
    tokens = member.sum(1)  # (B, nb) passage tokens per block
    from_mean = torch.matmul(to_question, member) / tokens.clamp(min=1)[:, None]
    # The max over a block's rows as a dense product, reduced over its last, contiguous dimension (`amax` over an
    # inner one, or a scatter, was the slowest op here); masses are ≥ 0, so a block without rows gets 0.
    from_max = (to_question[:, :, None, :] * member.transpose(1, 2).contiguous()[:, None]).amax(-1)

    logs = torch.stack([to_mean, to_max, from_mean, from_max], -1).clamp(min=1e-6).log()  # (B, H, nb, 4)
    weight = scored[:, None, :, None].to(logs.dtype)
    centre = (logs * weight).sum(2, keepdim=True) / weight.sum(2, keepdim=True).clamp(min=1)
    per_head = torch.cat([logs, logs - centre], -1).permute(0, 2, 1, 3).reshape(batch, num_blocks, -1)  # (B, nb, 8H)
    return torch.cat([per_head, (tokens / block_size)[..., None]], -1)


def question_slots(
    attention_mask: torch.Tensor, token_type_ids: torch.Tensor, input_ids: torch.Tensor | None = None
) -> tuple[int, torch.Tensor]:
    """The question's tokens are rows 1 … NQ of every layer's input ([CLS] is row 0; no frame token is ever
    dropped, and survivors keep their order). Returns NQ (the batch's longest question) and `(B, NQ)` True
    where slot j is a real question token of that example.

    Segment 0 is [CLS], the question and the separators between it and the passage: one for BERT-style
    tokenizers, two for RoBERTa's (`<s> q </s></s> p </s>`). With `input_ids` those separators are counted,
    tokenizer-independently, as the segment-0 tokens equal to the sequence's closing one; without, one."""
    frame = attention_mask.bool() & ~token_type_ids.bool()
    if input_ids is None:
        separators = 1
    else:
        closing = input_ids.gather(1, (attention_mask.sum(1, keepdim=True) - 1).clamp(min=0))  # (B, 1)
        separators = (frame & (input_ids == closing)).sum(1).clamp(min=1)
    n_question = (frame.sum(1) - 1 - separators).clamp(min=0)  # less [CLS] and the separators after the question
    slots = max(int(n_question.max()), 1)
    return slots, torch.arange(slots, device=attention_mask.device)[None] < n_question[:, None]


def passage_row_blocks(
    positions: torch.Tensor, valid: torch.Tensor, in_context: torch.Tensor, block_size: int
) -> torch.Tensor:
    """`(B, T)` block of each current row that is passage text (`in_context (B, nb*bs)` by original position),
    `nb` for the others."""
    num_blocks = in_context.shape[1] // block_size
    safe = positions.masked_fill(~valid, 0)
    passage = valid & in_context.gather(1, safe)
    return torch.where(passage, safe // block_size, num_blocks)


def diagonal_blocks(
    probs: torch.Tensor, index: torch.Tensor | None, block_size: int, real: torch.Tensor | None = None
) -> torch.Tensor:
    """Cut each block's self-attention square out of an attention map.

    `probs (B, H, T, T)`. `index (B, nb, bs)` is the current row of every original token (-1 if gone), or `None`
    before any cut, when rows are still original positions. Returns `(B, nb, H, bs, bs)`, zero where a row or
    column is gone or is batch padding (`real (B, nb*bs)` False: a padding row's softmax is not zero, and a
    predictor must not see it, nor can it at batch size 1). After a cut it indexes by original position.
    """
    batch, heads, length, _ = probs.shape
    if index is None:  # no cut yet: a strided view of the padded map, no gather (the cheap path in training)
        num_blocks = math.ceil(length / block_size)
        pad = num_blocks * block_size - length
        padded = F.pad(probs, (0, pad, 0, pad)) if pad else probs
        grid = padded.view(batch, heads, num_blocks, block_size, num_blocks, block_size)
        diag = grid.diagonal(dim1=2, dim2=4).permute(0, 4, 1, 2, 3)  # (B, nb, H, bs, bs)
        if real is None:
            return diag
        present = real.view(batch, num_blocks, 1, block_size)
        return diag * (present[..., :, None] & present[..., None, :])
    _, num_blocks, block_size = index.shape
    present = index >= 0
    safe = index.clamp(min=0)
    rows = probs.gather(2, safe.view(batch, 1, num_blocks * block_size, 1).expand(-1, heads, -1, length))
    rows = rows.view(batch, heads, num_blocks, block_size, length)
    cols = safe.view(batch, 1, num_blocks, 1, block_size).expand(-1, heads, -1, block_size, -1)
    diag = rows.gather(4, cols)  # (B, H, nb, bs, bs)
    keep = present[:, None, :, :, None] & present[:, None, :, None, :]
    return (diag * keep).transpose(1, 2)
