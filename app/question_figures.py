"""What the question-aware skim predictor read for one block at one layer, from the trace's attention map: the
question's tokens × the block's tokens (both directions), the question words that point at the block most, and
its per-head input features (`skim.predictors.question_features`). No Streamlit here."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots

from skim import SkimTrace
from skim.predictors import FEATURES_PER_HEAD, passage_row_blocks, question_features
from skim.trace import AttentionMap, WindowTrace

from .figures import attention_map, head_weights, token_labels

TOP_WORDS = 5
FEATURE_NAMES = ("q→b mean", "q→b max", "b→q mean", "b→q max")  # q: the question's tokens, b: the block's


def question_positions(window: WindowTrace) -> list[int]:
    """Window positions of the question's tokens: after [CLS], up to the [SEP] before the passage's first token.
    They are rows 1 … NQ of every layer's map: frame tokens are never dropped and survivors keep their order."""
    first = next((p for p, o in enumerate(window.offsets) if o is not None), len(window.tokens))
    return list(range(1, max(first - 1, 1)))


@dataclass(frozen=True)
class QuestionRead:
    """One layer's attention between the question and one block: `to_block (NQ, nb)` how each question token
    attends to each of the block's passage tokens, `from_block (NQ, nb)` how each block token attends to each
    question token (transposed to the same rows), `share (NQ,)` the part of each question token's attention
    that lands on the block, and `even` the share an even spread over the tokens alive would give."""

    layer: int
    head: int | None
    question: list[int]  # window positions
    block: list[int]
    to_block: np.ndarray
    from_block: np.ndarray
    share: np.ndarray
    even: float


def question_read(trace: SkimTrace, layer: int, head: int | None, block: int) -> QuestionRead:
    """Raises `ValueError` when the trace kept no attention for the block's window or the block is gone."""
    b = trace.blocks[block]
    amap = attention_map(trace, layer)
    if amap.window != b.window:
        raise ValueError(f"the trace kept no attention for window {b.window}")
    window = trace.windows[b.window]
    row_of = {p: i for i, p in enumerate(amap.positions)}
    q_pos = question_positions(window)
    b_pos = [p for p in range(b.token_start, b.token_end) if p in row_of and window.offsets[p] is not None]
    if not b_pos:
        raise ValueError(f"block {block} is gone before layer {layer}")
    weights = head_weights(amap, head)
    q_rows, b_rows = [row_of[p] for p in q_pos], [row_of[p] for p in b_pos]
    to_block = weights[np.ix_(q_rows, b_rows)]
    from_block = weights[np.ix_(b_rows, q_rows)].T
    return QuestionRead(layer, head, q_pos, b_pos, to_block, from_block, to_block.sum(1), len(b_pos) / len(row_of))


def question_figure(trace: SkimTrace, read: QuestionRead, block: int) -> go.Figure:
    """Two heatmaps over the same axes (question tokens down, the block's tokens across): how the question
    attends to the block, and how the block attends to the question. One colour scale, capped at the 99th
    percentile so a single strong cell does not wash the rest out."""
    tokens = trace.windows[trace.blocks[block].window].tokens
    y, x = token_labels(tokens, read.question), token_labels(tokens, read.block)
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.06,
        # short titles: in a half-width column the long ones ran into each other (the caption says the rest)
        subplot_titles=["question → block", "block → question"],
    )
    fig.update_annotations(font_size=12)
    hovers = (
        "question %{y} → block %{x}<br>attention %{z:.3f}<extra></extra>",
        "block %{x} → question %{y}<br>attention %{z:.3f}<extra></extra>",
    )
    for col, (z, hover) in enumerate(zip((read.to_block, read.from_block), hovers), start=1):
        fig.add_trace(go.Heatmap(z=z, x=x, y=y, coloraxis="coloraxis", hovertemplate=hover), row=1, col=col)
    both = np.concatenate([read.to_block.ravel(), read.from_block.ravel()])
    cmax = float(np.percentile(both, 99)) if both.size else 1.0
    show = max(len(x), len(y)) <= 48  # beyond this tick labels overlap; the hover still names every token
    fig.update_xaxes(type="category", showgrid=False, tickangle=-60, showticklabels=show)
    fig.update_yaxes(type="category", showgrid=False, autorange="reversed", showticklabels=show)
    which = "mean over heads" if read.head is None else f"head {read.head}"
    fig.update_layout(
        coloraxis={"colorscale": "Viridis", "cmin": 0.0, "cmax": max(cmax, 1e-6), "colorbar": {"thickness": 12}},
        title={"text": f"Layer {read.layer} · {which} · the question and block {block}", "font": {"size": 14}},
        height=max(320, 160 + 22 * len(y)),
        margin={"l": 10, "r": 10, "t": 80, "b": 10},
    )
    return fig


def top_words(trace: SkimTrace, read: QuestionRead, block: int, k: int = TOP_WORDS) -> pd.DataFrame:
    """The question words whose attention lands on the block most: WordPiece pieces (`##…`) join their word, whose
    share is its pieces' mean. `× even spread` compares with the share an even spread over the tokens alive gives."""
    tokens = trace.windows[trace.blocks[block].window].tokens
    words: list[tuple[str, list[float]]] = []
    for p, share in zip(read.question, read.share.tolist()):
        token = tokens[p]
        if token.startswith("##") and words:
            words[-1] = (words[-1][0] + token[2:], words[-1][1] + [share])
        else:
            words.append((token, [share]))
    table = pd.DataFrame({"question word": [w for w, _ in words], "share": [float(np.mean(s)) for _, s in words]})
    table["× even spread"] = table["share"] / read.even if read.even else math.nan
    return table.sort_values("share", ascending=False, kind="stable").head(k).reset_index(drop=True)


def predictor_features(trace: SkimTrace, layer: int, block: int) -> pd.DataFrame | None:
    """Per head, the four attention masses the question-aware predictor read for `block` at `layer` (and each
    against the input's typical block: exp of the centred log), computed from the trace's map with the
    engine's own `question_features`. None where that layer did not score the block or only the head mean
    was kept."""
    b = trace.blocks[block]
    amap = attention_map(trace, layer)
    if amap.head_mean_only or amap.window != b.window or str(block) not in trace.layers[layer].keep_prob:
        return None
    features = _features(trace, amap)[b.index]  # (8H + 1,)
    heads = amap.weights.shape[0]
    per_head = features[: FEATURES_PER_HEAD * heads].reshape(heads, FEATURES_PER_HEAD)
    table = pd.DataFrame(np.exp(per_head[:, :4]), columns=list(FEATURE_NAMES))
    for i, name in enumerate(FEATURE_NAMES):
        table[f"{name} vs typical"] = np.exp(per_head[:, 4 + i])
    table.insert(0, "head", range(heads))
    return table


def _features(trace: SkimTrace, amap: AttentionMap) -> np.ndarray:
    """`question_features` of every block of `amap`'s window: `(nb, 8H + 1)`, the blocks scored at that layer
    as the ones to centre over, as the model did."""
    window, bs = trace.windows[amap.window], trace.block_size
    num_blocks = math.ceil(len(window.tokens) / bs)
    probs = torch.from_numpy(amap.weights.astype(np.float32))[None]  # (1, H, T, T)
    positions = torch.tensor(amap.positions)[None]
    # The model's "context" is the second segment (token type 1): the passage and the final [SEP].
    first = next((p for p, o in enumerate(window.offsets) if o is not None), len(window.tokens))
    in_context = torch.zeros(1, num_blocks * bs, dtype=torch.bool)
    in_context[0, first : len(window.tokens)] = True
    row_block = passage_row_blocks(positions, torch.ones_like(positions, dtype=torch.bool), in_context, bs)
    slots = len(question_positions(window))
    scored = torch.zeros(1, num_blocks, dtype=torch.bool)
    judged = trace.layers[amap.layer].keep_prob
    for b in trace.blocks:
        if b.window == amap.window and str(b.id) in judged:
            scored[0, b.index] = True
    rows = slice(1, 1 + slots)
    question = torch.ones(1, slots, dtype=torch.bool)
    features = question_features(probs[:, :, rows, :], probs[:, :, :, rows], question, row_block, scored, bs)
    return features[0].numpy()
