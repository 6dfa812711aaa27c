"""Run `python -m skim` over every hostile input in the README's battery and check that nothing prints a traceback.

    .venv/bin/python scripts/cli_battery.py                      # shipped model, one subprocess per case
    .venv/bin/python scripts/cli_battery.py --model DIR --in-process --output /tmp/battery.json

Each case has the exit code the README promises: 0 when the input gets an answer, 2 for a user error (one line
`error: …` on stderr, nothing on stdout). `--json` answers must satisfy `passage[start_char:end_char] == answer`.
The script writes one record per case (input, expected and actual exit code, first line of output, time, peak RSS
in subprocess mode) to `results/cli-battery.json`, and exits 1 when any case fails.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO / "assets" / "model"
EXAMPLES = REPO / "assets" / "examples"
LONG_QUESTION = "When did a plague-ridden ship land in Norway?"  # the answer, 1349, recurs throughout the haystack

CURIE = "Marie Curie was born in Warsaw in 1867. She won two Nobel Prizes, in physics and in chemistry."
# Control, zero-width, bidi-override and joiner characters, emoji with ZWJ and flags, CJK, combining accents,
# Arabic and Hebrew, tabs, CRLF and runs of spaces: the answer's character offsets must still be exact.
UNICODE_PASSAGE = (
    "\ufeffMarie\u200b Curie\u00a0\U0001f469\u200d\U0001f52c was born in   Warsaw\x01 in 1867.\r\n"
    "居里夫人出生于华沙。 \u202eevil override\u202c مرحبا بالعالم שלום \U0001f1f5\U0001f1f1\t"
    "Cafe\u0301 cre\u0300me bru\u0302le\u0301e\x7f. She won two Nobel Prizes,\u2028in physics and chemistry."
)
CJK_PASSAGE = "玛丽·居里于1867年出生在华沙。她两次获得诺贝尔奖，分别是物理学奖和化学奖。東京は日本の首都です。"
HTML_PASSAGE = (
    "Mallory wrote <script>alert('pwned')</script> and <b>bold</b> text. # Not a heading **not bold** "
    "[link](javascript:alert(1)) <img src=x onerror=alert(1)> $x^2$ `code`. Then she moved to Lisbon in 1999."
)


@dataclass
class Case:
    name: str
    argv: list[str]  # after `python -m skim`
    expect: int  # exit code the README promises
    passage: str | None = None  # for the offset check of a --json answer
    answer: str | None = None  # the shipped model's answer, checked only with that model
    output_has: str | None = None  # text the output (stdout + stderr) must contain
    shown: dict[str, str] = field(default_factory=dict)  # argv strings to show shortened in the report


def long_passage(n_chars: int) -> str:
    """`n_chars` of the shipped example passages, repeated; LONG_QUESTION has the answer 1349 in each copy."""
    text = " ".join(json.loads(p.read_text(encoding="utf-8"))["passage"] for p in sorted(EXAMPLES.glob("*.json")))
    return ((text + " ") * (n_chars // len(text) + 1))[:n_chars]


def bad_models(model: Path, work: Path) -> dict[str, Path]:
    """Broken checkpoint directories built from `model`'s config and tokenizer files."""

    def copy(name: str) -> Path:
        dst = work / name
        dst.mkdir()
        for f in model.iterdir():
            if f.is_file() and f.suffix != ".safetensors" and f.name != "README.md":
                shutil.copy(f, dst / f.name)
        return dst

    weights = (model / "model.safetensors").read_bytes()
    dirs = {"missing": work / "no-such-model", "no-config": work / "empty-model-dir"}
    dirs["no-config"].mkdir()
    dirs["no-weights"] = copy("no-weights")
    dirs["corrupt"] = copy("corrupt")
    (dirs["corrupt"] / "model.safetensors").write_bytes(b"this is not a safetensors file at all" * 10)
    dirs["truncated"] = copy("truncated")
    (dirs["truncated"] / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    for name, config_text in [("gpt2", None), ("bad-config", "{not json")]:
        dirs[name] = copy(name)
        (dirs[name] / "model.safetensors").write_bytes(weights)
        if config_text is None:
            config = json.loads((dirs[name] / "config.json").read_text())
            config_text = json.dumps({**config, "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]})
        (dirs[name] / "config.json").write_text(config_text)
    dirs["pickled"] = copy("pickled")
    (dirs["pickled"] / "pytorch_model.bin").write_bytes(pickle.dumps(Pwn(str(work / "PWNED"))))
    return dirs


class Pwn:
    """A pickle that creates a file when loaded: the pickled-weights case must leave no such file."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def build_cases(model: Path, work: Path, big: bool = True) -> list[Case]:
    """Every input of the README's "Hostile input" table. `big=False` leaves out the 200,000- and
    300,001-character passages (for a quick run)."""
    m = ["--model", str(model)]
    files = {
        "binary": b"\x00\x01\x02PK\x03\x04\x89PNG\r\n" * 50,
        "latin1": "Marie Curie est née à Varsovie. Café, Zürich, façade.".encode("latin-1"),
        "utf16": CURIE.encode("utf-16"),
        "empty": b"",
        "whitespace": b" \n\t\r\n  \n",
        "zero-width": "\u200b\u200c\u200d\u2060\ufeff".encode(),
        "bom-crlf": ("\ufeff" + CURIE.replace(". ", ".\r\n")).encode("utf-8"),
        "unicode": UNICODE_PASSAGE.encode("utf-8"),
    }
    paths = {name: work / f"{name}.txt" for name in files}
    for name, data in files.items():
        paths[name].write_bytes(data)
    a = ["answer", *m, "--question"]
    where = "Where was Marie Curie born?"
    cases = [
        Case("plain passage (sanity)", [*a, where, "--context", CURIE, "--json"], 0, CURIE, "Warsaw"),
        Case(
            "plain passage, human output",
            [*a, where, "--context", CURIE],
            0,
            answer="Warsaw",
            output_has="token-layers processed",
        ),
        Case("--no-skim", [*a, where, "--context", CURIE, "--no-skim", "--json"], 0, CURIE, "Warsaw"),
        Case("--threshold 0", [*a, where, "--context", CURIE, "--threshold", "0", "--json"], 0, CURIE),
        Case("--skim-layers 1", [*a, where, "--context", CURIE, "--skim-layers", "1", "--json"], 0, CURIE, "Warsaw"),
        Case(
            "--threshold 1 (every passage block dropped), --json",
            [*a, where, "--context", CURIE, "--threshold", "1", "--json"],
            0,
            CURIE,
        ),
        Case(
            "--threshold 1 (every passage block dropped), human output",
            [*a, where, "--context", CURIE, "--threshold", "1"],
            0,
        ),
        Case("empty question", [*a, "", "--context", CURIE], 2, output_has="the question is empty"),
        Case("whitespace-only question", [*a, " \t\n ", "--context", CURIE], 2, output_has="the question is empty"),
        Case("empty passage", [*a, where, "--context", ""], 2, output_has="the passage is empty"),
        Case("whitespace-only passage", [*a, where, "--context", " \n\t "], 2, output_has="the passage is empty"),
        Case("zero-width-only passage", [*a, where, "--context", "\u200b\u200c\u200d\u2060"], 2),
        Case("control-character-only passage", [*a, where, "--context", "\x01\x02\x03\x7f"], 2),
        Case("empty file", [*a, where, "--context-file", str(paths["empty"])], 2, output_has="empty"),
        Case("whitespace-only file", [*a, where, "--context-file", str(paths["whitespace"])], 2, output_has="empty"),
        Case("zero-width-only file", [*a, where, "--context-file", str(paths["zero-width"])], 2),
        Case("binary file", [*a, where, "--context-file", str(paths["binary"])], 2, output_has="looks binary"),
        Case(
            "non-UTF-8 (Latin-1) file",
            [*a, where, "--context-file", str(paths["latin1"])],
            2,
            output_has="is not UTF-8 text (bad byte at offset",
        ),
        Case("UTF-16 file", [*a, where, "--context-file", str(paths["utf16"])], 2),
        Case("directory as --context-file", [*a, where, "--context-file", str(work)], 2, output_has="is a directory"),
        Case("missing file", [*a, where, "--context-file", str(work / "nope.txt")], 2, output_has="no such file"),
        # A file is decoded as utf-8-sig: offsets count from the character after its BOM.
        Case(
            "UTF-8 file with BOM and CRLF",
            [*a, where, "--context-file", str(paths["bom-crlf"]), "--json"],
            0,
            CURIE.replace(". ", ".\r\n"),
            "Warsaw",
        ),
        Case(
            "control/zero-width/RTL/emoji/CJK/accents/spaces passage",
            [*a, where, "--context", UNICODE_PASSAGE, "--json"],
            0,
            UNICODE_PASSAGE,
            "Warsaw",
        ),
        Case(
            "the same passage from a file",
            [*a, where, "--context-file", str(paths["unicode"]), "--json"],
            0,
            UNICODE_PASSAGE.removeprefix("\ufeff"),
            "Warsaw",
        ),
        Case(
            "CJK passage and question",
            [*a, "玛丽·居里出生在哪里？", "--context", CJK_PASSAGE, "--json"],
            0,
            CJK_PASSAGE,
        ),
        Case("emoji-only question", [*a, "\U0001f914\u2753", "--context", CURIE, "--json"], 0, CURIE),
        Case(
            "<script>/HTML/Markdown passage and question",
            [*a, "What did <b>Mallory</b> write? <script>x</script>", "--context", HTML_PASSAGE, "--json"],
            0,
            HTML_PASSAGE,
        ),
        Case(
            "<script>/HTML passage, human output",
            [*a, "Where did Mallory move?", "--context", HTML_PASSAGE],
            0,
            answer="Lisbon",
        ),
        Case(
            "over-long question (2,000 words)",
            [*a, where + " please" * 2000, "--context", CURIE, "--json"],
            0,
            CURIE,
            output_has="question was cut",
            shown={where + " please" * 2000: "<question of 2,000 words>"},
        ),
        Case("non-UTF-8 bytes in --question", [*a, "Wh\udcffere?", "--context", CURIE], 2),
        Case("non-UTF-8 bytes in --context", [*a, where, "--context", "Marie \udcff Curie was born in Warsaw."], 2),
        Case("--threshold nan", [*a, where, "--context", CURIE, "--threshold", "nan"], 2),
        Case("--threshold 1.5", [*a, where, "--context", CURIE, "--threshold", "1.5"], 2),
        Case("--threshold abc", [*a, where, "--context", CURIE, "--threshold", "abc"], 2),
        Case(
            "--skim-layers 9 (no such layer)",
            [*a, where, "--context", CURIE, "--skim-layers", "9"],
            2,
            output_has="predictor layers",
        ),
        Case("--skim-layers x", [*a, where, "--context", CURIE, "--skim-layers", "x"], 2),
        Case("--skim-layers with no layer", [*a, where, "--context", CURIE, "--skim-layers"], 2),
        Case("no passage flag", [*a, where], 2),
        Case(
            "both --context and --context-file",
            [*a, where, "--context", CURIE, "--context-file", str(paths["bom-crlf"])],
            2,
        ),
        Case("unknown flag", [*a, where, "--context", CURIE, "--frobnicate"], 2),
        Case("no subcommand", [], 2),
        Case("unknown subcommand", ["bench-nothing"], 2),
    ]
    if big:
        long200 = work / "passage-200k.txt"
        long200.write_text(long_passage(200_000), encoding="utf-8")
        long300 = work / "passage-300001.txt"
        long300.write_text(long_passage(300_001), encoding="utf-8")
        cases += [
            Case(
                "passage of 200,000 characters (file)",
                [*a, LONG_QUESTION, "--context-file", str(long200)],
                0,
                answer=None,
                output_has="overlapping windows",
            ),
            Case(
                "passage of 300,001 characters (file)",
                [*a, LONG_QUESTION, "--context-file", str(long300)],
                2,
                output_has="the passage has 300,001 characters; the limit is 300,000",
            ),
        ]

    bad = bad_models(model, work)
    for name, expected in [
        ("missing", "model directory not found"),
        ("no-config", "has no config.json"),
        ("no-weights", "has no model.safetensors"),
        ("corrupt", "cannot load model"),
        ("truncated", "cannot load model"),
        ("gpt2", "unsupported architecture 'gpt2'"),
        ("bad-config", "is not valid JSON"),
        ("pickled", "holds only pickled weights"),
    ]:
        cases.append(
            Case(
                f"--model: {name}",
                ["answer", "--model", str(bad[name]), "--question", where, "--context", CURIE],
                2,
                output_has=expected,
            )
        )
    cases.append(
        Case(
            "--model: a hub name, hub offline",
            ["answer", "--model", "nobody/no-such-model", "--question", where, "--context", CURIE],
            2,
            output_has="cannot load model",
        )
    )

    squad = {
        "version": "1.1",
        "data": [
            {
                "title": "T",
                "paragraphs": [
                    {
                        "context": CURIE,
                        "qas": [{"id": "q1", "question": where, "answers": [{"text": "Warsaw", "answer_start": 24}]}],
                    }
                ],
            }
        ],
    }
    data = {
        "good.json": json.dumps(squad).encode(),
        "not-json.json": b"{this is not json",
        "binary.json": files["binary"],
        "latin1.json": json.dumps(squad, ensure_ascii=False).replace("Warsaw", "Varsovie é").encode("latin-1"),
        "empty.json": b"",
        "list.json": b"[1, 2, 3]",
        "missing-field.json": json.dumps({"data": [{"paragraphs": [{"qas": [{"id": "q"}]}]}]}).encode(),
        "no-questions.json": json.dumps({"data": [{"paragraphs": []}]}).encode(),
    }
    for name, content in data.items():
        (work / name).write_bytes(content)
    e = ["eval", *m, "--data"]
    cases += [
        Case("eval: a good SQuAD file", [*e, str(work / "good.json"), "--json"], 0),
        Case("eval: missing file", [*e, str(work / "none.json")], 2, output_has="no such file"),
        Case("eval: directory", [*e, str(work)], 2),
        Case("eval: not JSON", [*e, str(work / "not-json.json")], 2, output_has="not a SQuAD JSON file"),
        Case("eval: binary file", [*e, str(work / "binary.json")], 2),
        Case("eval: non-UTF-8 file", [*e, str(work / "latin1.json")], 2),
        Case("eval: empty file", [*e, str(work / "empty.json")], 2),
        Case("eval: JSON list, not SQuAD", [*e, str(work / "list.json")], 2, output_has="not in SQuAD format"),
        Case(
            "eval: SQuAD with a missing field",
            [*e, str(work / "missing-field.json")],
            2,
            output_has="not in SQuAD format",
        ),
        Case("eval: no questions", [*e, str(work / "no-questions.json")], 2, output_has="holds no questions"),
        Case("eval: --limit 0", [*e, str(work / "good.json"), "--limit", "0"], 2),
        Case("eval: --limit -1", [*e, str(work / "good.json"), "--limit", "-1"], 2),
        Case("eval: --limit abc", [*e, str(work / "good.json"), "--limit", "abc"], 2),
    ]
    return cases


def run_subprocess(argv: list[str], cwd: Path, timeout: float) -> tuple[int, str, str, float | None]:
    """`python -m skim ARGV` from `cwd` (so nothing may depend on the repo being the working directory).
    Returns exit code, stdout, stderr and the child's peak RSS in MB (from wait4)."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-m", "skim", *argv], cwd=cwd, env=env, stdout=out, stderr=err)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = [f.read().decode("utf-8", "replace") for f in (out, err)]
    return proc.returncode, text[0], text[1], usage.ru_maxrss / 1024


def run_in_process(argv: list[str]) -> tuple[int, str, str, float | None]:
    """`skim.cli.main(argv)` with stdout/stderr captured; an exception escaping it is reported as a traceback."""
    if str(REPO) not in sys.path:  # run as `python scripts/cli_battery.py`
        sys.path.insert(0, str(REPO))
    from skim.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:  # noqa: BLE001 - the battery reports it instead of dying
            traceback.print_exc()
            code = 1
    return code, out.getvalue(), err.getvalue(), None


def check(case: Case, code: int, out: str, err: str, check_answers: bool) -> list[str]:
    """What is wrong with one run (empty list: the case passes)."""
    problems = []
    if "Traceback" in out + err:
        problems.append("printed a traceback")
    if code != case.expect:
        problems.append(f"exit code {code}, expected {case.expect}")
    if case.expect == 2 and code == 2:
        if out:
            problems.append("printed to stdout on an error")
        if not err.startswith("error: ") or err.count("\n") != 1:
            problems.append("error output is not one line starting 'error: '")
    if case.output_has and case.output_has not in out + err:
        problems.append(f"output lacks {case.output_has!r}")
    if code == 0 and "--json" in case.argv and case.argv[0] == "answer":
        try:
            record = json.loads(out)
        except json.JSONDecodeError:
            return problems + ["--json output is not JSON"]
        if case.passage is not None and case.passage[record["start_char"] : record["end_char"]] != record["answer"]:
            problems.append("passage[start_char:end_char] != answer")
        if check_answers and case.answer is not None and record["answer"] != case.answer:
            problems.append(f"answer {record['answer']!r}, expected {case.answer!r}")
    elif code == 0 and check_answers and case.answer is not None and f"Answer: {case.answer!r}" not in out:
        problems.append(f"output lacks the answer {case.answer!r}")
    return problems


def shorten(argv: list[str], case: Case, work: Path) -> list[str]:
    shown = []
    for arg in argv:
        if arg in case.shown:
            arg = case.shown[arg]
        elif len(arg) > 120:
            arg = f"<{len(arg):,} characters>"
        shown.append(printable(arg.replace(str(work), "$TMP").replace(str(REPO), "$REPO")))
    return shown


def printable(text: str) -> str:
    """`text` with lone surrogates (undecodable argv bytes) written as escapes, so the report is valid UTF-8."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def run_battery(
    model: Path, in_process: bool = False, big: bool = True, only: str | None = None, timeout: float = 300
) -> dict:
    """Build the inputs in a temporary directory, run every case, return the report."""
    model = Path(model).resolve()
    check_answers = model == DEFAULT_MODEL.resolve()
    records = []
    with tempfile.TemporaryDirectory(prefix="skim-battery-") as tmp:
        work = Path(tmp)
        for case in build_cases(model, work, big):
            if only and only.lower() not in case.name.lower():
                continue
            if in_process and "hub" in case.name:  # huggingface_hub reads HF_HUB_OFFLINE once, at import
                continue
            t = time.perf_counter()
            if in_process:
                code, out, err, rss = run_in_process(case.argv)
            else:
                code, out, err, rss = run_subprocess(case.argv, work, timeout)
            seconds = time.perf_counter() - t
            problems = check(case, code, out, err, check_answers)
            if (work / "PWNED").exists():
                problems.append("a pickle was loaded: PWNED exists")
            first = next((line for line in (out + err).splitlines() if line.strip()), "")
            records.append(
                {
                    "input": case.name,
                    "argv": shorten(case.argv, case, work),
                    "expected_exit": case.expect,
                    "exit": code,
                    "ok": not problems,
                    "problems": problems,
                    "first_line": printable(first[:300].replace(str(work), "$TMP")),
                    "seconds": round(seconds, 2),
                    **({"peak_rss_mb": round(rss)} if rss is not None else {}),
                }
            )
            print(
                f"{'ok  ' if not problems else 'FAIL'} {code}  {seconds:6.1f} s  {case.name}: {first[:100]}"
                + (f"  <- {'; '.join(problems)}" if problems else ""),
                file=sys.stderr,
                flush=True,
            )
    failed = [r["input"] for r in records if not r["ok"]]
    return {
        "model": str(model).replace(str(REPO), "$REPO"),
        "mode": "in-process (skim.cli.main)" if in_process else "subprocess (python -m skim)",
        "cases": len(records),
        "passed": len(records) - len(failed),
        "failed": failed,
        "tracebacks": sum("printed a traceback" in r["problems"] for r in records),
        "results": records,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(DEFAULT_MODEL), help="checkpoint directory (default: assets/model)")
    parser.add_argument("--in-process", action="store_true", help="call skim.cli.main instead of a subprocess")
    parser.add_argument("--quick", action="store_true", help="leave out the 200k and 300k-character passages")
    parser.add_argument("--only", help="run only cases whose name contains this text")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per case")
    parser.add_argument("--output", default=str(REPO / "results" / "cli-battery.json"))
    args = parser.parse_args()
    report = run_battery(Path(args.model), args.in_process, not args.quick, args.only, args.timeout)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(
        f"{report['passed']} of {report['cases']} cases pass, {report['tracebacks']} tracebacks; wrote {args.output}",
        file=sys.stderr,
    )
    return 0 if not report["failed"] else 1


if __name__ == "__main__":
    sys.exit(main())
