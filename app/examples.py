"""Worked examples shipped in `assets/examples/*.json` (see the README there for fields and credits)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "assets" / "examples"


@dataclass(frozen=True)
class Example:
    key: str  # file stem, also the `?example=` URL value
    title: str
    passage: str
    question: str
    answer: str | None
    kind: str
    source: str


def load_examples(directory: Path = EXAMPLES_DIR) -> list[Example]:
    """Every `*.json` example in `directory`, sorted by file name (the first is the app's opening example)."""
    examples = []
    for path in sorted(directory.glob("*.json")):
        d = json.loads(path.read_text(encoding="utf-8"))
        examples.append(
            Example(
                key=path.stem,
                title=d["title"],
                passage=d["passage"],
                question=d["question"],
                answer=d.get("answer"),
                kind=d.get("kind", ""),
                source=d.get("source", ""),
            )
        )
    return examples
