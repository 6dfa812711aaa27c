"""Pure figures of one block across layers (the "why did it skim" panel): its P(keep), and the attention square
its skim predictor read at each layer. No Streamlit here."""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from skim import SkimTrace

from .figures import block_square, keep_prob_grid, token_labels
from .palette import ANSWER, DROP_MARK


def keep_prob_figure(trace: SkimTrace, block: int) -> go.Figure:
    """P(keep) of `block` at each layer against the threshold (each layer's own, where the checkpoint scales it);
    ✕ where it fell below and was dropped."""
    layers = np.arange(trace.num_layers)
    probs = keep_prob_grid(trace)[:, block]  # NaN once the block is gone
    dropped_at = trace.block_dropped_at()[block]
    fig = go.Figure(
        go.Scatter(
            x=layers,
            y=probs,
            mode="lines+markers",
            name=f"block {block}",
            line={"color": ANSWER},
            hovertemplate="layer %{x}: P(keep) %{y:.3f}<extra></extra>",
        )
    )
    if dropped_at is not None:
        fig.add_trace(
            go.Scatter(
                x=[dropped_at],
                y=[probs[dropped_at]],
                mode="markers",
                name="dropped here",
                marker={"symbol": "x-thin", "size": 16, "line": {"width": 3, "color": DROP_MARK}},
                hoverinfo="skip",
            )
        )
    per_layer = trace.varying_thresholds()
    if per_layer is not None:  # the checkpoint scales the threshold per layer: draw it as steps
        fig.add_trace(
            go.Scatter(
                x=layers,
                y=per_layer,
                mode="lines",
                line={"color": "#555", "dash": "dash", "width": 1, "shape": "hvh"},
                name="threshold",
                hovertemplate="layer %{x}: threshold %{y:g} (0: not judged)<extra></extra>",
            )
        )
    else:
        fig.add_hline(
            y=trace.threshold,
            line={"color": "#555", "dash": "dash", "width": 1},
            annotation_text=f"threshold {trace.threshold:g}",
            annotation_position="top left",
        )
    fig.update_xaxes(title="layer", tickmode="array", tickvals=layers, ticktext=[f"L{i}" for i in layers])
    fig.update_yaxes(title="P(keep)", range=[-0.02, 1.05])
    fig.update_layout(
        height=260,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
        showlegend=False,
    )
    return fig


def predictor_inputs_figure(trace: SkimTrace, block: int, head: int | None = None) -> go.Figure:
    """Small multiples, one per layer: `block`'s diagonal attention square (`head`, or the mean over heads),
    the map its skim predictor turned into P(keep). Layers the block never reached stay empty. One colour
    scale for all, so layers compare. Raises `ValueError` when the trace kept no attention for its window."""
    if trace.blocks[block].window not in {a.window for a in trace.attention}:
        raise ValueError(f"the trace kept no attention for window {trace.blocks[block].window}")
    n = trace.num_layers
    probs = keep_prob_grid(trace)[:, block]
    dropped_at = trace.block_dropped_at()[block]
    alive = [dropped_at is None or layer <= dropped_at for layer in range(n)]
    titles = []
    for layer, p in enumerate(probs):
        score = "gone" if not alive[layer] else "no predictor" if np.isnan(p) else f"P(keep) {p:.2f}"
        titles.append(f"L{layer}{' ✕' if layer == dropped_at else ''}<br>{score}")
    # A near-square grid (6 layers: 3 × 2) keeps each 32 × 32 square big enough to read in a half-width column.
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.04, vertical_spacing=0.12)
    squares = []
    for layer in (layer for layer in range(n) if alive[layer]):
        z, positions = block_square(trace, layer, head, block)
        squares.append(z)
        labels = token_labels(trace.windows[trace.blocks[block].window].tokens, positions)
        fig.add_trace(
            go.Heatmap(
                z=z,
                x=labels,
                y=labels,
                coloraxis="coloraxis",
                hovertemplate=f"L{layer}<br>query %{{y}}<br>key %{{x}}<br>attention %{{z:.3f}}<extra></extra>",
            ),
            row=layer // cols + 1,
            col=layer % cols + 1,
        )
    if dropped_at is not None:  # frame the layer that dropped it (subplots number their axes x, x2, x3, …)
        axis = "" if dropped_at == 0 else dropped_at + 1
        fig.add_shape(
            type="rect",
            xref=f"x{axis} domain",
            yref=f"y{axis} domain",
            x0=-0.03,
            x1=1.03,
            y0=-0.03,
            y1=1.03,
            line={"color": DROP_MARK, "width": 3},
        )
    cmax = float(np.percentile(np.concatenate([s.ravel() for s in squares]), 99))  # [CLS]/[SEP] columns dominate
    # Square cells; "domain" shrinks each subplot's frame to its square instead of padding around it.
    fig.update_xaxes(type="category", showticklabels=False, showgrid=False, ticks="", constrain="domain")
    for layer in range(n):
        fig.update_yaxes(scaleanchor=f"x{'' if layer == 0 else layer + 1}", row=layer // cols + 1, col=layer % cols + 1)
    fig.update_yaxes(
        type="category", showticklabels=False, showgrid=False, ticks="", autorange="reversed", constrain="domain"
    )
    which = "mean over heads" if head is None else f"head {head}"
    fig.update_layout(
        coloraxis={"colorscale": "Viridis", "cmin": 0.0, "cmax": max(cmax, 1e-6), "colorbar": {"thickness": 12}},
        title={"text": f"Block {block}'s diagonal attention square at each layer · {which}", "font": {"size": 14}},
        height=100 + 210 * rows,
        margin={"l": 10, "r": 10, "t": 90, "b": 10},
        plot_bgcolor="white",
    )
    return fig
