"""Block-Skim settings, stored in config.json beside the encoder's own BERT settings."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import BertConfig, PreTrainedConfig


@strict
class SkimConfig(BertConfig):
    r"""A `BertConfig` plus the Block-Skim fields (Guan et al., AAAI 2022).

    Keeping `model_type = "bert"` means a shipped checkpoint also loads as a plain
    `AutoModelForQuestionAnswering` (the predictors are then ignored): that is the full-model baseline.

    skim_block_size: tokens per block; the predictor reads the block's diagonal `H×bs×bs` attention.
    skim_layers: layers followed by a predictor (and a cut); `None` means every layer, as in the paper.
    skim_threshold: a block whose P(keep) is below this is removed. The paper's scripts use 0.001-0.01.
    skim_alpha: weight of the summed per-layer skim loss ("skim_factor" in the original code).
    skim_beta: class weight of the keep class; answer blocks are rare, so they are up-weighted.
    skim_predictor_kinds: the predictor kinds this checkpoint holds, each after every predictor layer:
        "diagonal" (the paper's CNN over a block's diagonal attention square) and/or "question" (ours: an MLP over
        the question↔block attention). Checkpoints from before the question kind hold only "diagonal".
    skim_default_predictor: the kind that judges unless another is asked for.
    skim_question_threshold: the question kind's default threshold. Its scores are calibrated (see
        `QuestionPredictor`): at threshold t each skimming layer loses about a fraction t of the answer blocks.
    skim_min_tokens: a predictor runs on an input only while at least this many of its tokens are alive: below
        that, what it could still remove saves less than the predictor costs (measured: README, Speed).
    skim_question_layer_scales: per encoder layer, the multiple of the question kind's threshold that layer's
        predictor applies (`None`: 1 everywhere). A drop after an early layer saves every later layer, so the
        early layers can spend more of the answer-block budget; a layer at 0 does not run its predictor at all
        while skimming. Chosen on held-out training questions (`scripts/layer_schedule.py`).
    skim_question_many_windows_scale: the multiple of the question kind's threshold applied to every window of a
        passage read in more than one window (`None`: 1). Most windows of a long passage cannot hold the answer,
        and its competing spans are what a cut removes, so a long passage pays for a higher threshold than one
        window does (measured on whole articles: README, Speed).
    skim_question_many_windows_min: the fewest windows a passage needs for that multiple to apply (`None`: 2, any
        passage of several windows). On held-out questions a doubled threshold cost 1.2 F1 on passages of two
        windows and nothing measurable from four on (README, Speed).
    """

    skim_block_size: int = 32
    skim_layers: list[int] | None = None
    skim_threshold: float = 0.01
    skim_alpha: float = 0.1
    skim_beta: float = 20.0
    skim_predictor_kinds: list[str] | None = None
    skim_default_predictor: str = "diagonal"
    skim_question_threshold: float = 0.02
    skim_min_tokens: int = 0
    skim_question_layer_scales: list[float] | None = None
    skim_question_many_windows_scale: float | None = None
    skim_question_many_windows_min: int | None = None

    @property
    def predictor_layers(self) -> list[int]:
        if self.skim_layers is None:
            return list(range(self.num_hidden_layers))
        return sorted(set(self.skim_layers))

    @property
    def predictor_kinds(self) -> list[str]:
        return list(self.skim_predictor_kinds or ["diagonal"])

    def default_threshold(self, kind: str) -> float:
        return self.skim_question_threshold if kind == "question" else self.skim_threshold

    def layer_thresholds(self, kind: str, threshold: float) -> list[float]:
        """Per encoder layer, the threshold that layer's `kind` predictor applies when `threshold` is asked for.
        0 (score only, drop nothing) and ≥ 1 (drop every block) mean the same in every layer."""
        scales = self.skim_question_layer_scales if kind == "question" else None
        if scales is None or threshold <= 0 or threshold >= 1:
            return [threshold] * self.num_hidden_layers
        if len(scales) != self.num_hidden_layers:
            raise ValueError(
                f"skim_question_layer_scales has {len(scales)} entries for {self.num_hidden_layers} layers"
            )
        return [threshold * float(s) for s in scales]

    @property
    def many_windows_from(self) -> int:
        """The fewest windows a passage needs for `skim_question_many_windows_scale` to apply (at least 2)."""
        return max(2, self.skim_question_many_windows_min or 2)

    def passage_threshold(self, kind: str, threshold: float, windows: int) -> float:
        """The threshold `kind`'s predictors are given for a passage read in `windows` windows when `threshold` is
        asked for (`layer_thresholds` then spreads it over the layers). 0 and ≥ 1 are never rescaled."""
        many = kind == "question" and windows >= self.many_windows_from
        scale = self.skim_question_many_windows_scale if many else None
        if scale is None or threshold <= 0 or threshold >= 1:
            return threshold
        return threshold * float(scale)


SKIM_METHODS = (
    "predictor_layers", "predictor_kinds", "default_threshold", "layer_thresholds", "many_windows_from",
    "passage_threshold",
)  # fmt: skip


def skim_config_class(base: type[PreTrainedConfig]) -> type[PreTrainedConfig]:
    """`base` (an encoder's own config class, e.g. `DistilBertConfig`) with `SkimConfig`'s Block-Skim fields and
    helpers, for the encoders that are not BERT.

    Why a generated subclass and not a second declaration: `SkimConfig` is the one place the Block-Skim fields are
    written, and every other encoder gets exactly those, typed and with their defaults, so `save_pretrained` writes
    them into config.json beside the encoder's own settings and everything downstream reads `config.skim_*` whatever
    the encoder. `model_type` stays the base's, so a Block-Skim checkpoint of any encoder still loads as that
    encoder's plain `AutoModelForQuestionAnswering` (which ignores the extra fields and weights), and a plain QA
    checkpoint loads into this class with the defaults.
    """
    if issubclass(SkimConfig, base):
        return SkimConfig
    fields = dict(SkimConfig.__annotations__)  # SkimConfig's own fields only, not BertConfig's
    namespace = {name: SkimConfig.__dataclass_fields__[name].default for name in fields}
    namespace.update({name: SkimConfig.__dict__[name] for name in SKIM_METHODS})
    name = f"Skim{base.__name__}"
    namespace.update(
        __annotations__=fields,
        __module__=__name__,
        __qualname__=name,
        __doc__=(
            f"A `{base.__name__}` plus the Block-Skim fields of `SkimConfig` (see there); made by `skim_config_class`."
        ),
    )
    return strict(type(name, (base,), namespace))
