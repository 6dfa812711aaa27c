"""Eight browser sessions at once against one served app: each must get its own correct answer, nothing may crash.

    .venv/bin/python scripts/load_test.py                       # starts `streamlit run` on a free port, shipped model
    .venv/bin/python scripts/load_test.py --url http://127.0.0.1:8501 --server-pid PID    # a running app
    .venv/bin/python scripts/load_test.py --trace-sizes         # also measure trace JSON size and peak RSS

Sessions open in one headless Chromium (Debian's /usr/bin/chromium, the flags of docs/make_screenshots.py), each in
its own browser context, so the server sees eight Streamlit sessions sharing one cached model. Half open a shipped
example by URL (`?example=KEY`), half paste a question and passage into the form and press Answer; one pasted
passage is the text box's maximum (30,000 characters, ~26 windows). A session passes when its answer card shows
the expected text, its run ends with a Plotly chart drawn, and neither the page nor the server log shows an
exception. The server's peak RSS is sampled every 0.1 s. Everything is bounded by `--timeout`; the exit code is 1
on any failure. Writes results/load-test.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run as a script: `docs`, `skim` and `scripts` import from the repo

from docs.make_screenshots import CHROMIUM_ARGS  # noqa: E402  (one list of Chromium flags for every browser run)
from scripts.cli_battery import LONG_QUESTION, long_passage  # noqa: E402

EXAMPLES = REPO / "assets" / "examples"
APP_MAX_CHARS = 30_000  # the passage box's limit, app.state.MAX_PASSAGE_CHARS (not imported: it pulls in streamlit)

# (question, passage, answer) pasted into the form; the shipped model's answers, checked with scripts/cli_battery.py
PASTED = [
    (
        "Where was Marie Curie born?",
        "Marie Curie was born in Warsaw in 1867. She moved to Paris in 1891 to study physics at the Sorbonne.",
        "Warsaw",
    ),
    (
        "What is the capital of Australia?",
        "Canberra is the capital city of Australia. It was chosen in 1908 as a compromise between Sydney and Melbourne.",
        "Canberra",
    ),
    ("Who designed the bridge?", (REPO / "docs" / "example-passage.txt").read_text(encoding="utf-8"), "Edith Marlow"),
    (LONG_QUESTION, long_passage(APP_MAX_CHARS), "1349"),
]
EXAMPLE_KEYS = ["01_super_bowl", "03_black_death_long", "04_harrow_point", "06_rye_loaf"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, server: subprocess.Popen | None, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            raise RuntimeError(f"streamlit exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} not healthy in time")


def start_server(port: int, model: str | None, log_path: Path) -> subprocess.Popen:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    if model:
        env["SKIM_MODEL"] = model
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(REPO / "streamlit_app.py"),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log_path.open("w"), stderr=subprocess.STDOUT)


def stop_server(server: subprocess.Popen, timeout: float = 15) -> None:
    server.terminate()
    try:
        server.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=timeout)


class RssSampler(threading.Thread):
    """Peak resident memory of a process and its children, sampled every `interval` seconds."""

    def __init__(self, pid: int, interval: float = 0.1):
        super().__init__(daemon=True)
        self.process, self.interval = psutil.Process(pid), interval
        self.peak = self.last = 0
        self.stop = threading.Event()

    def sample(self) -> int:
        procs = [self.process, *self.process.children(recursive=True)]
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.last = self.sample()
            except psutil.Error:
                return
            self.peak = max(self.peak, self.last)
            self.stop.wait(self.interval)


def normalise(text: str) -> str:
    return " ".join(text.split())


async def session(browser, record: dict, job: dict, deadline: float) -> None:
    """One user: open the app, get an answer (by example URL or by pasting), check it, filling `record` as it
    goes (so a run cut short by the deadline still says how far each session got). Never raises."""
    record.update({"kind": job["kind"], "input": job["label"], "expected": job["answer"], "ok": False})
    context = await browser.new_context(viewport={"width": 1400, "height": 1600})
    page = await context.new_page()

    def remaining() -> float:  # milliseconds left of the whole run, for Playwright's timeouts
        return max(1000.0, (deadline - time.monotonic()) * 1000)

    t0 = time.monotonic()
    try:
        record["stage"] = "opening the app"
        await page.goto(job["url"], timeout=remaining())
        answer = page.locator(".skim-answer").first
        idle = page.locator("[data-testid='stStatusWidget']")  # shown while the script runs
        await answer.wait_for(timeout=remaining())
        if job["kind"] == "pasted":  # as a user would: read the opening example, then paste and press Answer
            await idle.wait_for(state="hidden", timeout=remaining())
            record["stage"] = "pasting"
            first = normalise(await answer.inner_text())
            await page.get_by_label("Question", exact=True).fill(job["question"], timeout=remaining())
            await page.get_by_label("Passage", exact=True).fill(job["passage"], timeout=remaining())
            t0 = time.monotonic()  # from pressing Answer
            await page.get_by_role("button", name="Answer", exact=True).click(timeout=remaining())
            record["stage"] = "waiting for the new answer"
            await page.wait_for_function(
                "old => { const a = document.querySelector('.skim-answer');"
                " return a && a.innerText.split(/\\s+/).join(' ').trim() !== old; }",
                arg=first,
                timeout=remaining(),
                polling=100,
            )
        record["answer"] = normalise(await answer.inner_text())
        record["seconds_to_answer"] = round(time.monotonic() - t0, 2)
        record["stage"] = "waiting for the run to end"
        await idle.wait_for(state="hidden", timeout=remaining())
        record["seconds_to_idle"] = round(time.monotonic() - t0, 2)
        record["exceptions_shown"] = await page.locator("[data-testid='stException']").count()
        if not record["exceptions_shown"]:  # the browser draws Plotly charts after the run has ended
            record["stage"] = "waiting for a chart"
            await page.locator(".js-plotly-plot").first.wait_for(timeout=remaining())
            record["seconds_to_first_chart"] = round(time.monotonic() - t0, 2)
        record["stage"] = "done"
        record["charts_drawn"] = await page.locator(".js-plotly-plot").count()  # those in view; more lower down
        body = await page.inner_text("body")
        record["traceback_in_page"] = "Traceback" in body
        record["errors_shown"] = [
            normalise(t) for t in await page.locator("[data-testid='stAlertContentError']").all_inner_texts()
        ]
        record["ok"] = (
            record["answer"] == job["answer"]
            and record["charts_drawn"] > 0
            and not record["exceptions_shown"]
            and not record["traceback_in_page"]
            and not record["errors_shown"]
        )
    except Exception as err:  # noqa: BLE001 - a timeout or a crash of one session is a result, not a stop
        record["ok"] = False
        record["error"] = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
        with contextlib.suppress(Exception):  # whatever answer is on screen, for the report
            record.setdefault("answer", normalise(await page.locator(".skim-answer").first.inner_text(timeout=2000)))
    finally:
        await context.close()


async def run_sessions(url: str, chromium: str, deadline: float, records: list[dict]) -> None:
    from playwright.async_api import async_playwright

    jobs = []
    for key in EXAMPLE_KEYS:
        example = json.loads((EXAMPLES / f"{key}.json").read_text(encoding="utf-8"))
        jobs.append(
            {"kind": "example", "label": f"?example={key}", "url": f"{url}/?example={key}", "answer": example["answer"]}
        )
    for question, passage, answer in PASTED:
        jobs.append(
            {
                "kind": "pasted",
                "label": f"{question} ({len(passage):,}-character passage)",
                "url": url,
                "question": question,
                "passage": passage,
                "answer": answer,
            }
        )
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, timeout=60_000)
        records.extend({"session": n} for n in range(len(jobs)))
        try:
            await asyncio.gather(*(session(browser, r, job, deadline) for r, job in zip(records, jobs)))
        finally:
            await browser.close()


def measure_trace(mode: str, chars: int, threshold: float | None) -> dict:
    """Size of one trace's JSON and the process's peak RSS, in a fresh process per case (`--_trace`)."""
    import resource

    from skim import Reader

    reader = Reader.from_pretrained()
    if chars:
        passage, question = long_passage(chars), LONG_QUESTION
    else:  # exactly one full 384-token window: the first window's text of a longer passage
        question = "When did a plague-ridden ship land in Norway?"
        passage = json.loads((EXAMPLES / "03_black_death_long.json").read_text(encoding="utf-8"))["passage"]
        from skim.qa import make_windows

        first = make_windows(reader.tokenizer, question, passage, reader.max_length)[0]
        passage = passage[: max(o[1] for o in first.offsets if o is not None)]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    trace = reader(question, passage, threshold=threshold, attention=mode)
    seconds = time.perf_counter() - t
    d = trace.to_dict()
    return {
        "attention": mode,
        "threshold": trace.threshold,
        "passage_chars": len(passage),
        "windows": len(trace.windows),
        "window_tokens": [len(w.tokens) for w in trace.windows][:1],
        "answer": trace.answer.text if trace.answer else None,
        "seconds": round(seconds, 1),
        "trace_json_mb": round(len(json.dumps(d, ensure_ascii=False).encode()) / 1e6, 2),
        "attention_json_mb": round(len(json.dumps(d["attention"]).encode()) / 1e6, 2),
        "attention_windows": sorted({a.window for a in trace.attention}),
        "summary_json_mb": round(len(json.dumps(trace.summary(), ensure_ascii=False).encode()) / 1e6, 2),
        "peak_rss_mb_after_load": round(before / 1024),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def trace_sizes() -> list[dict]:
    cases = [(mode, 0, 0.0) for mode in ("heads", "mean", "none")]  # threshold 0: every token survives, largest
    cases += [(mode, 0, None) for mode in ("heads", "mean", "none")]
    cases += [(mode, 200_000, None) for mode in ("none", "mean", "heads")]
    results = []
    for mode, chars, threshold in cases:
        cmd = [
            sys.executable,
            __file__,
            "--_trace",
            mode,
            str(chars),
            "default" if threshold is None else str(threshold),
        ]
        out = subprocess.run(
            cmd,
            check=False,
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=900,
            env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
        )
        row = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else {"error": out.stderr[-500:]}
        print(f"trace {mode:5s} {chars:7d} chars threshold {threshold}: {row}", file=sys.stderr, flush=True)
        results.append(row)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="attach to a running app instead of starting one")
    parser.add_argument("--server-pid", type=int, help="with --url: the server's pid, for its memory")
    parser.add_argument("--model", help="checkpoint directory for the started app (default: assets/model)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--timeout", type=float, default=300, help="seconds for everything, server start included")
    parser.add_argument("--trace-sizes", action="store_true", help="also measure trace sizes (about 3 minutes)")
    parser.add_argument("--output", default=str(REPO / "results" / "load-test.json"))
    parser.add_argument("--_trace", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args._trace:
        mode, chars, threshold = args._trace
        print(json.dumps(measure_trace(mode, int(chars), None if threshold == "default" else float(threshold))))
        return 0

    start = time.monotonic()
    deadline = start + args.timeout
    server, sampler = None, None
    log_path = Path(tempfile.mkdtemp(prefix="skim-load-")) / "streamlit.log"
    load_before = os.getloadavg()
    report: dict = {"sessions": [], "ok": False}
    try:
        url = args.url
        if not url:
            port = free_port()
            server = start_server(port, args.model, log_path)
            url = f"http://127.0.0.1:{port}"
        pid = server.pid if server else args.server_pid
        if pid:
            sampler = RssSampler(pid)
            sampler.start()
        wait_healthy(url, server, deadline)
        report["seconds_to_healthy"] = round(time.monotonic() - start, 1)
        t = time.monotonic()
        # sessions stop themselves a little before the deadline; wait_for is the backstop
        asyncio.run(
            asyncio.wait_for(
                run_sessions(url, args.chromium, deadline - 15, report["sessions"]),
                max(1.0, deadline - time.monotonic()),
            )
        )
        report["seconds_all_sessions"] = round(time.monotonic() - t, 1)
    except Exception as err:  # noqa: BLE001 - reported, and the exit code says it failed
        report["error"] = f"{type(err).__name__}: {err}"
    finally:
        if sampler:
            sampler.stop.set()
            sampler.join(timeout=5)
        if server:  # only the server this script started
            stop_server(server)
    log = log_path.read_text(encoding="utf-8", errors="replace") if log_path.exists() else ""
    log = re.sub(r"\x1b\[[0-9;]*m", "", log)  # Streamlit's Rich tracebacks are coloured
    problems = [line for line in log.splitlines() if "Traceback" in line or "Error" in line or "Exception" in line]
    times = sorted(s["seconds_to_answer"] for s in report["sessions"] if "seconds_to_answer" in s)
    report.update(
        {
            "url": args.url or "started by this script",
            "model": args.model or "assets/model",
            "chromium": args.chromium,
            "cpu_count": os.cpu_count(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "server_peak_rss_mb": round(sampler.peak / 2**20) if sampler else None,
            "server_rss_mb_at_end": round(sampler.last / 2**20) if sampler else None,
            "server_log_problems": problems[:20],
            "sessions_ok": sum(bool(s.get("ok")) for s in report["sessions"]),
            "seconds_to_answer_max": times[-1] if times else None,
            "seconds_total": round(time.monotonic() - start, 1),
        }
    )
    report["ok"] = report["sessions_ok"] == len(EXAMPLE_KEYS) + len(PASTED) and not problems and "error" not in report
    if args.trace_sizes:
        report["trace_sizes"] = trace_sizes()
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    for s in report["sessions"]:
        print(
            f"{'ok  ' if s.get('ok') else 'FAIL'} session {s['session']} {s.get('input', '')[:60]!r}: "
            f"{s.get('answer')!r} in {s.get('seconds_to_answer')} s (stage: {s.get('stage')}) {s.get('error', '')}",
            file=sys.stderr,
        )
    print(
        f"{report['sessions_ok']} of {len(report['sessions'])} sessions ok; server peak RSS "
        f"{report['server_peak_rss_mb']} MB; {len(problems)} problem lines in the server log; wrote {args.output}",
        file=sys.stderr,
    )
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
