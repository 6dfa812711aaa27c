"""scripts/held_out_articles.py --whole-articles: each held-out question asked of its whole article."""

from __future__ import annotations

from datasets import Dataset

from scripts.held_out_articles import whole_articles


def row(title: str, context: str, answer: str, qid: str) -> dict:
    return {
        "id": qid,
        "title": title,
        "context": context,
        "question": f"Where is {answer}?",
        "answers": {"text": [answer], "answer_start": [context.index(answer)]},
    }


def test_every_question_gets_its_whole_article_and_its_answer_moves_with_it():
    rows = Dataset.from_list(
        [
            row("A", "First paragraph names Paris.", "Paris", "1"),
            row("A", "Second paragraph names Rome.", "Rome", "2"),
            row("A", "Second paragraph names Rome.", "paragraph", "3"),
            row("B", "Another article: Oslo.", "Oslo", "4"),
        ]
    )
    out = whole_articles(rows)
    article_a = "First paragraph names Paris.\n\nSecond paragraph names Rome."
    assert [r["context"] for r in out] == [article_a] * 3 + ["Another article: Oslo."]
    for r in out:
        start = r["answers"]["answer_start"][0]
        assert r["context"][start : start + len(r["answers"]["text"][0])] == r["answers"]["text"][0]
    assert out[2]["answers"]["answer_start"] == [len("First paragraph names Paris.\n\n") + len("Second ")]
    assert [r["id"] for r in out] == ["1", "2", "3", "4"]
