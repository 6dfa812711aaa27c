"""Block-Skim settings, stored in config.json beside the encoder's own BERT settings."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import BertConfig


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
    """

    skim_block_size: int = 32
    skim_layers: list[int] | None = None
    skim_threshold: float = 0.01
    skim_alpha: float = 0.1
    skim_beta: float = 20.0

    @property
    def predictor_layers(self) -> list[int]:
        if self.skim_layers is None:
            return list(range(self.num_hidden_layers))
        return sorted(set(self.skim_layers))
