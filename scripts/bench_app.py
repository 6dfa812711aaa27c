"""App latency: a new 384-token passage and question answered and every view built, warm, in Streamlit's AppTest.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_app.py            # shipped model, 10 repeats
    .venv/bin/python scripts/bench_app.py --repeats 20 --model DIR --output /tmp/latency.json

The app is loaded once (model load and warm-up are not timed). Each repeat then submits the form with a different
question about the Black Death example, its passage cut so question + passage fill exactly one 384-token input, so
the trace caches miss; the timed script run covers both model runs (skimmed, and the full model for the comparison)
and every figure and view, serialised by Streamlit. The same input is then run again: the cached rerun. The browser's
drawing of the figures is not included. Writes results/app-latency.json with the median and 90th percentile, the
load average (other work on the machine inflates every number) and torch's thread count.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
APP = str(REPO / "streamlit_app.py")
PASSAGE_FILE = REPO / "assets" / "examples" / "03_black_death_long.json"
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


def fill_window(tokenizer, question: str, passage: str, max_length: int = 384) -> str:
    """The longest prefix of `passage` that fits in one `max_length`-token input with `question`."""
    from skim.qa import make_windows

    first = make_windows(tokenizer, question, passage, max_length)[0]
    return passage[: max(o[1] for o in first.offsets if o is not None)]


def stats(values: list[float]) -> dict:
    return {
        "median_ms": round(float(np.median(values)), 1),
        "p90_ms": round(float(np.percentile(values, 90)), 1),
        "min_ms": round(min(values), 1),
        "max_ms": round(max(values), 1),
        "runs_ms": [round(v, 1) for v in values],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--model", help="checkpoint directory (default: assets/model)")
    parser.add_argument("--output", default=str(REPO / "results" / "app-latency.json"))
    args = parser.parse_args()
    if args.model:
        os.environ["SKIM_MODEL"] = args.model
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    import torch
    from streamlit.testing.v1 import AppTest

    from app.state import load_reader, model_path
    from skim.qa import make_windows

    load_before = os.getloadavg()
    t = time.perf_counter()
    at = AppTest.from_file(APP, default_timeout=300).run()  # loads and warms the model: not timed below
    first_run_ms = (time.perf_counter() - t) * 1000
    if at.exception:
        print(f"the app failed: {at.exception[0].value}", file=sys.stderr)
        return 1
    reader = load_reader(model_path())  # the cached object the app uses
    base = json.loads(PASSAGE_FILE.read_text(encoding="utf-8"))["passage"]

    def submit(question: str, passage: str) -> float:
        at.text_input(key="question").input(question)
        at.text_area(key="passage").input(passage)
        at.form_submit_button[0].click()
        t = time.perf_counter()
        at.run()
        return (time.perf_counter() - t) * 1000

    submit("What bacterium causes the plague?", fill_window(reader.tokenizer, "Warm-up question?", base))  # warm-up
    new, cached, runs = [], [], []
    for i in range(args.repeats):
        question = QUESTIONS[i % len(QUESTIONS)] + (f" ({i // len(QUESTIONS)})" if i >= len(QUESTIONS) else "")
        passage = fill_window(reader.tokenizer, question, base)
        windows = make_windows(reader.tokenizer, question, passage, reader.max_length)
        new.append(submit(question, passage))
        if at.exception:
            print(f"the app failed: {at.exception[0].value}", file=sys.stderr)
            return 1
        charts = at.get("plotly_chart")
        metrics = {m.label: m.value for m in at.metric}
        answer = next((m.value for m in at.markdown if 'class="skim-answer"' in m.value), "")
        t = time.perf_counter()
        at.run()  # same input: both traces come from st.cache_data
        cached.append((time.perf_counter() - t) * 1000)
        runs.append(
            {
                "question": question,
                "tokens": len(windows[0].input_ids),
                "windows": len(windows),
                "new_ms": round(new[-1], 1),
                "cached_ms": round(cached[-1], 1),
                "plotly_charts": len(charts),
                "model_ms_skim": metrics.get("With skimming"),
                "model_ms_full": metrics.get("Without skimming"),
                "answer_markup": answer[:200],
            }
        )
        print(
            f"{i}: {len(windows[0].input_ids)} tokens, new {new[-1]:.0f} ms, cached {cached[-1]:.0f} ms, "
            f"{len(charts)} charts, model {metrics.get('With skimming')} / {metrics.get('Without skimming')}",
            file=sys.stderr,
            flush=True,
        )

    report = {
        "what": "AppTest script run after submitting a new 384-token passage + question (skimmed and full model "
        "runs, every view and figure built); then the same input again (cached traces). Server side only: "
        "the browser's drawing is not included.",
        "model": args.model or "assets/model",
        "repeats": args.repeats,
        "new_input": stats(new),
        "cached_rerun": stats(cached),
        "first_run_with_model_load_ms": round(first_run_ms, 1),
        "plotly_charts": sorted({r["plotly_charts"] for r in runs}),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "runs": runs,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(
        f"new input: median {report['new_input']['median_ms']:.0f} ms, p90 {report['new_input']['p90_ms']:.0f} ms; "
        f"cached rerun: median {report['cached_rerun']['median_ms']:.0f} ms; "
        f"load average {report['load_average_after']}; wrote {args.output}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
