"""Driving the Streamlit app in process (AppTest) on the tiny random checkpoint: shared by the app's test files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "streamlit_app.py")
TIMEOUT = 120  # the first run loads the model; AppTest's default is 3 s


def app_on_model(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Body of each app test file's autouse fixture: point the app at `model_dir` (the tiny model) and start
    and end with empty caches (they outlive an AppTest)."""
    monkeypatch.setenv("SKIM_MODEL", str(model_dir))
    monkeypatch.setenv("SKIM_DTYPE", "float32")  # what the CLI gives, whatever this CPU (bfloat16: its own tests)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def record_downloads(monkeypatch: pytest.MonkeyPatch) -> dict:
    """`{file_name: make_payload}` of every download button of the last run. The app builds files only when a
    button is clicked (a deferred callable), so a test calls `make_payload()` as the click would."""
    files: dict = {}
    add_deferred = MediaFileManager.add_deferred

    def record(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):
        files[file_name] = data_callable
        return add_deferred(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(MediaFileManager, "add_deferred", record)
    return files


def record_media(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """Every payload handed to Streamlit's media storage, by file id (AppTest drops its storage after a run): the
    download buttons given their data directly (the Dataset page's), as `media_payload` reads them back."""
    payloads: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def spy(self, path_or_data, mimetype, kind, filename=None):
        file_id = original(self, path_or_data, mimetype, kind, filename)
        payloads[file_id] = path_or_data.encode() if isinstance(path_or_data, str) else path_or_data
        return file_id

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", spy)
    return payloads


def media_payload(at: AppTest, key: str, payloads: dict[str, bytes]) -> bytes:
    """The file of the download button `key`, from `record_media`'s payloads."""
    return payloads[Path(at.download_button(key=key).proto.url).stem]


def run_app(**query) -> AppTest:
    """A first run, optionally opened on a URL with these query parameters."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params.update(query)
    return at.run()


def submit(at: AppTest, question: str, passage: str) -> AppTest:
    at.text_input(key="question").input(question)
    at.text_area(key="passage").input(passage)
    at.form_submit_button[0].click()
    return at.run()


def chart(at: AppTest, key: str) -> dict:
    """The Plotly spec of the chart drawn with `key`."""
    return json.loads(next(c for c in at.get("plotly_chart") if c.proto.id.endswith(f"-{key}")).proto.spec)


def shown_markup(at: AppTest) -> list[str]:
    """Everything rendered as Markdown/HTML, i.e. everything where unescaped user text could become markup."""
    return [m.value for m in at.markdown] + [h.value for h in at.get("html")]
