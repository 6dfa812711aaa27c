"""Loading a checkpoint safely and answering one question into a `SkimTrace`."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from .encoders import ENCODERS, SUPPORTED
from .fast import FastSkimReader
from .modeling import BlockSkimForQuestionAnswering, SkimQAOutput
from .qa import InputError, Window, best_spans, make_windows, truncate_question
from .trace import Answer, AttentionMap, Block, LayerTrace, SkimTrace, WindowTrace

logger = logging.getLogger(__name__)

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "assets" / "model"
SUPPORTED_MODEL_TYPES = tuple(ENCODERS)  # bert (MiniLM too), distilbert, albert, electra, roberta: skim/encoders.py
PREDICTOR_PREFIXES = ("skim_predictors.", "question_predictors.")
HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")  # a hub model id: `name` or `owner/name`


def load_model(path: str | Path | None = None) -> tuple[BlockSkimForQuestionAnswering, PreTrainedTokenizerBase]:
    """Load a Block-Skim checkpoint, or a plain `*ForQuestionAnswering` one of a supported encoder (`SUPPORTED`;
    its predictors start untrained and `model.has_predictors` is False: it answers only without skimming), from a
    local directory (safetensors only), or from the hub when `path` is not a local path and looks like a hub model
    id (`name` or `owner/name`). Raises `InputError` with one readable line."""
    path = DEFAULT_MODEL if path is None else path
    local = Path(path)
    if local.is_dir():
        config_file = local / "config.json"
        if not config_file.is_file():
            raise InputError(f"{local} has no config.json: not a model directory")
        if not any(local.glob("*.safetensors")):
            if any(local.glob("*.bin")) or any(local.glob("*.pt")) or any(local.glob("*.pth")):
                raise InputError(
                    f"{local} holds only pickled weights (.bin/.pt); they can run code when loaded, so they are "
                    "refused. Convert them to safetensors with a tool you trust."
                )
            raise InputError(f"{local} has no model.safetensors")
        try:
            model_type = json.loads(config_file.read_text(encoding="utf-8")).get("model_type")
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise InputError(f"{config_file} is not valid JSON: {err}") from None
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise InputError(f"unsupported architecture {model_type!r} in {config_file}; supported: {SUPPORTED}")
    elif not HUB_NAME.fullmatch(str(path)) or Path(str(path).split("/")[0]).exists():
        raise InputError(f"model directory not found: {path}")
    try:
        model, info = BlockSkimForQuestionAnswering.from_pretrained(
            str(path), attn_implementation="eager", use_safetensors=True, dtype=torch.float32, output_loading_info=True
        )
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    except InputError:
        raise
    except Exception as err:  # corrupt files, missing tensors, unreachable hub: all one line for the user
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        if not local.is_dir():
            reason = f"not a local directory, and the Hugging Face hub could not provide it ({reason})"
        raise InputError(f"cannot load model from {path}: {reason}") from None
    missing = info.get("missing_keys", [])
    predictor_keys = [k for k, _ in model.named_parameters() if k.startswith(PREDICTOR_PREFIXES)]
    model.has_predictors = not set(predictor_keys) <= set(missing)  # none at all: a plain QA checkpoint
    if any(k.startswith("qa_outputs") for k in missing) or (
        model.has_predictors and any(k.startswith(PREDICTOR_PREFIXES) for k in missing)
    ):
        logger.warning("%s lacks trained QA or skim-predictor weights; they were initialised at random", path)
    model.eval()
    model.name_or_path = str(path)
    return model, tokenizer


DTYPES = ("float32", "bfloat16")  # a Reader's arithmetic: the weights stay float32; bfloat16 is autocast
# "auto": bfloat16 for a passage of several windows on a CPU that multiplies it natively, else float32. Measured in
# the app here: a 26-window article's answer and views 3.0 -> 1.9 s, but a one-window input 0.39 -> 0.75 s (its
# eager read with attention maps ran slower under autocast), so only the packed many-window reads gain.
DTYPE_CHOICES = ("auto", *DTYPES)


def bfloat16_is_fast() -> bool:
    """Whether this CPU multiplies bfloat16 natively (AVX-512 BF16 or AMX), where autocast to it ran the 384-token
    bench 1.9x faster (README, Speed); elsewhere it is emulated and slower than float32."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # private helpers: a torch without them is treated as without the instructions
        return False


def autocast(dtype: str, device: torch.device):
    """The context the forwards run in for `dtype` (one of `DTYPES`)."""
    if dtype == "bfloat16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


WINDOWS_PER_FORWARD = 16  # the fast path reads a long passage's windows this many per forward, to bound memory


def batch_windows(windows: list[Window]) -> dict[str, torch.Tensor]:
    """Model inputs for `windows` as one batch, padded to the longest (`attention_mask` 0 on the padding)."""
    length = max(len(w.input_ids) for w in windows)

    def pad(values: list[int]) -> list[int]:
        return values + [0] * (length - len(values))

    return {
        "input_ids": torch.tensor([pad(w.input_ids) for w in windows]),
        "token_type_ids": torch.tensor([pad(w.token_type_ids) for w in windows]),
        "attention_mask": torch.tensor([pad([1] * len(w.input_ids)) for w in windows]),
    }


class Reader:
    """A loaded model plus tokenizer that answers questions. Thread-safe: one forward at a time, which on a small
    CPU is also the fastest way to share it."""

    def __init__(self, model: BlockSkimForQuestionAnswering, tokenizer: PreTrainedTokenizerBase, name: str = ""):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = name or str(getattr(model, "name_or_path", ""))
        self.lock = threading.Lock()
        # A fast tokenizer keeps its truncation settings in the shared Rust object and sets them on every call:
        # two threads tokenizing at once (the question alone, untruncated; the windows, truncated) can each run
        # with the other's settings, and a window came out 650 tokens long. Tokenising is quick: one at a time.
        self.tokenizer_lock = threading.Lock()
        # Answers without attention maps take the fast path: one fused reader per predictor kind.
        self.fast_readers = {
            kind: FastSkimReader(self.model, predictor=kind) for kind in self.model.config.predictor_kinds
        }
        self.fast = self.fast_readers[self.model.config.skim_default_predictor]

    @property
    def predictor_kinds(self) -> list[str]:
        return self.model.config.predictor_kinds

    def check_predictor(self, predictor: str | None) -> str:
        """The predictor kind to use (None: the checkpoint's default), or `InputError` (one line)."""
        try:
            return self.model.check_predictor(predictor)
        except ValueError as err:
            raise InputError(str(err)) from None

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None) -> Reader:
        model, tokenizer = load_model(path)
        return cls(model, tokenizer, str(path or DEFAULT_MODEL))

    @property
    def max_length(self) -> int:
        return min(384, self.model.config.max_position_embeddings)

    def __call__(
        self,
        question: str,
        context: str,
        threshold: float | None = None,
        skim: bool = True,
        attention: str = "heads",
        top_k: int = 5,
        max_answer_tokens: int = 30,
        stride: int = 128,
        skim_layers: Sequence[int] | None = None,
        predictor: str | None = None,
        dtype: str = "float32",
    ) -> SkimTrace:
        """Answer `question` from `context`. `attention`: "heads" (every head, float16), "mean" (head mean) or
        "none"; kept for the answer's window only, which bounds a trace at ~layers × heads × 384² × 2 bytes.
        `skim_layers`: skim only after these of the model's predictor layers (None: all of them). `predictor`: the
        kind that judges, "diagonal" (the paper's) or "question" (None: the checkpoint's default); the default
        threshold is that kind's. `dtype`: "float32", "bfloat16" (autocast: faster where `bfloat16_is_fast()`,
        scores and answers can differ slightly) or "auto" (`DTYPE_CHOICES`); the trace records the one used."""
        if not isinstance(question, str) or not isinstance(context, str):
            raise InputError("question and passage must be text")
        for name, text in (("question", question), ("passage", context)):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:  # lone surrogates: undecodable bytes smuggled in through argv or a file API
                raise InputError(f"the {name} is not valid UTF-8 text") from None
        t0 = time.perf_counter()
        predictor = self.check_predictor(predictor)
        threshold = self.model.config.default_threshold(predictor) if threshold is None else float(threshold)
        if math.isnan(threshold):
            raise InputError("threshold must be a number between 0 and 1")
        skim_layers = self.check_skim_layers(skim_layers)
        if dtype not in DTYPE_CHOICES:
            raise InputError(f"dtype must be one of {', '.join(DTYPE_CHOICES)}, got {dtype!r}")
        question, cut, windows = self.windows(question, context, stride)
        if dtype == "auto":
            dtype = "bfloat16" if len(windows) > 1 and bfloat16_is_fast() else "float32"
        t_tok = time.perf_counter()
        warnings = [f"the question was cut to its first {len(question)} characters (64 tokens)"] if cut else []
        if len(windows) > 1:
            warnings.append(f"the passage is longer than one model input: read as {len(windows)} overlapping windows")

        # Attention maps are kept for one window only. A passage of one window is read with them at once; one of
        # many windows is read by the fast path in packed batches, and only the answer's window is read again with
        # its maps (a 26-window article: one batched pass and one eager window, instead of 26 eager windows).
        trace_later = attention != "none" and len(windows) > 1
        applied = self.model.config.passage_threshold(predictor, threshold, len(windows))  # what the layers get
        if attention == "none" or trace_later:
            outputs = self._read_batched(windows, predictor, applied, skim, skim_layers, dtype)
        else:
            outputs = list(self._read_traced(windows, predictor, applied, skim, skim_layers, dtype))

        def decided(window: Window, out: SkimQAOutput):
            """The window, its per-layer decisions and its best spans: attention of every window at once would be
            GBs on a long passage."""
            start, end = out.start_logits[0].float(), out.end_logits[0].float()  # bfloat16 under autocast
            spans = best_spans(start, end, window.offsets, max_answer_tokens, top_k)
            kept = SkimQAOutput(keep_probs=out.keep_probs, alive=out.alive, layer_tokens=out.layer_tokens)
            return window, kept, spans

        runs = [decided(window, out) for window, (out, _) in zip(windows, outputs)]
        model_ms = fast_ms = sum(ms for _, ms in outputs)  # fast_ms: every window without attention maps
        kept_attention: list[AttentionMap] = []
        if trace_later:  # the answer's window (the first if nothing answered), now with its attention maps
            answered = [(spans[0].logit, w) for w, (_, _, spans) in enumerate(runs) if spans]
            w = max(answered, key=lambda a: a[0])[1] if answered else 0  # the first of equal logits
            out, ms = next(self._read_traced([windows[w]], predictor, applied, skim, skim_layers, dtype))
            model_ms += ms
            runs[w] = decided(windows[w], out)
            kept_attention = self._attention(out, w, attention)
        elif outputs:
            kept_attention = self._attention(outputs[0][0], 0, attention)  # a one-window passage's maps, if read

        candidates = sorted(
            ((s.logit, w, s) for w, (_, _, spans) in enumerate(runs) for s in spans), key=lambda c: -c[0]
        )
        answers = [self._answer(context, windows[w], w, s) for _, w, s in candidates[:top_k]]
        blocks, layers, window_traces = self._decisions(runs, context)
        min_tokens = self.model.config.skim_min_tokens
        if skim and threshold > 0 and all(wt.layer_tokens[0] < min_tokens for wt in window_traces):
            longest = max(wt.layer_tokens[0] for wt in window_traces)
            warnings.append(
                f"nothing was judged: this input is {longest} tokens, under the model's skim_min_tokens "
                f"({min_tokens}), where the predictors would cost more than the blocks they could drop"
            )
        processed = sum(sum(wt.layer_tokens) for wt in window_traces)
        total = sum(len(wt.tokens) for wt in window_traces) * self.model.config.num_hidden_layers
        end = time.perf_counter()
        return SkimTrace(
            question=question,
            context=context,
            model=self.name,
            threshold=threshold,
            skim=skim,
            layer_thresholds=self.model.config.layer_thresholds(predictor, applied) if skim else None,
            block_size=self.model.config.skim_block_size,
            num_layers=self.model.config.num_hidden_layers,
            answer=answers[0] if answers else None,
            alternatives=answers[1:],
            blocks=blocks,
            layers=layers,
            windows=window_traces,
            kept_fraction=processed / total,
            timings_ms={
                "total": (end - t0) * 1000,
                "tokenize": (t_tok - t0) * 1000,
                "model": model_ms,
                "decode": (end - t_tok) * 1000 - model_ms,  # span search and building this record
                **({"model_fast": fast_ms} if trace_later else {}),  # the fast path alone, before the maps' re-read
            },
            attention=kept_attention,
            warnings=warnings,
            skim_layers=skim_layers,
            predictor=predictor,
            dtype=dtype,
        )

    def _read_traced(
        self,
        windows: list[Window],
        predictor: str,
        threshold: float,
        skim: bool,
        skim_layers: list[int] | None,
        dtype: str = "float32",
    ):
        """`(output with attentions, ms)` per window, one model forward each, lazily."""
        for window in windows:
            t = time.perf_counter()
            with self.lock, torch.inference_mode(), autocast(dtype, self.model.device):
                out = self.model(
                    **window.tensors(self.model.device),
                    threshold=threshold,
                    skim=skim,
                    output_attentions=True,
                    skim_layers=skim_layers,
                    predictor=predictor,
                )
            yield out, (time.perf_counter() - t) * 1000

    def _read_batched(
        self,
        windows: list[Window],
        predictor: str,
        threshold: float,
        skim: bool,
        skim_layers: list[int] | None,
        dtype: str = "float32",
    ) -> list[tuple[SkimQAOutput, float]]:
        """`(output, ms)` per window from fast-path forwards of up to `WINDOWS_PER_FORWARD` windows each (padded
        to the chunk's longest; each window's blocks are judged and removed on their own). Each output is that
        window's alone, as a batch of one cut to its own length; a chunk's ms go to its first window."""
        fast = self.fast_readers[predictor]
        bs = self.model.config.skim_block_size
        results = []
        for at in range(0, len(windows), WINDOWS_PER_FORWARD):
            chunk = windows[at : at + WINDOWS_PER_FORWARD]
            t = time.perf_counter()
            with self.lock, torch.inference_mode(), autocast(dtype, self.model.device):
                inputs = {k: v.to(self.model.device) for k, v in batch_windows(chunk).items()}
                out = fast(**inputs, threshold=threshold, skim=skim, layers=skim_layers)
            ms = (time.perf_counter() - t) * 1000
            for b, window in enumerate(chunk):
                n = len(window.input_ids)
                blocks = math.ceil(n / bs)
                one = SkimQAOutput(
                    start_logits=out.start_logits[b : b + 1, :n],
                    end_logits=out.end_logits[b : b + 1, :n],
                    keep_probs=tuple(p[b : b + 1, :blocks] for p in out.keep_probs),
                    alive=tuple(a[b : b + 1, :blocks] for a in out.alive),
                    layer_tokens=out.layer_tokens[b : b + 1],
                )
                results.append((one, ms if b == 0 else 0.0))
        return results

    def check_skim_layers(self, skim_layers: Sequence[int] | None) -> list[int] | None:
        """`skim_layers` sorted and de-duplicated, or `InputError` (one line) unless they are predictor layers."""
        if skim_layers is None:
            return None
        allowed = self.model.config.predictor_layers
        try:
            chosen = sorted({int(i) for i in skim_layers})
        except (TypeError, ValueError):
            raise InputError(f"skim layers must be layer numbers among {allowed}") from None
        if not set(chosen) <= set(allowed):
            raise InputError(f"skim layers must be among the model's predictor layers {allowed}, got {chosen}")
        return chosen

    def windows(self, question: str, context: str, stride: int = 128) -> tuple[str, bool, list[Window]]:
        """The question as it is read (cut to 64 tokens; whether it was cut) and the passage's model inputs."""
        with self.tokenizer_lock:
            question, cut = truncate_question(self.tokenizer, question)
            return question, cut, make_windows(self.tokenizer, question, context, self.max_length, stride)

    @staticmethod
    def _answer(context: str, window: Window, w: int, span) -> Answer:
        start, end = window.offsets[span.start_token][0], window.offsets[span.end_token][1]
        return Answer(context[start:end], start, end, span.score, w, span.start_token, span.end_token)

    @staticmethod
    def _attention(out, w: int, mode: str) -> list[AttentionMap]:
        if mode == "none":
            return []
        maps = []
        for i, (probs, pos) in enumerate(zip(out.attentions, out.positions)):
            weights = probs[0].float()
            if mode == "mean":
                weights = weights.mean(0, keepdim=True)
            # torch's half() is ~100x faster than numpy's astype(float16) on these arrays
            maps.append(AttentionMap(i, w, pos[0].tolist(), weights.half().numpy(), mode == "mean"))
        return maps

    def _decisions(self, runs, context: str) -> tuple[list[Block], list[LayerTrace], list[WindowTrace]]:
        """Turn per-window block tensors into context blocks with ids, and per-layer keep/drop records."""
        bs = self.model.config.skim_block_size
        blocks: list[Block] = []
        layers = [LayerTrace(i, 0, [], [], {}) for i in range(self.model.config.num_hidden_layers)]
        windows = []
        for w, (window, out, _) in enumerate(runs):
            n = len(window.input_ids)
            ids_here = {}
            for k in range(math.ceil(n / bs)):
                span = range(k * bs, min((k + 1) * bs, n))
                context_tokens = [t for t in span if window.offsets[t] is not None]
                if not context_tokens:
                    continue
                with_question = any(window.token_type_ids[t] == 0 for t in span)
                ids_here[k] = len(blocks)
                start = window.offsets[context_tokens[0]][0]
                blocks.append(
                    Block(
                        len(blocks),
                        w,
                        k,
                        start,
                        window.offsets[context_tokens[-1]][1],
                        k * bs,
                        span.stop,
                        with_question,
                    )
                )
            here = [blocks[i] for i in ids_here.values()]
            for a, b in zip(here, here[1:]):
                # Tile the window: whitespace between tokens joins the earlier block, and so does a character
                # whose pieces straddle the cut (they share its offsets); the next block starts after it.
                cut = max(a.end_char, b.start_char)
                a.end_char = b.start_char = cut
                b.end_char = max(b.end_char, cut)
            if w == 0 and here:
                here[0].start_char = 0
            if w == len(runs) - 1 and here:
                here[-1].end_char = len(context)
            alive_before = {k: True for k in ids_here}
            for i, layer in enumerate(layers):
                alive = out.alive[i][0]
                probs = out.keep_probs[i][0]
                layer.tokens += int(out.layer_tokens[0, i])
                for k, block_id in ids_here.items():
                    if not math.isnan(float(probs[k])):
                        layer.keep_prob[str(block_id)] = round(float(probs[k]), 6)
                    if alive[k]:
                        layer.kept_blocks.append(block_id)
                    elif alive_before[k]:
                        layer.dropped_blocks.append(block_id)
                    alive_before[k] = bool(alive[k])
            offsets = [list(o) if o is not None else None for o in window.offsets]
            windows.append(WindowTrace(w, window.tokens, offsets, out.layer_tokens[0].tolist()))
        return blocks, layers, windows
