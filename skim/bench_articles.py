"""`run_bench(articles=True)`: each question asked of its whole article, read as the Reader reads it (384-token
windows with a 128-token stride, up to `WINDOWS_PER_FORWARD` windows per forward); a question's time is the
forwards of all its windows, its answer the best span across them. The timing, work counting and result keys are
the window mode's (`skim/bench.py`), plus EM and the mean number of windows."""

from __future__ import annotations

from collections import defaultdict
from contextlib import nullcontext

import torch
from tqdm.auto import tqdm

from .bench import COST_INPUTS, _batch, _count_work, hf_inputs, predictor_auc, result_record, time_runners
from .cost import predictor_cost
from .data import article_paragraphs, article_text, paragraph_offset
from .fast import FastSkimReader
from .inference import WINDOWS_PER_FORWARD, batch_windows
from .metrics import best_over_truths, exact_match, f1_score
from .qa import InputError, Window, best_spans, make_windows, truncate_question


def article_inputs(tokenizer, rows: list[dict], n: int, max_length: int = 384, stride: int = 128) -> list[dict]:
    """`n` questions spread evenly over `rows` (as `bench_inputs`), each asked of its whole article: all paragraphs
    of its title in order, joined with a blank line, in the Reader's windows (question cut to 64 tokens):
    `{"windows": [Window, ...], "context": str, "answers": [...], "span": (start, end) characters or None}`."""
    paragraphs = article_paragraphs([r["title"] for r in rows], [r["context"] for r in rows])
    step = max(1, len(rows) // n)
    inputs = []
    for row in rows[::step]:
        article = paragraphs[row["title"]]
        context = article_text(article)
        offset = paragraph_offset(article, row["context"])
        answers, starts = row["answers"]["text"], row["answers"]["answer_start"]
        span = (offset + starts[0], offset + starts[0] + len(answers[0])) if starts and answers else None
        try:
            question = truncate_question(tokenizer, row["question"])[0]
            windows = make_windows(tokenizer, question, context, max_length, stride)
        except InputError:  # an empty question, or an article past the Reader's length limit
            continue
        inputs.append({"windows": windows, "context": context, "answers": answers, "span": span})
        if len(inputs) == n:
            break
    return inputs


def window_chunks(windows: list[Window]) -> list[dict[str, torch.Tensor]]:
    """A passage's windows as the Reader's fast path batches them: up to `WINDOWS_PER_FORWARD` per forward."""
    return [batch_windows(windows[i : i + WINDOWS_PER_FORWARD]) for i in range(0, len(windows), WINDOWS_PER_FORWARD)]


def windows_in(chunks: list[dict[str, torch.Tensor]]) -> int:
    return sum(c["input_ids"].shape[0] for c in chunks)


def article_answer(outputs: list, item: dict) -> str:
    """The best span across all of an article item's windows by start + end logit (as the Reader picks it; the
    first window wins a tie); `outputs` are the forwards of `window_chunks(item["windows"])`, in order."""
    windows = iter(item["windows"])
    best, text = None, ""
    for out in outputs:
        for b in range(out.start_logits.shape[0]):
            window = next(windows)
            n = len(window.input_ids)
            spans = best_spans(out.start_logits[b, :n].float(), out.end_logits[b, :n].float(), window.offsets, 30, 1)
            if spans and (best is None or spans[0].logit > best.logit):
                best = spans[0]
                text = item["context"][window.offsets[best.start_token][0] : window.offsets[best.end_token][1]]
    return text


def run_article_bench(
    model,
    tokenizer,
    fast: FastSkimReader,
    hf,
    rows: list[dict],
    n: int,
    thresholds: list[float],
    dtype: str,
    repeats: int,
) -> list[dict]:
    """`run_bench(articles=True)`: every question against its whole article, the runners taking turns per question
    (`time_runners`) over all of its windows' forwards; EM/F1 of the best span across windows."""
    cfg = model.config
    max_length = min(384, cfg.max_position_embeddings)  # the Reader's windows
    items = article_inputs(tokenizer, rows, n, max_length, 128)
    if not items:
        raise InputError(
            "no question could be asked of its article (empty questions, or articles over the length limit)"
        )
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if dtype == "bfloat16" else nullcontext()
    runners = {
        "hf": lambda chunks: [hf(**hf_inputs(model, c)) for c in chunks],
        "full": lambda chunks: [fast(**c, skim=False) for c in chunks],
    }
    for t in thresholds:  # at the threshold the Reader gives a passage of that many windows
        runners[f"skim@{t}"] = lambda chunks, t=t: [
            fast(**c, threshold=cfg.passage_threshold(fast.kind, t, windows_in(chunks))) for c in chunks
        ]

    times: dict[str, list[float]] = defaultdict(list)
    ems: dict[str, list[float]] = defaultdict(list)
    f1s: dict[str, list[float]] = defaultdict(list)
    tokens = {t: [0, 0] for t in thresholds}  # token-layers processed, token-layers in the full model
    flop_sums = {t: [0.0, 0.0, 0.0] for t in thresholds}  # skim, full (unpadded), skim with padding to 512
    with torch.inference_mode(), autocast:
        for item in tqdm(items, desc=f"bench articles {dtype}", unit="question"):
            chunks = window_chunks(item["windows"])  # tokenised and batched before any clock starts
            medians, outputs = time_runners(runners, chunks, repeats)
            for name, outs in outputs.items():
                times[name].append(medians[name])
                text = article_answer(outs, item)
                ems[name].append(best_over_truths(exact_match, text, item["answers"]))
                f1s[name].append(best_over_truths(f1_score, text, item["answers"]))
                if name.startswith("skim@"):
                    for out, chunk in zip(outs, chunks):
                        _count_work(out, chunk, cfg, tokens[float(name[5:])], flop_sums[float(name[5:])])

    # Every window of the article, the answer's blocks against all the others (untimed).
    auc = predictor_auc(
        fast, [{"window": w, "span": item["span"]} for item in items if item["span"] for w in item["windows"]]
    )
    n_windows = sum(len(item["windows"]) for item in items)
    windows = [w for item in items for w in item["windows"]][:COST_INPUTS]  # an article's windows are mostly full
    with autocast:
        cost = predictor_cost(fast.model, [_batch([w]) for w in windows])
    return [
        result_record(
            fast,
            t,
            seq_len="articles",
            batch_size=WINDOWS_PER_FORWARD,  # windows per forward, at most
            dtype=dtype,
            n=len(items),
            times=times,
            scores={"em": ems, "f1": f1s},
            tokens=tokens[t],
            flop_sums=flop_sums[t],
            inputs=n_windows,
            auc=auc,
            cost=cost,
            mean_windows=n_windows / len(items),
        )
        for t in thresholds
    ]
