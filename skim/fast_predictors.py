"""The two predictor kinds as the fast path runs them: eval-mode modules folded into as few tensor ops as we
could make them, since at 384 tokens a layer takes ~10 ms and a predictor must cost a small fraction of that
(`skim.cost`). Each returns the same P(keep) as its module in `skim.predictors`; `tests/test_fast.py` checks it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .predictors import FEATURES_PER_HEAD, QuestionPredictor, SkimPredictor


def _fold_batchnorm(conv: torch.nn.Conv2d, norm: torch.nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Conv followed by eval-mode BatchNorm is one conv with rescaled weights."""
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    return conv.weight * scale[:, None, None, None], (conv.bias - norm.running_mean) * scale + norm.bias


class FastDiagonalPredictor:
    """`SkimPredictor` (the paper's CNN) in eval mode, BatchNorm folded into the convolutions."""

    reads = "diagonal"

    def __init__(self, predictor: SkimPredictor):
        self.conv1 = _fold_batchnorm(predictor.conv1, predictor.norm1)
        self.conv2 = _fold_batchnorm(predictor.conv2, predictor.norm2)
        self.classifier = (predictor.classifier.weight, predictor.classifier.bias)

    def keep_prob(self, blocks: torch.Tensor) -> torch.Tensor:
        """`blocks (N, H, bs, bs)` → P(keep) `(N,)`, as `SkimPredictor` in eval mode."""
        # oneDNN runs these small 12-channel convolutions ~2.5x faster on channels-last input (measured here).
        blocks = blocks.contiguous(memory_format=torch.channels_last)
        x = F.avg_pool2d(F.relu(F.conv2d(blocks, *self.conv1, padding=1)), 2)
        x = F.avg_pool2d(F.relu(F.conv2d(x, *self.conv2, padding=1)), 2)
        return F.linear(x.flatten(1), *self.classifier).float().softmax(-1)[:, 1]


class FastQuestionPredictor:
    """`QuestionPredictor` over `question_features`, in eval mode, with every linear step folded together.

    The module reads `[logs, logs − centre]` per head (`centre`: the logs' mean over the input's scored blocks)
    through BatchNorm and a linear layer. All three are linear, so the hidden layer is
    `(W_log + W_centred)·logs − W_centred·centre + bias`: the centred copy, the concatenation and the per-head
    permute are never built, and the centre costs one (1 × nb) product per input. The two output logits only ever
    meet as their difference, so the classifier is one vector. The calibration's piecewise-linear map is a lookup
    of each segment's start, slope and base (`calibrated_score`, in four fewer passes).
    """

    reads = "question"

    def __init__(self, predictor: QuestionPredictor, block_size: int):
        norm = predictor.norm
        scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
        shift = norm.bias - norm.running_mean * scale
        weight = predictor.hidden.weight * scale  # (hidden, 8H + 1)
        self.bias = predictor.hidden.bias + predictor.hidden.weight @ shift
        width = weight.shape[0]
        per_head = weight[:, :-1].reshape(width, -1, 2, FEATURES_PER_HEAD // 2)  # (hidden, H, [log, centred], 4)
        self.on_logs = (per_head[:, :, 0] + per_head[:, :, 1]).reshape(width, -1)  # (hidden, 4H), head-major
        self.on_centre = -per_head[:, :, 1].reshape(width, -1)
        self.on_tokens = weight[:, -1] / block_size  # the last feature is the block's tokens / block size
        classifier = predictor.classifier
        self.margin = (classifier.weight[1] - classifier.weight[0], classifier.bias[1] - classifier.bias[0])
        self.segments = _calibration_segments(predictor.gold_quantiles) if bool(predictor.calibrated) else None

    def keep_prob(self, to_rows, from_rows, question, row_at, passage_at, scored) -> torch.Tensor:
        """P(keep) `(N,)` of the N `scored (B, nb)` blocks in batch order, as `QuestionPredictor.keep_score` of
        `question_features`. `to_rows (B, H, NQ, T)`, `from_rows (B, H, T, NQ)` and `question (B, NQ)` as there;
        the rows' blocks come as `passage_positions`: each original position's current row and whether it is
        passage text still present. Read by original position, a block is a contiguous run of `bs` slots, so its
        sums and maxima are reductions over a reshaped last dimension (no membership matrix, no scatter)."""
        if torch.is_autocast_enabled(to_rows.device.type):  # sums of many small masses: float32 (`question_features`)
            with torch.autocast(to_rows.device.type, enabled=False):
                return self.keep_prob(to_rows.float(), from_rows.float(), question, row_at, passage_at, scored)
        batch, num_blocks = scored.shape
        heads, slots = to_rows.shape[1:3]
        dtype = to_rows.dtype
        present = passage_at.to(dtype)  # (B, P)
        tokens = present.view(batch, num_blocks, -1).sum(-1)  # (B, nb) passage tokens per block
        mass = to_rows.gather(3, row_at[:, None, None].expand(-1, heads, slots, -1)).mul_(present[:, None, None])
        mass = mass.view(batch, heads, slots, num_blocks, -1).sum(-1)  # (B, H, NQ, nb) each question token's
        q = question.to(dtype)
        every_slot_real = bool(question.all())  # always at batch size one: no mask to apply
        if not every_slot_real:
            mass = mass * q[:, None, :, None]
        to_mean = mass.sum(2) / q.sum(1).clamp(min=1)[:, None, None]  # (B, H, nb)
        to_max = mass.amax(2)
        to_question = (
            from_rows.sum(-1) if every_slot_real else torch.matmul(from_rows, q[:, None, :, None]).squeeze(-1)
        )  # (B, H, T) each row's mass on the question
        by_position = to_question.gather(2, row_at[:, None].expand(-1, heads, -1)).mul_(present[:, None])
        by_position = by_position.view(batch, heads, num_blocks, -1)  # (B, H, nb, bs); masses ≥ 0, absent rows 0
        from_mean = by_position.sum(-1) / tokens.clamp(min=1)[:, None]
        from_max = by_position.amax(-1)
        logs = torch.stack([m.transpose(1, 2) for m in (to_mean, to_max, from_mean, from_max)], -1)  # (B, nb, H, 4)
        logs = logs.view(batch, num_blocks, -1).clamp_(min=1e-6).log_()  # (B, nb, 4H)
        weight = scored.to(dtype)[:, None]  # (B, 1, nb)
        centre = torch.matmul(weight, logs).squeeze(1) / weight.sum(-1).clamp(min=1)  # (B, 4H)
        per_input = torch.addcmul(
            F.linear(centre, self.on_centre, self.bias)[:, None], tokens[..., None], self.on_tokens
        )
        hidden = (F.linear(logs, self.on_logs) + per_input)[scored]  # (N, hidden)
        margin = torch.addmv(self.margin[1], F.gelu(hidden), self.margin[0]).float()
        if self.segments is None:
            return margin.sigmoid()  # softmax over (skim, keep), read at keep
        quantiles, starts, slopes, bases = self.segments
        segment = torch.searchsorted(quantiles, margin)
        return (margin - starts[segment]).mul_(slopes[segment]).add_(bases[segment])


def passage_positions(
    row_of: torch.Tensor | None, real: torch.Tensor, in_context: torch.Tensor, length: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """For every original position (`(B, P)`, P = nb·bs): its current row (0 where it has none) and whether it is
    passage text that is still there. `row_of`: the fast path's current row of each position, -1 where gone, or
    `None` before any cut (rows are then the `length` positions; `real` marks those inside the sequence)."""
    if row_of is None:
        row_at = torch.arange(real.shape[1], device=real.device).clamp(max=length - 1).expand_as(real)
        present = real
    else:
        row_at, present = row_of.clamp(min=0), row_of >= 0
    return row_at, present & in_context


def _calibration_segments(quantiles: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """`calibrated_score` as a table indexed by `searchsorted(quantiles, margin)`: segment 0 (at or below the
    lowest quantile) scores 0, the last (above the highest) 1, and segment i between quantiles i−1 and i rises
    linearly from (i−1)/(P−1). Returns the quantiles and each segment's start, slope and base."""
    quantiles = quantiles.float()
    points = len(quantiles)
    width = (quantiles[1:] - quantiles[:-1]).clamp(min=1e-6)
    zero, one = quantiles.new_zeros(1), quantiles.new_ones(1)
    starts = torch.cat([zero, quantiles[:-1], zero])
    slopes = torch.cat([zero, 1 / (width * (points - 1)), zero])
    bases = torch.cat(
        [zero, torch.arange(points - 1, dtype=quantiles.dtype, device=quantiles.device) / (points - 1), one]
    )
    return quantiles, starts, slopes, bases
