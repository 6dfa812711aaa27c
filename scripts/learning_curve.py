"""Plot the shipped model's learning curve from the training log (`results/train-log.jsonl`): dev F1 of the quick
eval at each checkpoint against training features seen, with the QA loss beside it and the full-dev F1 of the
final model as a star.

    .venv/bin/python scripts/learning_curve.py            # writes results/learning-curve.{html,png}
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a plain script from anywhere
from skim.bench import write_figure  # noqa: E402


def read_log(path: Path) -> tuple[list[dict], list[dict]]:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    evals = [r for r in records if "eval" in r]
    losses = [r for r in records if "qa_loss" in r]
    return evals, losses


def learning_curve_figure(
    evals: list[dict], losses: list[dict], full_dev_f1: float | None = None, target_f1: float = 80.0
) -> go.Figure:
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    if full_dev_f1 is not None:  # the shipped model on all 10,570 questions, at the last checkpoint's x
        fig.add_trace(
            go.Scatter(
                x=[evals[-1]["examples_seen"]],
                y=[full_dev_f1],
                mode="markers",
                marker={"symbol": "star", "size": 14},
                name=f"full dev set, shipped model ({full_dev_f1:.1f})",
            ),
            secondary_y=False,
        )
    fig.add_trace(
        go.Scatter(
            x=[r["examples_seen"] for r in evals],
            y=[r["eval"]["full"]["f1"] for r in evals],
            mode="lines+markers",
            name="dev F1, first 300 questions",
        ),
        secondary_y=False,
    )
    fig.add_trace(
        go.Scatter(
            x=[r["examples_seen"] for r in losses],
            y=[r["qa_loss"] for r in losses],
            mode="lines",
            name="QA loss (training batches)",
            line={"width": 1},
            opacity=0.5,
        ),
        secondary_y=True,
    )
    fig.add_hline(y=target_f1, line_dash="dot", annotation_text=f"target F1 {target_f1:g}", secondary_y=False)
    fig.update_xaxes(title_text="training features seen")
    fig.update_yaxes(title_text="dev F1", range=[0, 100], secondary_y=False)
    fig.update_yaxes(title_text="QA loss", secondary_y=True)
    fig.update_layout(
        title="Block-Skim MiniLM-L6 on SQuAD v1.1: learning curve",
        template="plotly_white",
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log", type=Path, default=Path("results/train-log.jsonl"))
    parser.add_argument(
        "--full-dev",
        type=Path,
        default=Path("results/eval-dev-stage3.json"),
        help="eval --output JSON of the logged run's encoder",
    )
    parser.add_argument("--output-dir", type=Path, default=Path("results"))
    args = parser.parse_args()
    evals, losses = read_log(args.log)
    full_dev_f1 = json.loads(args.full_dev.read_text())["full"]["f1"] if args.full_dev.is_file() else None
    fig = learning_curve_figure(evals, losses, full_dev_f1)
    for path in write_figure(fig, args.output_dir, "learning-curve"):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
