"""Pure figure builders: `SkimTrace` → `go.Figure`. No Streamlit here, so each one is testable alone.

Arrays go to Plotly as numpy (sent as base64 `bdata`, ~3× smaller and far faster than `.tolist()`), and
user-derived strings are `html.escape`d because Plotly interprets a subset of HTML in labels and hovers.
"""

from __future__ import annotations

import html

import numpy as np
import plotly.graph_objects as go

from skim import SkimTrace
from skim.trace import AttentionMap, Block

from .palette import ANSWER, DROP_MARK, GOLD, KEEP_SCALE

SNIPPET_CHARS = 70
MAX_TICK_LABELS = 48  # beyond this tick labels overlap; the hover still names every token


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """One escaped line of at most `limit` characters, for hovers."""
    flat = " ".join(text.split())
    return html.escape(flat if len(flat) <= limit else flat[: limit - 1] + "…")


def keep_prob_grid(trace: SkimTrace) -> np.ndarray:
    """`(n_layers, n_blocks)` P(keep) of each block at each layer; NaN where the layer did not score it
    (already dropped, or a layer without a predictor)."""
    grid = np.full((trace.num_layers, len(trace.blocks)), np.nan, dtype=np.float32)
    for layer in trace.layers:
        for block_id, p in layer.keep_prob.items():
            grid[layer.layer, int(block_id)] = p
    return grid


def drop_label(trace: SkimTrace) -> str:
    """The ✕'s legend entry: the threshold, or each judging layer's own where the checkpoint scales it."""
    per_layer = trace.varying_thresholds()
    if per_layer is None:
        return f"dropped (P(keep) < {trace.threshold:g})"
    judged = ", ".join(f"L{i} {t:g}" for i, t in enumerate(per_layer) if t > 0)
    return f"dropped (P(keep) < its layer's threshold: {judged})"


def skim_map_figure(trace: SkimTrace, gold: Block | None = None) -> go.Figure:
    """Layers × blocks heatmap of P(keep). ✕ marks the cell where a block was dropped; the blank cells below it
    are layers it never reached. The answer's block is outlined, and the `gold` answer's block dashed."""
    grid = keep_prob_grid(trace)
    dropped_at = trace.block_dropped_at()
    n_layers, n_blocks = grid.shape
    hover = np.empty(grid.shape, dtype=object)
    for b in trace.blocks:
        text = snippet(trace.context[b.start_char : b.end_char])
        head = f"block {b.id} · window {b.window} · chars {b.start_char}–{b.end_char}<br>“{text}”"
        for layer in range(n_layers):
            fate = "dropped here" if dropped_at[b.id] == layer else "kept"
            p = "not scored" if np.isnan(grid[layer, b.id]) else f"P(keep) {grid[layer, b.id]:.3f}"
            hover[layer, b.id] = f"{head}<br>layer {layer}: {p}, {fate}"
    fig = go.Figure(
        go.Heatmap(
            z=grid,
            x=np.arange(n_blocks),
            y=np.arange(n_layers),
            zmin=0.0,
            zmax=1.0,
            colorscale=KEEP_SCALE,
            customdata=hover,
            hovertemplate="%{customdata}<extra></extra>",
            hoverongaps=False,
            xgap=2,
            ygap=2,
            colorbar={"title": {"text": "P(keep)"}, "thickness": 14},
            name="P(keep)",
        )
    )
    drops = [(b, layer) for b, layer in dropped_at.items() if layer is not None]
    fig.add_trace(
        go.Scatter(
            x=np.array([b for b, _ in drops], dtype=int),
            y=np.array([layer for _, layer in drops], dtype=int),
            mode="markers",
            marker={"symbol": "x-thin", "size": 14, "line": {"width": 3, "color": DROP_MARK}},
            name=drop_label(trace),
            hoverinfo="skip",
            showlegend=True,
        )
    )
    # The gold outline sits inside the answer's, so both show when they are the same block.
    outlines = [
        (trace.answer_block(), 0.5, {"color": ANSWER, "width": 3}, "model's answer"),
        (gold, 0.4, {"color": GOLD, "width": 3, "dash": "dash"}, "gold answer"),
    ]
    for block, half, line, name in outlines:
        if block is not None:
            fig.add_shape(
                type="rect",
                x0=block.id - half,
                x1=block.id + half,
                y0=-half,
                y1=n_layers - 1 + half,
                line=line,
                name=name,
                showlegend=True,
            )
    for b_prev, b in zip(trace.blocks, trace.blocks[1:]):
        if b.window != b_prev.window:  # overlapping windows repeat text: show where a new one starts
            fig.add_vline(x=b.id - 0.5, line={"color": "#555", "dash": "dot", "width": 1})
    ticks = np.arange(0, n_blocks, max(1, n_blocks // 16))  # every block's label would overlap on long passages
    fig.update_xaxes(title="block", tickmode="array", tickvals=ticks, ticktext=[f"b{i}" for i in ticks])
    rows = np.arange(n_layers)
    fig.update_yaxes(
        title="layer", autorange="reversed", tickmode="array", tickvals=rows, ticktext=[f"L{i}" for i in rows]
    )
    fig.update_layout(
        height=140 + 34 * n_layers,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        plot_bgcolor="#ececec",  # blank cells = the block was already gone
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
    )
    return fig


def tokens_figure(trace: SkimTrace) -> go.Figure:
    """Tokens entering each layer with skimming, against the full length every layer sees without it."""
    layers = np.arange(trace.num_layers)
    tokens = np.array([layer.tokens for layer in trace.layers], dtype=int)
    full = sum(len(w.tokens) for w in trace.windows)
    fig = go.Figure(
        go.Bar(
            x=layers,
            y=tokens,
            name="with skimming",
            marker_color="#4c78a8",
            hovertemplate="layer %{x}: %{y} tokens<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=layers,
            y=np.full(len(layers), full),
            mode="lines+markers",
            name="full model",
            line={"color": "#888", "dash": "dash"},
        )
    )
    fig.update_xaxes(title="layer", tickmode="array", tickvals=layers, ticktext=[f"L{i}" for i in layers])
    fig.update_yaxes(title="tokens", rangemode="tozero")
    fig.update_layout(
        height=140 + 34 * trace.num_layers,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 1, "xanchor": "right"},
    )
    return fig


def token_labels(tokens: list[str], positions: list[int]) -> list[str]:
    """Unique axis labels `"12:the"`: a repeated token would otherwise merge rows on a categorical axis."""
    return [f"{p}:{html.escape(tokens[p])}" for p in positions]


def attention_map(trace: SkimTrace, layer: int) -> AttentionMap:
    for amap in trace.attention:
        if amap.layer == layer:
            return amap
    raise ValueError(f"the trace holds no attention for layer {layer}")


def block_rows(positions: list[int], block: Block) -> list[int]:
    """Rows of an attention map (tokens alive at that layer) that belong to `block`: the predictor's square."""
    return [i for i, p in enumerate(positions) if block.token_start <= p < block.token_end]


def head_weights(amap: AttentionMap, head: int | None) -> np.ndarray:
    """`(T, T)` float32 attention of one head, or the mean over heads (`None`)."""
    if head is None or amap.head_mean_only:
        return amap.weights.mean(0, dtype=np.float32)
    return amap.weights[head].astype(np.float32)


def block_square(trace: SkimTrace, layer: int, head: int | None, block: int) -> tuple[np.ndarray, list[int]]:
    """The `(bs, bs)` diagonal square of `block` in `layer`'s attention (what its skim predictor read, per head)
    and the window positions of its rows. Raises `ValueError` if the block is gone before `layer`."""
    amap = attention_map(trace, layer)
    rows = block_rows(amap.positions, trace.blocks[block])
    if not rows:
        raise ValueError(f"block {block} is gone before layer {layer}")
    return head_weights(amap, head)[np.ix_(rows, rows)], [amap.positions[i] for i in rows]


def attention_figure(trace: SkimTrace, layer: int, head: int | None = None, block: int | None = None) -> go.Figure:
    """One `(T, T)` attention matrix of `layer` over the tokens alive there: `head` or the mean over heads
    (`None`); with `block`, only that block's diagonal square, which is what its skim predictor read."""
    amap = attention_map(trace, layer)
    if block is None:
        z, positions = head_weights(amap, head), amap.positions
    else:
        z, positions = block_square(trace, layer, head, block)
    labels = token_labels(trace.windows[amap.window].tokens, positions)
    zmax = float(np.percentile(z, 99)) if z.size else 1.0  # [CLS]/[SEP] soak up attention; cap so the rest shows
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=labels,
            y=labels,
            zmin=0.0,
            zmax=max(zmax, 1e-6),
            colorscale="Viridis",
            hovertemplate="query %{y}<br>key %{x}<br>attention %{z:.3f}<extra></extra>",
            colorbar={"title": {"text": "attn"}, "thickness": 14},
        )
    )
    if block is None:
        _outline_blocks(fig, trace, amap, layer)
    axis = {"type": "category", "showgrid": False, "showticklabels": len(labels) <= MAX_TICK_LABELS}
    axis["ticks"] = "outside" if axis["showticklabels"] else ""  # bare tick marks without labels are noise
    fig.update_xaxes(**axis, tickangle=-60, title="key token")
    fig.update_yaxes(**axis, autorange="reversed", title="query token", scaleanchor="x")
    which = "mean over heads" if head is None or amap.head_mean_only else f"head {head}"
    where = f" · block {block}'s diagonal square" if block is not None else ""
    fig.update_layout(
        title={
            "text": f"Layer {layer} · {which}{where} · {len(labels)} tokens (colour capped at the 99th percentile)",
            "font": {"size": 14},
        },
        height=700 if block is None else 560,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
    )
    return fig


def _outline_blocks(fig: go.Figure, trace: SkimTrace, amap: AttentionMap, layer: int) -> None:
    """Outline each block's diagonal square: red if this layer drops it, blue for the answer's block."""
    dropped_here = set(trace.layers[layer].dropped_blocks)
    answer = trace.answer_block()
    for b in trace.blocks:
        if b.window != amap.window:
            continue
        rows = block_rows(amap.positions, b)
        if not rows:
            continue
        color = ANSWER if answer is not None and b.id == answer.id else DROP_MARK if b.id in dropped_here else "white"
        fig.add_shape(
            type="rect",
            x0=rows[0] - 0.5,
            x1=rows[-1] + 0.5,
            y0=rows[0] - 0.5,
            y1=rows[-1] + 0.5,
            line={"color": color, "width": 2, "dash": "dot" if b.id in dropped_here else "solid"},
        )
