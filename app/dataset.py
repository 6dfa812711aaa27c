"""The Dataset page's data: the bundled SQuAD sample, validated uploads, per-question results and their filters.

No Streamlit here, so each piece is testable alone. Rows are `skim.data.squad_rows` rows: id, title, context,
question, answers {text: [...], answer_start: [...]}.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from skim import InputError
from skim.data import squad_rows

SAMPLE_PATH = Path(__file__).resolve().parent.parent / "assets" / "squad-dev-sample.json"
MAX_UPLOAD_MB = 5  # the whole official dev set (4.6 MB) fits; evaluation still runs only the first N questions
UPLOAD_NAME = "the uploaded file"  # errors never quote the file's own name: it is user text


@dataclass(frozen=True)
class Dataset:
    name: str
    fingerprint: str  # of the file's bytes: part of every cache key, so a new file never reuses old results
    rows: list[dict]
    skipped: int  # questions without a gold answer (SQuAD 2.0 "impossible" ones), left out


def fingerprint(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def parse_squad_bytes(data: bytes, name: str = UPLOAD_NAME) -> Dataset:
    """An official-format SQuAD JSON file's bytes → `Dataset`; `InputError` with one line when they are not."""
    if len(data) > MAX_UPLOAD_MB * 1024 * 1024:
        raise InputError(f"{name} has {len(data) / 1024 / 1024:.1f} MB; the limit is {MAX_UPLOAD_MB} MB")
    if b"\x00" in data[:8192]:
        raise InputError(f"{name} looks binary, not a JSON text file")
    try:
        text = data.decode("utf-8-sig")  # tolerate the BOM some Windows editors write
    except UnicodeDecodeError as err:
        raise InputError(f"{name} is not UTF-8 text (bad byte at offset {err.start})") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"{name} is not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None
    rows = squad_rows(raw, name)
    for row in rows:
        texts = [row["context"], row["question"], *row["answers"]["text"]]
        if not all(isinstance(t, str) for t in texts):
            raise InputError(f"{name} is not in SQuAD format (a context, question or answer is not text)")
    answered = [r for r in rows if r["answers"]["text"]]
    if not answered:
        raise InputError(f"{name} holds no question with a gold answer (SQuAD v1.1 format is needed)")
    return Dataset(name, fingerprint(data), answered, len(rows) - len(answered))


def load_sample(path: Path = SAMPLE_PATH) -> Dataset:
    return parse_squad_bytes(path.read_bytes(), path.name)


def results_table(rows: list[dict], full: dict, skim: dict) -> pd.DataFrame:
    """One line per question from two `skim.evaluate.run_questions` results over `rows` (full model, skimming).
    `answer block` is the block holding the gold answer's first character; `dropped at layer` is empty while
    that block survived every layer."""
    return pd.DataFrame(
        {
            "row": range(len(rows)),
            "id": [r["id"] for r in rows],
            "question": [r["question"] for r in rows],
            "gold answers": [" | ".join(dict.fromkeys(r["answers"]["text"])) for r in rows],
            "skim answer": skim["predictions"],
            "full answer": full["predictions"],
            "skim EM": skim["exact_per_question"],
            "skim F1": skim["f1_per_question"],
            "full F1": full["f1_per_question"],
            "same answer": [a == b for a, b in zip(skim["predictions"], full["predictions"])],
            "answer block": pd.array(skim["gold_block_per_question"], dtype="Int64"),
            "dropped at layer": pd.array(skim["gold_dropped_at_per_question"], dtype="Int64"),
            "skim ms": skim["ms_per_question"],
            "full ms": full["ms_per_question"],
            "title": [r["title"] for r in rows],
        }
    )


FILTERS = {
    "wrong": "wrong answers only (skimmed EM = 0)",
    "dropped": "answer block dropped only",
    "worse": "skimming lowered F1 only",
}


def filter_results(
    table: pd.DataFrame, wrong: bool = False, dropped: bool = False, worse: bool = False
) -> pd.DataFrame:
    """The rows passing every filter that is on (see `FILTERS`)."""
    keep = pd.Series(True, index=table.index)
    if wrong:
        keep &= table["skim EM"] == 0
    if dropped:
        keep &= table["dropped at layer"].notna()
    if worse:
        keep &= table["skim F1"] < table["full F1"]
    return table[keep]


def summary(full: dict, skim: dict) -> dict[str, float]:
    """Headline numbers of one batch: SQuAD scores (0-100), kept fraction, measured and ideal speed-up."""
    return {
        "full EM": full["exact_match"],
        "full F1": full["f1"],
        "skim EM": skim["exact_match"],
        "skim F1": skim["f1"],
        "kept fraction": skim["kept_fraction"],
        "gold block alive": skim["gold_block_alive"],
        "speed-up": full["seconds"] / skim["seconds"] if skim["seconds"] else float("nan"),
        "ideal speed-up": 1 / skim["kept_fraction"] if skim["kept_fraction"] else float("nan"),
        "full seconds": full["seconds"],
        "skim seconds": skim["seconds"],
    }
