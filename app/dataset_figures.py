"""Threshold what-if: `skim.evaluate.sweep` results as a table and as Plotly figures (one kind against the
threshold; every kind's F1 against speed-up). No Streamlit here."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from skim.bench import QUESTION_SWEEP_THRESHOLDS

from .kinds import kind_color, kind_label
from .palette import ANSWER, DROP_MARK

WHAT_IF_THRESHOLDS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
# The question kind's scores are calibrated: threshold t loses about a fraction t of the answer blocks at each
# skimming layer, so everything past ~0.3 loses most answers; its grid is finer near 0 (as many points).
QUESTION_THRESHOLDS = tuple(QUESTION_SWEEP_THRESHOLDS)


def what_if_thresholds(kind: str | None) -> tuple[float, ...]:
    return QUESTION_THRESHOLDS if kind == "question" else WHAT_IF_THRESHOLDS


SPEED = "#e08214"


def what_if_table(result: dict) -> pd.DataFrame:
    """One line per threshold of a `sweep` result; `ideal speed-up` = 1 / kept fraction (token-layers only)."""
    points = result["skim"]
    return pd.DataFrame(
        {
            "threshold": [p["threshold"] for p in points],
            "EM": [p["exact_match"] for p in points],
            "F1": [p["f1"] for p in points],
            "F1 change": [p["f1"] - result["full"]["f1"] for p in points],
            "kept fraction": [p["kept_fraction"] for p in points],
            "ideal speed-up": [1 / p["kept_fraction"] if p["kept_fraction"] else np.nan for p in points],
            "measured speed-up": [p["speedup"] for p in points],
            "gold block alive": [p["gold_block_alive"] for p in points],
            "same answer as full": [p["same_answer"] for p in points],
            "seconds": [p["seconds"] for p in points],
        }
    )


def kinds_table(results: dict[str, dict]) -> pd.DataFrame:
    """`what_if_table` of each kind's sweep (`{kind: result}`), one after the other, the kind in a first column."""
    tables = [what_if_table(result).assign(predictor=kind) for kind, result in results.items()]
    table = pd.concat(tables, ignore_index=True)
    return table[["predictor", *tables[0].columns.drop("predictor")]]


SPEED_UPS = {"measured": "measured speed-up", "ideal": "ideal speed-up"}


def kinds_figure(results: dict[str, dict], speedup: str = "measured") -> go.Figure:
    """F1 against speed-up (`"measured"` or `"ideal"`), one line per predictor kind through its thresholds, on the
    same questions: the kind further up and to the right buys more speed for the same F1. The full model's F1
    dashed, 1× dotted."""
    column = SPEED_UPS[speedup]
    fig = go.Figure()
    for i, (kind, result) in enumerate(results.items()):
        table = what_if_table(result)
        hover = [
            f"threshold {t:g} · kept {kept:.3f} · gold block alive {alive:.0%}"
            for t, kept, alive in zip(table["threshold"], table["kept fraction"], table["gold block alive"])
        ]
        fig.add_trace(
            go.Scatter(
                x=table[column].to_numpy(),
                y=table["F1"].to_numpy(),
                customdata=hover,
                mode="lines+markers",
                name=kind_label(kind),
                line={"color": kind_color(kind, i), "width": 3},
                hovertemplate=f"{kind_label(kind)}<br>%{{customdata}}<br>{speedup} speed-up %{{x:.2f}}× · "
                "F1 %{y:.1f}<extra></extra>",
            )
        )
    full_f1 = next(iter(results.values()))["full"]["f1"]
    fig.add_hline(
        y=full_f1,
        line={"color": ANSWER, "dash": "dash", "width": 1},
        annotation_text=f"full model F1 {full_f1:.1f}",
        annotation_position="bottom left",
    )
    fig.add_vline(x=1.0, line={"color": "#888", "dash": "dot", "width": 1})
    fig.update_xaxes(title=f"{column} (×)", rangemode="tozero")
    fig.update_yaxes(title="F1 (SQuAD, 0-100)", rangemode="tozero")
    fig.update_layout(
        height=420,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        hovermode="closest",
    )
    return fig


def what_if_figure(result: dict, threshold: float | None = None, kind: str | None = None) -> go.Figure:
    """F1 (left axis) and speed-up (right axis) against the skim threshold, the full model's F1 as a dashed
    line and `threshold` (the sidebar's) as a vertical line; `kind` (a label) names the predictor in the title."""
    table = what_if_table(result)
    x = table["threshold"].to_numpy()
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    hover = [
        f"EM {em:.1f} · kept {kept:.3f} · gold block alive {alive:.0%} · same answer {same:.0%}"
        for em, kept, alive, same in zip(
            table["EM"], table["kept fraction"], table["gold block alive"], table["same answer as full"]
        )
    ]
    fig.add_trace(
        go.Scatter(
            x=x,
            y=table["F1"].to_numpy(),
            customdata=hover,
            mode="lines+markers",
            name="F1 with skimming",
            line={"color": ANSWER, "width": 3},
            hovertemplate="threshold %{x:g}: F1 %{y:.1f}<br>%{customdata}<extra></extra>",
        ),
        secondary_y=False,
    )
    fig.add_hline(
        y=result["full"]["f1"],
        line={"color": ANSWER, "dash": "dash", "width": 1},
        annotation_text=f"full model F1 {result['full']['f1']:.1f}",
        annotation_position="bottom left",
    )
    for column, dash, name in (("measured speed-up", "solid", "measured"), ("ideal speed-up", "dot", "ideal")):
        fig.add_trace(
            go.Scatter(
                x=x,
                y=table[column].to_numpy(),
                mode="lines+markers",
                name=f"speed-up, {name}",
                line={"color": SPEED, "dash": dash},
                hovertemplate=f"threshold %{{x:g}}: {name} speed-up %{{y:.2f}}×<extra></extra>",
            ),
            secondary_y=True,
        )
    if threshold is not None:
        fig.add_vline(
            x=threshold,
            line={"color": DROP_MARK, "width": 2},
            annotation_text=f"sidebar threshold {threshold:g}",
            annotation_position="top right",
        )
    top = max(float(x.max()), threshold or 0.0, 0.05)
    fig.update_xaxes(title="skim threshold", range=[-0.02 * top, 1.0 if top > 0.5 else 1.05 * top])
    fig.update_yaxes(title="F1 (SQuAD, 0-100)", rangemode="tozero", secondary_y=False)
    # Plotly syncs an overlaying axis's ticks to the first one's grid (0.626, 1.252, …): plain ticks read better.
    fig.update_yaxes(
        title="speed-up (×)", rangemode="tozero", showgrid=False, tickmode="auto", tickformat=".1f", secondary_y=True
    )
    if kind:
        fig.update_layout(title={"text": f"{kind} predictor against its threshold", "font": {"size": 14}})
    fig.update_layout(
        height=420,
        margin={"l": 10, "r": 10, "t": 70 if kind else 40, "b": 10},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        hovermode="closest",
    )
    return fig
