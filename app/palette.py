"""Colours shared by the passage view and the figures, so a block looks the same everywhere."""

from __future__ import annotations

from plotly.colors import sample_colorscale

KEPT = "#c7e9c0"  # light green: survived every layer
ANSWER = "#1f4fd8"  # outline of the answer span / block
GOLD = "#8e24aa"  # dashed outline of the gold answer's block: purple stands apart from blue and the red-green scale
DROP_MARK = "#b2182b"
KEEP_SCALE = "RdYlGn"  # P(keep): red = skim me, green = keep me


def drop_colors(num_layers: int) -> list[str]:
    """`num_layers` light tints, strongest for blocks dropped earliest (the predictor was most sure)."""
    if num_layers == 1:
        return sample_colorscale("OrRd", [0.45])
    return sample_colorscale("OrRd", [0.5 - 0.38 * i / (num_layers - 1) for i in range(num_layers)])
