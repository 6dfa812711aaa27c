"""App latency: a new 384-token passage and question answered and every view built, warm, in Streamlit's AppTest.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_app.py            # shipped model, 10 repeats
    .venv/bin/python scripts/bench_app.py --repeats 20 --model DIR --output /tmp/latency.json
    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_app.py --article  # the whole "Warsaw" article, 10 questions
    .venv/bin/python scripts/bench_app.py --article --repeats 5 --data PATH/dev-v1.1.json --output /tmp/article.json

The app is loaded once (model load and warm-up are not timed). Each repeat then submits the form with a different
question about the Black Death example, its passage cut so question + passage fill exactly one 384-token input, so
the trace caches miss; the timed script run covers both model runs (skimmed, and the full model for the comparison)
and every figure and view, serialised by Streamlit. The same input is then run again: the cached rerun. The browser's
drawing of the figures is not included. The page reads the full model last, after every view: `answer_and_views`
times the run up to that read's start, i.e. until the answer and every figure are built (the comparison then fills
in). Writes results/app-latency.json with the median and 90th percentile, the load average (other work on the
machine inflates every number) and torch's thread count.

`--article`: the passage is instead the SQuAD v1.1 dev article "Warsaw" (its paragraphs in order, joined with a
blank line, as `skim/bench_articles.py` joins them) cut to the passage box's limit (`app.state.MAX_PASSAGE_CHARS`,
30,000 characters), read from `--data`; each repeat asks a different dev question of it whose first gold answer
lies inside the cut (spread evenly over them), so the cache misses, and times the same script run. The answer the
app shows is scored against the gold answers (SQuAD EM and F1). Writes results/app-latency-article.json, with the
number of model windows the passage makes and each repeat's question, gold answers, answer, EM and F1.

`--dtype auto|float32|bfloat16` pins the explorer's arithmetic (its sidebar's *Arithmetic*; default: the app's,
`auto`: bfloat16 for a passage of several windows where this CPU multiplies it natively); the report records it as
`dtype`.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import platform
import re
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
APP = str(REPO / "streamlit_app.py")
PASSAGE_FILE = REPO / "assets" / "examples" / "03_black_death_long.json"
DEV_FILE = REPO.parent / "shared" / "data" / "squad" / "dev-v1.1.json"
ARTICLE = "Warsaw"
QUESTIONS = [  # all answered in the passage's first 384 tokens
    "Where is the Black Death thought to have originated?",
    "By what year had the Black Death reached Crimea?",
    "What insects most likely carried the plague?",
    "What share of Europe's population did the Black Death kill?",
    "What was the world population before the plague?",
    "Until which century did the plague recur in Europe?",
    "What bacterium causes the plague?",
    "Near which lake are the Nestorian graves?",
    "When did medical geneticists say the plague began in China?",
    "What caused a decline in farming and trading in China?",
    "In what year did the widespread famine start?",
    "How many Chinese did the epidemics kill?",
]
ANSWER_DIV = re.compile(r'<div class="skim-answer" style="([^"]*)">(.*?)</div>', re.S)


def fill_window(tokenizer, question: str, passage: str, max_length: int = 384) -> str:
    """The longest prefix of `passage` that fits in one `max_length`-token input with `question`."""
    from skim.qa import make_windows

    first = make_windows(tokenizer, question, passage, max_length)[0]
    return passage[: max(o[1] for o in first.offsets if o is not None)]


def article_questions(path: str | Path, title: str, limit: int) -> tuple[str, list[dict]]:
    """Article `title` of an official-format SQuAD file, its paragraphs in order joined with a blank line (as
    `skim.bench_articles.article_inputs` joins them) and cut to `limit` characters, and its questions whose first
    gold answer lies inside the cut: `{"question": str, "gold": [str, ...]}` in article order."""
    from skim.data import article_paragraphs, article_text, paragraph_offset, read_squad_json

    rows = [r for r in read_squad_json(path) if r["title"] == title]
    if not rows:
        raise SystemExit(f"{path} has no article titled {title!r}")
    article = article_paragraphs([r["title"] for r in rows], [r["context"] for r in rows])[title]
    passage = article_text(article)[:limit]
    questions = []
    for row in rows:
        offset = paragraph_offset(article, row["context"])
        answers, starts = row["answers"]["text"], row["answers"]["answer_start"]
        if answers and starts and offset + starts[0] + len(answers[0]) <= limit:
            questions.append({"question": row["question"], "gold": list(answers)})
    return passage, questions


def shown_answer(at) -> str | None:
    """The answer the app's card shows (`app.markup.answer_html`, unescaped), "" for "no answer found", or None when
    no card was drawn."""
    for m in at.markdown:
        found = ANSWER_DIV.search(m.value)
        if found:
            if "font-weight" not in found.group(1):  # the grey "no answer found" card
                return ""
            return html.unescape(found.group(2).replace("<br>", "\n"))
    return None


def spy_full_model_runs() -> list[float]:
    """A list that gets the `perf_counter()` at which each full-model (unskimmed) read starts: the app's `Reader`,
    wrapped in this process (AppTest runs the page here). Cached reads call no model and add nothing."""
    from skim import Reader

    starts: list[float] = []
    call = Reader.__call__

    def timed_call(self, question, context, *args, **kwargs):
        if not kwargs.get("skim", True):
            starts.append(time.perf_counter())
        return call(self, question, context, *args, **kwargs)

    Reader.__call__ = timed_call
    return starts


def time_input(at, submit, question: str, passage: str) -> dict | None:
    """Submit a new input (timed), read what the app shows, then time the same input again (both traces cached).
    None, the failure printed, if the app raised."""
    new_ms, views_ms = submit(question, passage)
    if at.exception:
        print(f"the app failed: {at.exception[0].value}", file=sys.stderr)
        return None
    metrics = {m.label: m.value for m in at.metric}
    shown = {
        "plotly_charts": len(at.get("plotly_chart")),
        "model_ms_skim": metrics.get("With skimming"),
        "model_ms_full": metrics.get("Without skimming"),
        "answer_markup": next((m.value for m in at.markdown if 'class="skim-answer"' in m.value), ""),
        "answer": shown_answer(at),
    }
    t = time.perf_counter()
    at.run()  # same input: both traces come from st.cache_data
    return {"new_ms": new_ms, "views_ms": views_ms, "cached_ms": (time.perf_counter() - t) * 1000, **shown}


def stats(values: list[float]) -> dict:
    return {
        "median_ms": round(float(np.median(values)), 1),
        "p90_ms": round(float(np.percentile(values, 90)), 1),
        "min_ms": round(min(values), 1),
        "max_ms": round(max(values), 1),
        "runs_ms": [round(v, 1) for v in values],
    }


def machine(load_before) -> dict:
    """What else shaped the numbers: threads, cores, load before and after, versions."""
    import torch  # imported late, as in `main`

    from app.url import default_dtype

    return {
        "torch_threads": torch.get_num_threads(),
        "dtype": default_dtype(),  # the explorer's arithmetic in this run (its Arithmetic control's default)
        "cpu_count": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def write_report(path, report: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--model", help="checkpoint directory (default: assets/model)")
    parser.add_argument(
        "--output",
        help="JSON report (default: results/app-latency.json, or results/app-latency-article.json with --article)",
    )
    parser.add_argument(
        "--article",
        action="store_true",
        help=f"the whole {ARTICLE!r} dev article as the passage, up to the box's limit",
    )
    parser.add_argument(
        "--data", default=str(DEV_FILE), help="SQuAD v1.1 dev JSON for --article (default: %(default)s)"
    )
    parser.add_argument(
        "--dtype",
        choices=["auto", "float32", "bfloat16"],
        help="the explorer's arithmetic (default: the app's, auto: bfloat16 for a passage of several windows where "
        "this CPU multiplies it natively)",
    )
    args = parser.parse_args()
    if args.dtype:
        from app.url import DTYPE_ENV

        os.environ[DTYPE_ENV] = args.dtype
    if args.output is None:
        args.output = str(REPO / "results" / ("app-latency-article.json" if args.article else "app-latency.json"))
    if args.model:
        os.environ["SKIM_MODEL"] = args.model
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    from streamlit.testing.v1 import AppTest

    from app.state import MAX_PASSAGE_CHARS, load_reader, model_path
    from skim.qa import make_windows

    if args.article:  # read before the model loads: a missing file fails fast
        article, pool = article_questions(args.data, ARTICLE, MAX_PASSAGE_CHARS)
        if args.repeats > len(pool):
            print(f"only {len(pool)} questions are answered inside the passage", file=sys.stderr)
            return 1

    load_before = os.getloadavg()
    t = time.perf_counter()
    # loads and warms the model: not timed below; a whole article is ~20 windows, three model runs each
    at = AppTest.from_file(APP, default_timeout=1800 if args.article else 300).run()
    first_run_ms = (time.perf_counter() - t) * 1000
    if at.exception:
        print(f"the app failed: {at.exception[0].value}", file=sys.stderr)
        return 1
    reader = load_reader(model_path())  # the cached object the app uses
    base = json.loads(PASSAGE_FILE.read_text(encoding="utf-8"))["passage"]

    full_starts = spy_full_model_runs()

    def submit(question: str, passage: str) -> tuple[float, float | None]:
        """(ms of the script run, ms until the full model began its comparison run: the answer and every view were
        built by then, as the page reads the comparison last; None when it did not run)."""
        at.text_input(key="question").input(question)
        at.text_area(key="passage").input(passage)
        at.form_submit_button[0].click()
        full_starts.clear()
        t = time.perf_counter()
        at.run()
        views_ms = (full_starts[0] - t) * 1000 if full_starts else None
        return (time.perf_counter() - t) * 1000, views_ms

    if args.article:
        return article_mode(args, at, reader, submit, article, pool, load_before, first_run_ms)
    submit("What bacterium causes the plague?", fill_window(reader.tokenizer, "Warm-up question?", base))  # warm-up
    new, views, cached, runs = [], [], [], []
    for i in range(args.repeats):
        question = QUESTIONS[i % len(QUESTIONS)] + (f" ({i // len(QUESTIONS)})" if i >= len(QUESTIONS) else "")
        passage = fill_window(reader.tokenizer, question, base)
        windows = make_windows(reader.tokenizer, question, passage, reader.max_length)
        shown = time_input(at, submit, question, passage)
        if shown is None:
            return 1
        new.append(shown["new_ms"])
        views.append(shown["views_ms"])
        cached.append(shown["cached_ms"])
        runs.append(
            {
                "question": question,
                "tokens": len(windows[0].input_ids),
                "windows": len(windows),
                "new_ms": round(new[-1], 1),
                "answer_and_views_ms": round(views[-1], 1),
                "cached_ms": round(cached[-1], 1),
                "plotly_charts": shown["plotly_charts"],
                "model_ms_skim": shown["model_ms_skim"],
                "model_ms_full": shown["model_ms_full"],
                "answer_markup": shown["answer_markup"][:200],
            }
        )
        print(
            f"{i}: {len(windows[0].input_ids)} tokens, new {new[-1]:.0f} ms (views {views[-1]:.0f}), cached {cached[-1]:.0f} ms, "
            f"{shown['plotly_charts']} charts, model {shown['model_ms_skim']} / {shown['model_ms_full']}",
            file=sys.stderr,
            flush=True,
        )

    report = {
        "what": "AppTest script run after submitting a new 384-token passage + question (skimmed and full model "
        "runs, every view and figure built); then the same input again (cached traces). Server side only: "
        "the browser's drawing is not included. answer_and_views: the same run up to the start of the full "
        "model's read, which the page makes last, after the answer and every view are built.",
        "model": args.model or "assets/model",
        "repeats": args.repeats,
        "new_input": stats(new),
        "answer_and_views": stats(views),
        "cached_rerun": stats(cached),
        "first_run_with_model_load_ms": round(first_run_ms, 1),
        "plotly_charts": sorted({r["plotly_charts"] for r in runs}),
        **machine(load_before),
        "runs": runs,
    }
    write_report(args.output, report)
    print(
        f"new input: median {report['new_input']['median_ms']:.0f} ms, p90 {report['new_input']['p90_ms']:.0f} ms "
        f"(answer and views {report['answer_and_views']['median_ms']:.0f} ms); "
        f"cached rerun: median {report['cached_rerun']['median_ms']:.0f} ms; "
        f"load average {report['load_average_after']}; wrote {args.output}",
        file=sys.stderr,
    )
    return 0


def article_mode(args, at, reader, submit, passage: str, pool: list[dict], load_before, first_run_ms) -> int:
    """`--article`: the same timed script run as the default mode, for `args.repeats` different questions spread
    evenly over `pool`, all of the one (article) passage; each answer scored with SQuAD EM and F1."""
    from skim.metrics import best_over_truths, exact_match, f1_score

    submit("Warm-up question?", passage)  # warm-up: the long passage's first run is not timed
    if at.exception:
        print(f"the app failed: {at.exception[0].value}", file=sys.stderr)
        return 1
    chosen = [pool[i * len(pool) // args.repeats] for i in range(args.repeats)]
    new, views, cached, runs = [], [], [], []
    for i, item in enumerate(chosen):
        question, gold = item["question"], item["gold"]
        windows = reader.windows(question, passage)[2]  # as the Reader cuts them (question cut to 64 tokens)
        shown = time_input(at, submit, question, passage)
        if shown is None:
            return 1
        new.append(shown["new_ms"])
        views.append(shown["views_ms"])
        cached.append(shown["cached_ms"])
        answer = shown["answer"]
        em = best_over_truths(exact_match, answer or "", gold)
        f1 = best_over_truths(f1_score, answer or "", gold)
        runs.append(
            {
                "question": question,
                "gold": gold,
                "answer": answer,
                "exact_match": em,
                "f1": round(f1, 4),
                "windows": len(windows),
                "new_ms": round(new[-1], 1),
                "answer_and_views_ms": round(views[-1], 1),
                "cached_ms": round(cached[-1], 1),
                "plotly_charts": shown["plotly_charts"],
                "model_ms_skim": shown["model_ms_skim"],
                "model_ms_full": shown["model_ms_full"],
            }
        )
        print(
            f"{i}: {len(windows)} windows, new {new[-1]:.0f} ms (views {views[-1]:.0f}), cached {cached[-1]:.0f} ms, {shown['plotly_charts']} charts, "
            f"model {shown['model_ms_skim']} / {shown['model_ms_full']}; "
            f"{question!r} -> {answer!r} (gold {gold[0]!r}, EM {em:.0f}, F1 {f1:.2f})",
            file=sys.stderr,
            flush=True,
        )

    report = {
        "what": f"AppTest script run after submitting a new question about the SQuAD v1.1 dev article {ARTICLE!r} "
        "(its first passage_chars characters, the passage box's limit) as the passage: skimmed and full model runs "
        "over all its windows, every view and figure built; then the same input again (cached traces). Server side "
        "only: the browser's drawing is not included. answer_and_views: the same run up to the start of the full "
        "model's read, which the page makes last, after the answer and every view are built. EM/F1: the answer the "
        "app shows against the gold answers.",
        "model": args.model or "assets/model",
        "data": args.data,
        "article": ARTICLE,
        "passage_chars": len(passage),
        "n_windows": Counter(r["windows"] for r in runs).most_common(1)[0][0],
        "questions_available": len(pool),
        "repeats": args.repeats,
        "new_input": stats(new),
        "answer_and_views": stats(views),
        "cached_rerun": stats(cached),
        "exact_match": round(float(np.mean([r["exact_match"] for r in runs])), 4),
        "f1": round(float(np.mean([r["f1"] for r in runs])), 4),
        "first_run_with_model_load_ms": round(first_run_ms, 1),
        "plotly_charts": sorted({r["plotly_charts"] for r in runs}),
        **machine(load_before),
        "runs": runs,
    }
    write_report(args.output, report)
    print(
        f"{report['n_windows']} windows, {len(passage):,} characters; new input: median "
        f"{report['new_input']['median_ms']:.0f} ms, p90 {report['new_input']['p90_ms']:.0f} ms (answer and views "
        f"{report['answer_and_views']['median_ms']:.0f} ms); cached rerun: median "
        f"{report['cached_rerun']['median_ms']:.0f} ms; EM {report['exact_match']:.2f}, F1 {report['f1']:.2f}; "
        f"load average {report['load_average_after']}; wrote {args.output}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
