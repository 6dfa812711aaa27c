"""The two kinds of skim predictor, in the app's words: labels, colours and what a threshold means for each.
No Streamlit here."""

from __future__ import annotations

from skim import SkimConfig

LABELS = {"question": "Question-aware (ours)", "diagonal": "Diagonal (paper)"}
COLORS = {"question": "#1b9e77", "diagonal": "#d95f02"}  # ColorBrewer Dark2: apart from the blue answer colour
OTHER_COLORS = ("#7570b3", "#e7298a", "#66a61e")  # a kind this app does not know yet

THRESHOLD_MEANING = {
    "diagonal": "**Diagonal (paper)**: the score is the CNN's P(keep), whose scale differs from layer to layer; "
    "the paper's scripts use 0.001–0.01.",
    "question": "**Question-aware (ours)**: the score is calibrated on held-out questions, so threshold t loses "
    "about a fraction t of the answer blocks at each skimming layer (0.02: about 2 % per layer).",
}


def kind_label(kind: str) -> str:
    return LABELS.get(kind, kind)


def kind_color(kind: str, i: int = 0) -> str:
    return COLORS.get(kind, OTHER_COLORS[i % len(OTHER_COLORS)])


def threshold_help(config: SkimConfig) -> str:
    """The threshold slider's help: what a threshold means for each kind the model holds."""
    lines = ["A block whose keep score falls below this is removed after that layer; 0 keeps everything."]
    for kind in config.predictor_kinds:
        meaning = THRESHOLD_MEANING.get(kind, f"**{kind}**: see the model card.")
        lines.append(f"{meaning} Default {config.default_threshold(kind):g}.")
        scales = config.skim_question_layer_scales if kind == "question" else None
        if scales and len(set(scales)) > 1:
            per_layer = ", ".join(f"L{i} ×{s:g}" for i, s in enumerate(scales))
            lines.append(
                f"This checkpoint scales the question kind's threshold per layer ({per_layer}; ×0: not judged): an "
                "early drop saves every later layer, so the early layers spend more of the answer-block budget."
            )
        many = config.skim_question_many_windows_scale if kind == "question" else None
        if many and many != 1:
            fewest = config.many_windows_from
            passage = "several windows" if fewest == 2 else f"{fewest} windows or more"
            lines.append(
                f"A passage read in {passage} gets ×{many:g} the question kind's threshold in every window: "
                "most of its windows cannot hold the answer, and their competing spans are what a cut removes."
            )
    if len(config.predictor_kinds) > 1:
        lines.append("Switching the predictor moves the slider to that kind's default.")
    return "\n\n".join(lines)


def default_thresholds(config: SkimConfig) -> str:
    """`default threshold 0.3`, or with several kinds `default thresholds: diagonal 0.3, question 0.02`."""
    kinds = config.predictor_kinds
    if len(kinds) == 1:
        return f"default threshold {config.default_threshold(kinds[0]):g}"
    return "default thresholds: " + ", ".join(f"{k} {config.default_threshold(k):g}" for k in kinds)
