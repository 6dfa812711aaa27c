"""`SkimTrace`: the one record of a Block-Skim run, read by the CLI, the app, the exports, eval and the tests.

Everything is plain JSON types except attention, which stays a float16 numpy array in memory and is written
as base64 (`{"shape", "dtype", "data"}`) by `to_dict`: one 384-token window with 12 heads is 1.8 MB per layer,
and nested lists would be ~10× larger and slower.
"""

from __future__ import annotations

import base64
import math
from dataclasses import asdict, dataclass, field

import numpy as np

TRACE_VERSION = 1


@dataclass
class Block:
    """A context block. `start_char:end_char` tile the window's part of the passage (whitespace goes to the
    block before it). `index` is the block's place in its window's token sequence (tokens
    `index*bs … index*bs+bs-1`); `with_question` blocks also hold [CLS]/question tokens, which are never
    dropped with them."""

    id: int
    window: int
    index: int
    start_char: int
    end_char: int
    token_start: int
    token_end: int  # exclusive
    with_question: bool


@dataclass
class LayerTrace:
    """What happened at one Transformer layer, over all windows. `tokens` entered the layer; `kept_blocks` are
    alive after the layer's cut, `dropped_blocks` were cut here, `keep_prob` maps block id (as str) → P(keep)
    for blocks the layer's predictor scored."""

    layer: int
    tokens: int
    kept_blocks: list[int]
    dropped_blocks: list[int]
    keep_prob: dict[str, float]


@dataclass
class Answer:
    text: str
    start_char: int
    end_char: int
    score: float
    window: int
    token_start: int
    token_end: int  # inclusive, as the model's end position


@dataclass
class AttentionMap:
    """Attention of one layer in one window over the tokens alive there: `weights (H, T, T)` float16 (or
    `(1, T, T)` when only the head mean was kept); `positions[t]` is row t's token index in the window."""

    layer: int
    window: int
    positions: list[int]
    weights: np.ndarray
    head_mean_only: bool = False

    def to_dict(self) -> dict:
        w = np.ascontiguousarray(self.weights, dtype=np.float16)
        return {
            "layer": self.layer,
            "window": self.window,
            "positions": self.positions,
            "head_mean_only": self.head_mean_only,
            "weights": {"shape": list(w.shape), "dtype": "float16", "data": base64.b64encode(w.tobytes()).decode()},
        }

    @classmethod
    def from_dict(cls, d: dict) -> AttentionMap:
        w = d["weights"]
        weights = np.frombuffer(base64.b64decode(w["data"]), dtype=np.float16).reshape(w["shape"])
        return cls(d["layer"], d["window"], list(d["positions"]), weights, d.get("head_mean_only", False))


@dataclass
class WindowTrace:
    """One model input: its tokens, each token's `[start, end)` in the context (None outside it)."""

    index: int
    tokens: list[str]
    offsets: list[list[int] | None]
    layer_tokens: list[int]


@dataclass
class SkimTrace:
    """One question answered by Block-Skim. Shapes: `windows[w].tokens (T_w,)`; `layers (n_layers,)`;
    `attention` holds maps only for the windows asked for (by default the answer's)."""

    question: str
    context: str
    model: str
    threshold: float
    skim: bool
    block_size: int
    num_layers: int
    answer: Answer | None
    alternatives: list[Answer]
    blocks: list[Block]
    layers: list[LayerTrace]
    windows: list[WindowTrace]
    kept_fraction: float
    timings_ms: dict[str, float]
    attention: list[AttentionMap] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    version: int = TRACE_VERSION
    skim_layers: list[int] | None = None  # the layers allowed to skim; None: every layer with a predictor
    predictor: str = "diagonal"  # the kind that judged: "diagonal" (the paper's CNN) or "question" (ours)
    layer_thresholds: list[float] | None = None  # per layer, the threshold its predictor applied (None: `threshold`)
    dtype: str = "float32"  # the forwards' arithmetic: "float32", or "bfloat16" (autocast; matmuls in bfloat16)

    def __post_init__(self) -> None:
        if len(self.layers) != self.num_layers:
            raise ValueError(f"{len(self.layers)} layer records for a {self.num_layers}-layer model")
        if [b.id for b in self.blocks] != list(range(len(self.blocks))):
            raise ValueError("block ids must be 0 … n-1 in order")
        if not 0.0 <= self.kept_fraction <= 1.0 or math.isnan(self.kept_fraction):
            raise ValueError(f"kept_fraction {self.kept_fraction} is outside [0, 1]")

    def varying_thresholds(self) -> list[float] | None:
        """Each layer's threshold where the checkpoint scaled them apart while skimming; None where one threshold
        held everywhere (the views then show `threshold` alone)."""
        if not self.skim or len(set(self.layer_thresholds or [])) < 2:
            return None
        return self.layer_thresholds

    def short_window_layers(self) -> list[int]:
        """Layers whose predictor scored some blocks but not others still alive: those of windows that had fewer
        than the model's `skim_min_tokens` tokens left there, too few for a predictor to pay for itself."""
        alive = {b.id for b in self.blocks}
        short = []
        for layer in self.layers:
            if layer.keep_prob and any(str(b) not in layer.keep_prob for b in alive):
                short.append(layer.layer)
            alive = set(layer.kept_blocks)
        return short

    def block_dropped_at(self) -> dict[int, int | None]:
        """Block id → the layer that dropped it, or None if it survived every layer."""
        dropped: dict[int, int | None] = {b.id: None for b in self.blocks}
        for layer in self.layers:
            for block_id in layer.dropped_blocks:
                dropped[block_id] = layer.layer
        return dropped

    def answer_block(self) -> Block | None:
        if self.answer is None:
            return None
        for b in self.blocks:
            if b.window == self.answer.window and b.token_start <= self.answer.token_start < b.token_end:
                return b
        return None

    def summary(self) -> dict:
        """The CLI's `--json` record: the answer, blocks and per-layer decisions, without tokens or attention."""
        answer = self.answer or Answer("", 0, 0, 0.0, 0, 0, 0)
        return {
            "question": self.question,
            "answer": answer.text,
            "score": answer.score,
            "start_char": answer.start_char,
            "end_char": answer.end_char,
            "alternatives": [asdict(a) for a in self.alternatives],
            "threshold": self.threshold,
            "skim": self.skim,
            "skim_layers": self.skim_layers,
            "predictor": self.predictor,
            "layer_thresholds": self.layer_thresholds,
            "dtype": self.dtype,
            "kept_fraction": self.kept_fraction,
            "n_windows": len(self.windows),
            "blocks": [asdict(b) for b in self.blocks],
            "layers": [asdict(layer) for layer in self.layers],
            "timings_ms": self.timings_ms,
            "warnings": self.warnings,
        }

    def to_dict(self, include_attention: bool = True) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "attention"}
        d["attention"] = [a.to_dict() for a in self.attention] if include_attention else []
        return d

    @classmethod
    def from_dict(cls, d: dict) -> SkimTrace:
        d = dict(d)
        d["answer"] = Answer(**d["answer"]) if d.get("answer") else None
        d["alternatives"] = [Answer(**a) for a in d.get("alternatives", [])]
        d["blocks"] = [Block(**b) for b in d["blocks"]]
        d["layers"] = [LayerTrace(**layer) for layer in d["layers"]]
        d["windows"] = [WindowTrace(**w) for w in d["windows"]]
        d["attention"] = [AttentionMap.from_dict(a) for a in d.get("attention", [])]
        return cls(**d)
