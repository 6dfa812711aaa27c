"""The skim-loss ablation's two runs side by side: QA loss against step (a moving average; the raw per-step values
swing with passage length) and the quick dev eval at each checkpoint, with each run's full-dev F1 (no skimming)
as a star at its last step.

    .venv/bin/python scripts/ablation_curve.py \
        --run "α = 0.1" results/train-log-stage4-joint.jsonl results/ablation-alpha0.1.json \
        --run "α = 0" results/train-log-ablation-alpha0.jsonl results/ablation-alpha0.json
    # writes results/ablation-curve.{html,png}

Each `--run` is a label, a training log (`skim train`'s log.jsonl) and the `eval --no-skim --output` JSON of the
model it ended with (`-` for none).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a plain script from anywhere
from scripts.learning_curve import read_log  # noqa: E402
from skim.bench_figures import write_figure  # noqa: E402

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]


def moving_average(values: list[float], width: int) -> list[float]:
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v - (values[i - width] if i >= width else 0.0)
        out.append(total / min(i + 1, width))
    return out


def ablation_figure(runs: list[dict], width: int = 10) -> go.Figure:
    """`runs`: `{"label", "evals", "losses", "full_dev_f1" (or None)}` each, as `read_log` and an eval JSON give."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("QA loss (moving average of logged steps)", "dev F1"))
    for run, colour in zip(runs, COLOURS):
        steps = [r["step"] for r in run["losses"]]
        fig.add_trace(
            go.Scatter(
                x=steps,
                y=moving_average([r["qa_loss"] for r in run["losses"]], width),
                name=f"{run['label']}: QA loss",
                line={"color": colour},
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=[r["step"] for r in run["evals"]],
                y=[r["eval"]["full"]["f1"] for r in run["evals"]],
                mode="lines+markers",
                name=f"{run['label']}: quick eval (first 300 dev questions)",
                line={"color": colour, "dash": "dot"},
            ),
            row=1,
            col=2,
        )
        if run["full_dev_f1"] is not None:
            fig.add_trace(
                go.Scatter(
                    x=[steps[-1]],
                    y=[run["full_dev_f1"]],
                    mode="markers",
                    marker={"symbol": "star", "size": 14, "color": colour},
                    name=f"{run['label']}: full dev ({run['full_dev_f1']:.2f})",
                ),
                row=1,
                col=2,
            )
    fig.update_xaxes(title_text="training step (batch 16)")
    fig.update_layout(height=420, width=1100, legend={"orientation": "h", "y": -0.25})
    return fig


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", nargs=3, action="append", metavar=("LABEL", "LOG", "EVAL"), required=True)
    parser.add_argument("--output-dir", default="results")
    args = parser.parse_args()
    runs = []
    for label, log, evaluation in args.run:
        evals, losses = read_log(Path(log))
        f1 = None if evaluation == "-" else json.loads(Path(evaluation).read_text())["full"]["f1"]
        runs.append({"label": label, "evals": evals, "losses": losses, "full_dev_f1": f1})
    print("wrote " + ", ".join(write_figure(ablation_figure(runs), args.output_dir, "ablation-curve")), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
