"""The benchmark's Pareto plot: F1 against wall-clock speed-up, one point per threshold of a `--sweep`
(`skim/bench.py` re-exports these names)."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)

PAPER_FLOPS_SPEEDUP = 3.01  # BERT-base on SQuAD v1.1, FLOPs with inputs padded to 512 (research brief §4)


def pareto_figure(results: list[dict]):
    """F1 against wall-clock speed-up over HF, one point per threshold, the HF and full models as references."""
    import plotly.graph_objects as go

    first = results[0]
    fig = go.Figure()
    fig.add_scatter(
        x=[r["speedup_vs_hf"] for r in results],
        y=[r["f1_skim"] for r in results],
        mode="lines+markers+text",
        text=[f"{r['threshold']:g}" for r in results],
        textposition=["top center" if i % 2 else "bottom center" for i in range(len(results))],  # fewer overlaps
        name="Block-Skim (label: threshold)",
        customdata=[[r["kept_fraction"], r["limit_speedup"]] for r in results],
        hovertemplate="speed-up %{x:.2f}×<br>F1 %{y:.2f}<br>kept %{customdata[0]:.3f} "
        "(ideal %{customdata[1]:.2f}×)<extra>threshold %{text}</extra>",
    )
    fig.add_scatter(
        x=[1.0],
        y=[first["f1_hf"]],
        mode="markers",
        marker_symbol="square",
        marker_size=11,
        name="Hugging Face SDPA (baseline)",
    )
    fig.add_scatter(
        x=[first["hf_ms"] / first["full_ms"]],
        y=[first["f1_full"]],
        mode="markers",
        marker_symbol="diamond",
        marker_size=11,
        name="our model, skimming off",
    )
    fig.add_vline(x=PAPER_FLOPS_SPEEDUP, line_dash="dot", annotation_text="paper: 3.01× FLOPs (BERT-base, padded 512)")
    fig.add_hline(
        y=first["f1_hf"] - 1,
        line_dash="dash",
        line_color="grey",
        annotation_text="HF F1 − 1",
        annotation_position="bottom right",
    )
    inputs = "whole articles" if first["seq_len"] == "articles" else f"{first['seq_len']} tokens"
    fig.update_layout(
        title=f"F1 vs wall-clock speed-up · {inputs}, batch {first['batch_size']}, {first['dtype']}, "
        f"{first['threads']} threads, n={first['n']}",
        xaxis_title="speed-up over Hugging Face (×)",
        yaxis_title="SQuAD v1.1 dev F1",
        template="plotly_white",
        width=900,
        height=520,
    )
    return fig


def write_figure(fig, directory, stem: str) -> list[str]:
    """`<stem>.html` (plotly.js from its CDN, to keep the repo small) and `<stem>.png` when kaleido can render it
    here. Returns the paths written."""
    from pathlib import Path

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fig.write_html(directory / f"{stem}.html", include_plotlyjs="cdn")
    written = [str(directory / f"{stem}.html")]
    try:
        fig.write_image(directory / f"{stem}.png", scale=2)
        written.append(str(directory / f"{stem}.png"))
    except Exception as err:  # kaleido needs a Chrome; without one the HTML plot still stands
        logger.warning("no PNG plot (%s)", str(err).splitlines()[0] if str(err) else type(err).__name__)
    return written


def write_pareto(results: list[dict], directory) -> list[str]:
    """`pareto.json` and the plot as `pareto.html` / `pareto.png`. Returns the paths written."""
    import json
    from pathlib import Path

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "pareto.json").write_text(json.dumps(results, indent=2) + "\n")
    return [str(directory / "pareto.json"), *write_figure(pareto_figure(results), directory, "pareto")]
