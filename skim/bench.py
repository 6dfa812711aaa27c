"""Wall-clock benchmark: Hugging Face's SDPA QA model vs our model without and with skimming, same inputs,
same weights, same dtype, one process.

Inputs are real SQuAD dev questions. By default each passage is made at least `seq_len` tokens long by joining
the gold paragraph with its article's neighbouring paragraphs (alternately before and after it), and the
timed input is a `seq_len`-token window that holds the answer: the long-input case Block-Skim is for.
`native=True` uses the gold paragraph alone, unpadded (most SQuAD paragraphs fit one window). `articles=True`
asks each question of its whole article, read as the Reader reads it: 384-token windows with a 128-token
stride, up to 16 windows per forward; a question's time is the forwards of all its windows, its answer the best
span across them (`skim/bench_articles.py`). The Pareto plot of a sweep is in `skim/bench_figures.py`.

Times are the median over `repeats` of one forward call (tokenising and span decoding excluded), averaged over
the batches; the three models are timed in turn on each batch so that machine noise hits all of them alike.
"""

from __future__ import annotations

import bisect
import math
import statistics
import time
from collections import defaultdict
from contextlib import nullcontext

import torch
from tqdm.auto import tqdm
from transformers import AutoModelForQuestionAnswering

from .bench_figures import PAPER_FLOPS_SPEEDUP as PAPER_FLOPS_SPEEDUP
from .bench_figures import pareto_figure as pareto_figure
from .bench_figures import write_figure as write_figure
from .bench_figures import write_pareto as write_pareto
from .cost import predictor_cost
from .data import article_paragraphs, lengthen
from .fast import FastSkimReader
from .inference import DEFAULT_MODEL, batch_windows, load_model
from .metrics import best_over_truths, f1_score
from .qa import InputError, Window, best_spans, make_windows


def bench_inputs(tokenizer, rows: list[dict], seq_len: int, n: int, native: bool = False) -> list[dict]:
    """`n` questions spread evenly over `rows`, each as one window (`seq_len` tokens unless `native`) holding
    the gold answer: `{"window": Window, "context": str, "answers": [...], "span": (start, end) characters}`."""
    paragraphs = article_paragraphs([r["title"] for r in rows], [r["context"] for r in rows])
    step = max(1, len(rows) // n)
    inputs = []
    for row in rows[::step]:
        context, start = row["context"], row["answers"]["answer_start"][0]
        if not native:
            context, start = lengthen(row, paragraphs[row["title"]], lambda text: _tokens(tokenizer, text) >= seq_len)
        end = start + len(row["answers"]["text"][0])
        windows = make_windows(tokenizer, row["question"], context, seq_len, min(128, seq_len // 3))
        holding = [w for w in windows if _holds(w, start, end)]
        full_length = [w for w in holding if len(w.input_ids) == seq_len]
        if not holding or (not native and not full_length):
            continue  # the answer straddles every window cut, or the article is too short to fill seq_len
        window = (full_length or holding)[0]
        inputs.append({"window": window, "context": context, "answers": row["answers"]["text"], "span": (start, end)})
        if len(inputs) == n:
            break
    return inputs


def _ffn_width(cfg) -> int:
    """The feed-forward width: `intermediate_size`, DistilBERT's `hidden_dim`."""
    width = getattr(cfg, "intermediate_size", None)
    return cfg.hidden_dim if width is None else width


def hf_inputs(model, inputs: dict) -> dict:
    """`inputs` for Hugging Face's own model of `model`'s encoder: without `token_type_ids` where the encoder
    embeds none (RoBERTa's one-row type table would be indexed out of range; DistilBERT takes no such argument).
    Ours are the segment mask, which only BERT-style token-type embeddings read as token types."""
    if model.adapter.token_types:
        return inputs
    return {k: v for k, v in inputs.items() if k != "token_type_ids"}


def _tokens(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _holds(window: Window, start: int, end: int) -> bool:
    spans = [o for o in window.offsets if o is not None]
    return bool(spans) and spans[0][0] <= start and end <= spans[-1][1]


def _batch(windows: list[Window]) -> dict[str, torch.Tensor]:
    """Pad to the batch's longest window (the Reader's own batching)."""
    return batch_windows(windows)


def _answer_f1(start_logits, end_logits, item: dict) -> float:
    window = item["window"]
    n = len(window.input_ids)
    spans = best_spans(start_logits[:n], end_logits[:n], window.offsets, 30, 1)
    if not spans:
        return 0.0
    text = item["context"][window.offsets[spans[0].start_token][0] : window.offsets[spans[0].end_token][1]]
    return best_over_truths(f1_score, text, item["answers"])


def _count_work(out, inputs: dict, cfg, tokens: list, flop_sums: list) -> None:
    """Add one batch's token-layers and FLOPs (skimmed, full, and skimmed as if padded to 512) to the sums."""
    layers = cfg.num_hidden_layers
    for b, length in enumerate(inputs["attention_mask"].sum(1).tolist()):
        tokens_in = out.layer_tokens[b].tolist()
        tokens_out = tokens_in[1:] + [int(torch.isfinite(out.start_logits[b]).sum())]  # every survivor has a logit
        tokens[0] += sum(tokens_in)
        tokens[1] += length * layers
        flop_sums[0] += flops(tokens_in, tokens_out, cfg.hidden_size, _ffn_width(cfg))
        flop_sums[1] += flops([length] * layers, [length] * layers, cfg.hidden_size, _ffn_width(cfg))
        # The paper pads to 512 and its predictors drop the padding blocks after the first layer's attention.
        flop_sums[2] += flops([512] + tokens_in[1:], tokens_out, cfg.hidden_size, _ffn_width(cfg))


def gold_blocks(window: Window, start: int, end: int, block_size: int) -> set[int]:
    """The blocks of `window` holding at least one token of the gold answer `[start, end)` (characters)."""
    return {t // block_size for t, o in enumerate(window.offsets) if o is not None and o[0] < end and o[1] > start}


def block_scores(fast: FastSkimReader, items, score=None) -> tuple[dict[int, list[float]], dict[int, list[float]]]:
    """Per layer, the P(keep) (through `score`, if given) of every block that layer scores, over bench `items`
    (`{"window": Window, "span": (start, end)}`, any iterable), each window alone at threshold 0 on the model's
    device: `(answer blocks' scores, other blocks' scores)`, both `{layer: [...]}`."""
    gold: dict[int, list[float]] = defaultdict(list)
    other: dict[int, list[float]] = defaultdict(list)
    for item in items:
        window, (start, end) = item["window"], item["span"]
        out = fast(**{k: v.to(fast.model.device) for k, v in _batch([window]).items()}, threshold=0.0)
        answer = gold_blocks(window, start, end, fast.block_size)
        for layer, probs in enumerate(out.keep_probs):
            for block, p in enumerate(probs[0].tolist()):
                if not math.isnan(p):
                    (gold if block in answer else other)[layer].append(p if score is None else score(p))
    return gold, other


def predictor_auc(fast: FastSkimReader, items: list[dict]) -> list[float | None]:
    """Per layer, how well P(keep) ranks the gold answer's block above the other blocks of the same inputs
    (ROC AUC: 1 = perfect, 0.5 = chance), every block scored at every layer (threshold 0, untimed). A layer
    can only skim safely where this is high; it says where the speed-up is lost."""
    gold_probs, other_probs = block_scores(fast, items)
    return [
        _auc(gold_probs[i], other_probs[i]) if gold_probs[i] and other_probs[i] else None
        for i in range(len(fast.layers))
    ]


def _auc(positives: list[float], negatives: list[float]) -> float:
    """P(a random positive scores above a random negative), ties count half (the Mann-Whitney statistic)."""
    negatives = sorted(negatives)
    wins = 0.0
    for p in positives:
        below, not_above = bisect.bisect_left(negatives, p), bisect.bisect_right(negatives, p)
        wins += below + 0.5 * (not_above - below)
    return wins / (len(positives) * len(negatives))


def time_runners(runners: dict, inputs: dict, repeats: int) -> tuple[dict[str, float], dict]:
    """Median ms of each runner on `inputs` over `repeats` rounds, the runners taking turns within a round so that
    machine noise hits all alike, after one untimed warm-up call each (a new shape pays one-off set-up); and each
    runner's output from the first round."""
    for run in runners.values():
        run(inputs)
    samples, outputs = defaultdict(list), {}
    for _ in range(repeats):
        for name, run in runners.items():
            start = time.perf_counter()
            out = run(inputs)
            samples[name].append((time.perf_counter() - start) * 1000)
            outputs.setdefault(name, out)
    return {name: statistics.median(values) for name, values in samples.items()}, outputs


def time_questions(
    runners: dict, items: list[dict], depth: int, repeats: int = 5, before=None, desc: str = "timing"
) -> list[dict]:
    """Batch-1 timing of `runners` (one must be "hf", the reference) over bench `items`, each item's calls in turn
    (`time_runners`). `before(item)`, if given, runs first for each item (e.g. to give a `FixedKeep` its
    answers). One row per runner: mean ms, speed-up over "hf", kept fraction (token-layers processed over
    `depth` × tokens; HF keeps every token), 1 ÷ that, and F1 (0-100)."""
    times, f1s, kept = ({name: [] for name in runners} for _ in range(3))
    for item in tqdm(items, desc=desc, unit="question"):
        if before is not None:
            before(item)
        window = item["window"]
        medians, outputs = time_runners(runners, _batch([window]), repeats)
        for name, out in outputs.items():
            times[name].append(medians[name])
            f1s[name].append(_answer_f1(out.start_logits[0].float(), out.end_logits[0].float(), item))
            tokens = getattr(out, "layer_tokens", None)
            kept[name].append(1.0 if tokens is None else float(tokens[0].sum()) / (depth * len(window.input_ids)))
    hf_ms = statistics.mean(times["hf"])
    rows = []
    for name in runners:
        ms, fraction = statistics.mean(times[name]), statistics.mean(kept[name])
        rows.append(
            {
                "run": name,
                "ms": ms,
                "speedup_vs_hf": hf_ms / ms,
                "kept_fraction": fraction,
                "limit_speedup": 1 / fraction,
                "f1": 100 * statistics.mean(f1s[name]),
            }
        )
    return rows


class FixedKeep:
    """Stands in for one layer's predictor: pays the real predictor's cost, then answers with the P(keep) given in
    `probs` for the input's scorable blocks, in block order. The ceiling and probe scripts use it to time skimming
    under decisions made elsewhere (the gold answer, a probe) on the real fast path. One input at a time, in a
    reader that skims after this layer only, so that every scorable block is still there when it is scored."""

    def __init__(self, predictor):
        self.predictor = predictor
        self.reads = predictor.reads  # what the fast path must hand it: diagonal squares or question features
        self.probs: torch.Tensor | None = None

    def keep_prob(self, *inputs: torch.Tensor) -> torch.Tensor:
        scored = len(self.predictor.keep_prob(*inputs))
        if self.probs is None or len(self.probs) != scored:
            raise ValueError(
                f"FixedKeep got {scored} blocks to score but holds answers for "
                f"{None if self.probs is None else len(self.probs)}"
            )
        return self.probs


def scorable_blocks(window: Window, block_size: int) -> list[int]:
    """The blocks a predictor scores, in order: those holding a second-segment token (passage text or the final
    [SEP]), the model's own rule."""
    return sorted({t // block_size for t, segment in enumerate(window.token_type_ids) if segment})


def flops(tokens_in: list[int], tokens_out: list[int], hidden: int, intermediate: int) -> float:
    """Multiply-adds ×2 of a BERT encoder whose layer i attends over `tokens_in[i]` tokens and runs its
    feed-forward on the `tokens_out[i]` survivors of that layer's cut (predictors ~0.1 %, left out)."""
    total = 0.0
    for t, t_out in zip(tokens_in, tokens_out):
        total += 2 * (4 * t * hidden * hidden + 2 * t * t * hidden)  # Q, K, V, output; scores and context
        total += 2 * (2 * t_out * hidden * intermediate)  # feed-forward
    return total


COST_INPUTS = 10  # inputs on which one layer is timed with and without each predictor kind (skim/cost.py)
SWEEP_THRESHOLDS = [0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
# The question kind's calibrated threshold t loses about t of the answer blocks per layer: its useful range is near 0.
QUESTION_SWEEP_THRESHOLDS = [0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3]
SWEEP_THRESHOLDS_BY_KIND = {"diagonal": SWEEP_THRESHOLDS, "question": QUESTION_SWEEP_THRESHOLDS}


def run_bench(
    model_dir,
    rows: list[dict],
    seq_len: int = 384,
    batch_size: int = 1,
    n: int = 100,
    thresholds: list[float] | None = None,
    dtype: str = "float32",
    repeats: int = 5,
    native: bool = False,
    skim_layers: list[int] | None = None,
    predictor: str | None = None,
    articles: bool = False,
    sweep: bool = False,
) -> list[dict]:
    """One result dict (the CLI's JSON keys) per threshold; the HF and full timings are shared by all. `predictor`:
    the kind that judges (None: the checkpoint's default; its default threshold when `thresholds` is None).
    `articles`: whole articles, see the module's docstring (`seq_len`, `batch_size` and `native` do not apply).
    `sweep`: every threshold of the kind's sweep grid instead of `thresholds`."""
    model, tokenizer = load_model(model_dir)
    try:
        predictor = model.check_predictor(predictor)  # one line, before loading anything else
    except ValueError as err:
        raise InputError(str(err)) from None
    if sweep:  # the judging kind's own grid (`SWEEP_THRESHOLDS_BY_KIND`)
        thresholds = SWEEP_THRESHOLDS_BY_KIND[predictor]
    thresholds = [model.config.default_threshold(predictor)] if thresholds is None else thresholds
    fast = FastSkimReader(model, layers=skim_layers, predictor=predictor)
    hf = AutoModelForQuestionAnswering.from_pretrained(str(model_dir or DEFAULT_MODEL), attn_implementation="sdpa")
    hf.eval()
    if articles:
        from .bench_articles import run_article_bench  # which imports this module's helpers

        return run_article_bench(model, tokenizer, fast, hf, rows, n, thresholds, dtype, repeats)
    items = bench_inputs(tokenizer, rows, seq_len, n, native)
    batches = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if dtype == "bfloat16" else nullcontext()
    runners = {"hf": lambda x: hf(**hf_inputs(model, x)), "full": lambda x: fast(**x, skim=False)}
    for t in thresholds:
        runners[f"skim@{t}"] = lambda x, t=t: fast(**x, threshold=t)
    if batch_size > 1:  # survivors padded to the batch's longest, matmuls on padding too: what packing saves
        padded_fast = FastSkimReader(model, pack=False, layers=skim_layers, predictor=predictor)
        for t in thresholds:
            runners[f"padded@{t}"] = lambda x, t=t: padded_fast(**x, threshold=t)

    times: dict[str, list[float]] = defaultdict(list)
    f1s: dict[str, list[float]] = defaultdict(list)
    tokens = {t: [0, 0] for t in thresholds}  # token-layers processed, token-layers in the full model
    flop_sums = {t: [0.0, 0.0, 0.0] for t in thresholds}  # skim, full (unpadded), skim with padding to 512
    cfg = model.config
    with torch.inference_mode(), autocast:
        for batch in tqdm(batches, desc=f"bench {dtype} b{batch_size}", unit="batch"):
            inputs = _batch([item["window"] for item in batch])
            medians, outputs = time_runners(runners, inputs, repeats)
            for name, out in outputs.items():
                times[name].append(medians[name])
                for b, item in enumerate(batch):
                    f1s[name].append(_answer_f1(out.start_logits[b].float(), out.end_logits[b].float(), item))
                if name.startswith("skim@"):
                    _count_work(out, inputs, cfg, tokens[float(name[5:])], flop_sums[float(name[5:])])

    auc = predictor_auc(fast, items)
    with autocast:
        cost = predictor_cost(model, [_batch([item["window"]]) for item in items[:COST_INPUTS]])
    return [
        result_record(
            fast,
            t,
            seq_len="native" if native else seq_len,
            batch_size=batch_size,
            dtype=dtype,
            n=len(items),
            times=times,
            scores={"f1": f1s},
            tokens=tokens[t],
            flop_sums=flop_sums[t],
            inputs=len(items),
            auc=auc,
            cost=cost,
            padded=batch_size > 1,
        )
        for t in thresholds
    ]


def result_record(
    fast: FastSkimReader,
    threshold: float,
    *,
    seq_len: int | str,
    batch_size: int,
    dtype: str,
    n: int,
    times: dict[str, list[float]],
    scores: dict[str, dict[str, list[float]]],
    tokens: list[int],
    flop_sums: list[float],
    inputs: int,
    auc: list[float | None],
    cost: dict,
    padded: bool = False,
    mean_windows: float | None = None,
) -> dict:
    """One threshold's result dict (the CLI's JSON keys), shared by both modes: `times` are each runner's ms ("hf",
    "full", "skim@t", and "padded@t" if `padded`); `scores` each metric's per-runner scores ("f1"; the article mode
    adds "em"), 0-1 per question; `tokens` and `flop_sums` this threshold's `_count_work` sums over `inputs`
    forwarded inputs (windows) for `n` questions; `mean_windows` only in the article mode."""
    cfg = fast.model.config
    layers, skim = cfg.num_hidden_layers, f"skim@{threshold}"
    hf_ms, full_ms, skim_ms = (statistics.mean(times[k]) for k in ("hf", "full", skim))
    kept = tokens[0] / tokens[1]
    record = {
        "seq_len": seq_len,
        "batch_size": batch_size,
        "dtype": dtype,
        "n": n,
        "threshold": threshold,
        "threads": torch.get_num_threads(),
        "skim_layers": sorted(fast.predictors),
        "predictor": fast.kind,
        "hf_ms": hf_ms,
        "full_ms": full_ms,
        "skim_ms": skim_ms,
        "speedup_vs_hf": hf_ms / skim_ms,
        "speedup_vs_full": full_ms / skim_ms,
        "kept_fraction": kept,
        "limit_speedup": 1 / kept,
    }
    for metric, values in scores.items():  # em_hf, em_full, em_skim, f1_hf, f1_full, f1_skim
        for run, name in (("hf", "hf"), ("full", "full"), ("skim", skim)):
            record[f"{metric}_{run}"] = 100 * statistics.mean(values[name])
    padded_512 = flops([512] * layers, [512] * layers, cfg.hidden_size, _ffn_width(cfg))  # the paper's inputs
    record.update(
        {
            "skim_padded_ms": statistics.mean(times[f"padded@{threshold}"]) if padded else None,
            "flops_ratio": flop_sums[1] / flop_sums[0],
            "flops_ratio_padded_512": padded_512 * inputs / flop_sums[2],
            "mean_tokens": tokens[1] / layers / n,
        }
    )
    if mean_windows is not None:
        record["mean_windows"] = mean_windows
    record.update(
        {
            "predictor_auc": auc,
            "layer_ms": cost["layer_ms"],
            "predictor_ms": cost["predictor_ms"][fast.kind],
            "predictor_cost_fraction": cost["predictor_cost_fraction"][fast.kind],
            "predictor_ms_by_kind": cost["predictor_ms"],
        }
    )
    return record
