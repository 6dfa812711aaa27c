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
    opening: bool = False  # the example the app opens on (first in the picker)


def load_examples(directory: Path = EXAMPLES_DIR) -> list[Example]:
    """Every `*.json` example in `directory`, sorted by file name, except that the one marked `"opening": true`
    comes first: the app opens on it. (File names are the `?example=` keys of shared links, so they stay put.)"""
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
                opening=bool(d.get("opening", False)),
            )
        )
    return sorted(examples, key=lambda e: not e.opening)  # stable: the rest keep their file-name order
