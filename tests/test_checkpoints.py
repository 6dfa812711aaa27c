"""Checkpoints that must be refused with one readable line, never unpickled or half-loaded."""

from __future__ import annotations

import json
import pickle
import shutil

import pytest

from skim import InputError, Reader


def copy_model(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_missing_directory(tmp_path):
    with pytest.raises(InputError, match="not found"):
        Reader.from_pretrained(tmp_path / "nowhere")


def test_pickled_weights_are_refused_without_unpickling(tmp_path, tiny_model_dir):
    model = copy_model(tiny_model_dir, tmp_path / "pickled")
    (model / "model.safetensors").unlink()

    class Boom:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    (model / "pytorch_model.bin").write_bytes(pickle.dumps(Boom()))
    with pytest.raises(InputError, match="pickled"):
        Reader.from_pretrained(model)
    assert not (tmp_path / "pwned").exists()


def test_corrupt_safetensors(tmp_path, tiny_model_dir):
    model = copy_model(tiny_model_dir, tmp_path / "corrupt")
    (model / "model.safetensors").write_bytes(b"this is not a safetensors file at all")
    with pytest.raises(InputError, match="cannot load model"):
        Reader.from_pretrained(model)


def test_truncated_safetensors(tmp_path, tiny_model_dir):
    model = copy_model(tiny_model_dir, tmp_path / "truncated")
    data = (model / "model.safetensors").read_bytes()
    (model / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="cannot load model"):
        Reader.from_pretrained(model)


def test_unsupported_architecture(tmp_path, tiny_model_dir):
    model = copy_model(tiny_model_dir, tmp_path / "gpt")
    config = json.loads((model / "config.json").read_text())
    config["model_type"] = "gpt2"
    (model / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match="unsupported architecture 'gpt2'"):
        Reader.from_pretrained(model)


def test_broken_config(tmp_path, tiny_model_dir):
    model = copy_model(tiny_model_dir, tmp_path / "badjson")
    (model / "config.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        Reader.from_pretrained(model)
