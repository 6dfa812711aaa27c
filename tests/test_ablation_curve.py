"""scripts/ablation_curve.py: the two runs of the skim-loss ablation drawn from their logs."""

from __future__ import annotations

import json

from scripts.ablation_curve import ablation_figure, moving_average
from scripts.learning_curve import read_log


def test_moving_average_is_over_at_most_width_values():
    assert moving_average([2.0, 4.0, 6.0, 8.0], 2) == [2.0, 3.0, 5.0, 7.0]


def test_each_run_gets_its_loss_curve_quick_evals_and_full_dev_star(tmp_path):
    runs = []
    for label, shift in (("α = 0.1", 0.0), ("α = 0", 0.5)):
        log = tmp_path / f"{shift}.jsonl"
        lines = [{"step": s, "qa_loss": 2.0 - s / 100 + shift} for s in (20, 40, 60)]
        lines.append({"step": 60, "examples_seen": 960, "eval": {"full": {"f1": 70.0 + shift}}})
        log.write_text("\n".join(json.dumps(line) for line in lines))
        evals, losses = read_log(log)
        runs.append({"label": label, "evals": evals, "losses": losses, "full_dev_f1": 71.0 + shift})
    fig = ablation_figure(runs, width=1)
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["α = 0: QA loss"].y) == [2.3, 2.1, 1.9]
    assert list(by_name["α = 0.1: quick eval (first 300 dev questions)"].y) == [70.0]
    assert list(by_name["α = 0: full dev (71.50)"].x) == [60]
