"""SQuAD v1.1 through `datasets`: loading, long-passage augmentation, and tokenised training features.

`--dataset squad` (the hub) and `--data PATH` (an official-format JSON file) give rows with the same columns as
`load_dataset("squad")`: id, title, context, question, answers {text: [...], answer_start: [...]}.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import random
from pathlib import Path

from datasets import Dataset, load_dataset, load_from_disk
from transformers import PreTrainedTokenizerBase

from .qa import InputError, segment_ids, tokenize_windows, truncate_question

logger = logging.getLogger(__name__)


def read_squad_json(path: str | Path) -> list[dict]:
    """Flatten an official-format SQuAD v1.1 file (or its gzip, `*.gz`, so training data travels small) into one
    row per question."""
    try:
        opener = gzip.open if str(path).endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            raw = json.load(f)
    except FileNotFoundError:
        raise InputError(f"no such file: {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path} is not a SQuAD JSON file ({err.__class__.__name__}: {err})") from None
    except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
        raise InputError(f"cannot read {path}: {getattr(err, 'strerror', None) or err}") from None
    return squad_rows(raw, str(path))


def squad_rows(raw: object, name: str = "the file") -> list[dict]:
    """Flatten already parsed official-format SQuAD JSON (e.g. an upload); `name` is how errors refer to it."""
    if not isinstance(raw, dict) or not isinstance(raw.get("data"), list):
        raise InputError(f'{name} is not in SQuAD format: expected {{"data": [...]}} at the top')
    rows = []
    try:
        for article in raw["data"]:
            for paragraph in article["paragraphs"]:
                context = paragraph["context"]
                for qa in paragraph["qas"]:
                    answers = qa.get("answers", [])
                    rows.append(
                        {
                            "id": str(qa["id"]),
                            "title": str(article.get("title", "")),
                            "context": context,
                            "question": qa["question"],
                            "answers": {
                                "text": [a["text"] for a in answers],
                                "answer_start": [int(a["answer_start"]) for a in answers],
                            },
                        }
                    )
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"{name} is not in SQuAD format (missing or bad field {err})") from None
    if not rows:
        raise InputError(f"{name} holds no questions")
    return rows


def load_squad(data: str | None = None, dataset: str | None = None, split: str = "train") -> Dataset:
    """Rows from a local official-format file, or from the hub (`dataset="squad"`, needs a network)."""
    if data:
        return Dataset.from_list(read_squad_json(data))
    if dataset:
        return load_dataset(dataset, split=split)
    raise InputError("give --data PATH or --dataset NAME")


def join_neighbours(ds: Dataset, fraction: float, seed: int = 0) -> Dataset:
    """Give a `fraction` of the questions a longer passage: the gold paragraph plus the article's next (or,
    for the last one, previous) paragraph, answer offsets shifted. Skimming pays on long inputs, so the
    predictors must see distractor paragraphs, not only single SQuAD paragraphs."""
    if fraction <= 0:
        return ds
    paragraphs = article_paragraphs(ds["title"], ds["context"])
    rng = random.Random(seed)

    def extend(row: dict) -> dict:
        if rng.random() >= fraction:
            return row
        article = paragraphs[row["title"]]
        at = article.index(row["context"])
        if len(article) < 2:
            return row
        if at + 1 < len(article):
            row["context"] = row["context"] + "\n\n" + article[at + 1]
        else:
            shift = len(article[at - 1]) + 2
            row["context"] = article[at - 1] + "\n\n" + row["context"]
            row["answers"] = {
                "text": row["answers"]["text"],
                "answer_start": [s + shift for s in row["answers"]["answer_start"]],
            }
        return row

    return ds.map(extend, load_from_cache_file=False, desc="joining neighbour paragraphs")


def article_paragraphs(titles: list[str], contexts: list[str]) -> dict[str, list[str]]:
    """Each article's paragraphs in order, from the title and context columns of rows listed paragraph by paragraph."""
    paragraphs: dict[str, list[str]] = {}
    for title, context in zip(titles, contexts):
        article = paragraphs.setdefault(title, [])
        if not article or article[-1] != context:
            article.append(context)
    return paragraphs


ARTICLE_JOINER = "\n\n"  # paragraphs of a whole article, joined as one passage (a blank line between)


def article_text(article: list[str]) -> str:
    """A whole article's paragraphs as one passage, in order."""
    return ARTICLE_JOINER.join(article)


def paragraph_offset(article: list[str], paragraph: str) -> int:
    """Where `paragraph` (one of `article`'s) starts in `article_text(article)`."""
    return sum(len(p) + len(ARTICLE_JOINER) for p in article[: article.index(paragraph)])


def lengthen(row: dict, article: list[str], long_enough, before_first: bool = True) -> tuple[str, int]:
    """The gold paragraph with the article's neighbours added alternately before and after it (starting before
    when `before_first`) until `long_enough(text)` or the article runs out. Returns `(context, answer_start)`."""
    at = article.index(row["context"])
    before, after, parts = at - 1, at + 1, [row["context"]]
    start = row["answers"]["answer_start"][0] if row["answers"]["answer_start"] else 0
    turn_before = before_first
    while not long_enough("\n\n".join(parts)) and (before >= 0 or after < len(article)):
        if before >= 0 and (turn_before or after >= len(article)):
            parts.insert(0, article[before])
            start += len(article[before]) + 2
            before -= 1
        else:
            parts.append(article[after])
            after += 1
        turn_before = not turn_before
    return "\n\n".join(parts), start


def fill_with_neighbours(ds: Dataset, fraction: float, min_chars: int, seed: int = 0) -> Dataset:
    """Give a `fraction` of the questions a passage of at least `min_chars` characters: neighbours on both sides
    of the gold paragraph (which side first is random), so that the gold paragraph sits anywhere in a long
    input, as in real documents. The predictors learn where the answer is, not where the first paragraph is."""
    paragraphs = article_paragraphs(ds["title"], ds["context"])
    rng = random.Random(seed)

    def extend(row: dict) -> dict:
        if rng.random() >= fraction:
            return row
        context, start = lengthen(
            row, paragraphs[row["title"]], lambda text: len(text) >= min_chars, rng.random() < 0.5
        )
        shift = start - row["answers"]["answer_start"][0]
        row["context"] = context
        row["answers"] = {
            "text": row["answers"]["text"],
            "answer_start": [s + shift for s in row["answers"]["answer_start"]],
        }
        return row

    return ds.map(extend, load_from_cache_file=False, desc="filling passages with neighbour paragraphs")


def prepare_train_features(
    examples: dict, tokenizer: PreTrainedTokenizerBase, max_length: int, stride: int
) -> dict[str, list]:
    """Batched `datasets.map` function: windows with start/end token labels ([CLS] = 0 when the answer is not
    inside the window), as in Hugging Face's `run_qa.py`."""
    questions = [truncate_question(tokenizer, q)[0] for q in examples["question"]]
    encoded = tokenize_windows(tokenizer, questions, examples["context"], max_length, stride)
    starts, ends = [], []
    for i, offsets in enumerate(encoded["offset_mapping"]):
        answers = examples["answers"][encoded["overflow_to_sample_mapping"][i]]
        sequence_ids = encoded.sequence_ids(i)
        first = sequence_ids.index(1)
        last = len(sequence_ids) - 1 - sequence_ids[::-1].index(1)
        char_start = answers["answer_start"][0]
        char_end = char_start + len(answers["text"][0])
        if offsets[first][0] > char_start or offsets[last][1] < char_end:
            starts.append(0)
            ends.append(0)
            continue
        start = first
        while start <= last and offsets[start][0] <= char_start:
            start += 1
        end = last
        while end >= first and offsets[end][1] >= char_end:
            end -= 1
        starts.append(start - 1)
        ends.append(end + 1)
    return {
        "input_ids": encoded["input_ids"],
        "token_type_ids": [segment_ids(encoded.sequence_ids(i)) for i in range(len(encoded["input_ids"]))],
        "start_positions": starts,
        "end_positions": ends,
    }


PARALLEL_FROM_ROWS = 20_000  # below this, starting worker processes costs more than it saves


def train_features(
    ds: Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int, stride: int, cache_dir: str | Path, source: str
) -> Dataset:
    """Tokenised features, cached on disk under a key of the inputs, so a resumed run does not tokenise again.
    `source` names where `ds` came from (an in-memory dataset has no stable fingerprint of its own)."""
    key = hashlib.sha256(
        f"{source}|{len(ds)}|{tokenizer.name_or_path}|{len(tokenizer)}|{max_length}|{stride}|v1".encode()
    ).hexdigest()[:16]
    path = Path(cache_dir) / f"features-{key}"
    if path.exists():
        logger.info("reusing tokenised features from %s", path)
        return load_from_disk(str(path))
    # The training set is tokenised one batch per process: on a many-core GPU machine that is seconds, not minutes.
    num_proc = min(8, os.cpu_count() or 1) if len(ds) >= PARALLEL_FROM_ROWS else None
    features = ds.map(
        prepare_train_features,
        batched=True,
        num_proc=num_proc if num_proc and num_proc > 1 else None,
        remove_columns=ds.column_names,
        fn_kwargs={"tokenizer": tokenizer, "max_length": max_length, "stride": stride},
        desc="tokenising",
    )
    features.save_to_disk(str(path))
    return load_from_disk(str(path))
