"""models.config: a valid TF Serving ModelServerConfig listing every export, names that
cannot leave the base path, and the `apps.export_config` command."""

import os
import subprocess
import sys
import threading
import time

import pytest
from google.protobuf import text_format

from bertlab.export import model_config
from bertlab.export.model_config import (MODELS_CONFIG_FILE, discover_models,
                                          is_valid_model_name, models_config_text,
                                          validate_model_name, write_models_config)
from tests.conftest import REPO_ROOT

APPS = ["ner", "qa", "sentiment", "summarization", "translation", "translation_de_en"]


def _parse(text):
    from tensorflow_serving.config import model_server_config_pb2

    return text_format.Parse(text, model_server_config_pb2.ModelServerConfig())


def test_export_step_wrote_a_models_config_for_every_app(model_base_path):
    config = _parse((model_base_path / MODELS_CONFIG_FILE).read_text())
    entries = {c.name: c for c in config.model_config_list.config}
    assert sorted(entries) == APPS
    for name, entry in entries.items():
        assert entry.base_path == str(model_base_path / name) and os.path.isabs(entry.base_path)
        assert entry.model_platform == "tensorflow"
        assert (model_base_path / name / "1" / "saved_model.pb").is_file()


def test_only_real_models_are_listed(tmp_path, exports):
    base = tmp_path / "models"
    base.mkdir()
    os.symlink(exports["sentiment"].parent, base / "good")        # a link inside is fine
    (base / "empty").mkdir()                                        # no version
    (base / "noversion" / "latest").mkdir(parents=True)             # not an integer
    (base / "broken" / "1").mkdir(parents=True)                     # no saved_model.pb
    (base / ".tmp-export-x" / "1").mkdir(parents=True)
    (base / ".tmp-export-x" / "1" / "saved_model.pb").write_bytes(b"x")
    (base / "bad name" / "1").mkdir(parents=True)
    (base / "bad name" / "1" / "saved_model.pb").write_bytes(b"x")
    outside = tmp_path / "outside"
    (outside / "1").mkdir(parents=True)
    (outside / "1" / "saved_model.pb").write_bytes(b"x")
    os.symlink(outside, base / "escape")                            # leads outside: skipped
    (base / "file").write_text("x")
    assert list(discover_models(base)) == []  # "good" links to a directory outside too
    os.unlink(base / "good")
    os.symlink("../models_real", base / "unused")
    (base / "kept" / "3").mkdir(parents=True)
    (base / "kept" / "3" / "saved_model.pb").write_bytes(b"x")
    path, models = write_models_config(base, serving_base_path="/models/")
    assert list(models) == ["kept"]
    config = _parse(open(path).read())
    assert [(c.name, c.base_path) for c in config.model_config_list.config] == [
        ("kept", "/models/kept")]
    assert not [n for n in os.listdir(base) if n.startswith(MODELS_CONFIG_FILE + ".tmp")]


def test_model_names():
    for name in ["sentiment", "translation_de_en", "ner-v2", "a.b", "X1"]:
        assert is_valid_model_name(name) and validate_model_name(name) == name
    for name in ["", ".", "..", "../etc", "a/b", "a\\b", ".hidden", "a..b", "a b", "%2e%2e",
                 "x" * 129, "naïve", None, 3]:
        assert not is_valid_model_name(name)
    with pytest.raises(ValueError, match="Invalid model name '../etc'"):
        validate_model_name("../etc")
    with pytest.raises(ValueError, match="Invalid model name"):
        models_config_text({"a b": "/x"})


def test_missing_base_path_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="Model base path not found"):
        discover_models(tmp_path / "missing")


def test_export_config_command(model_base_path, tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    (model_base_path / MODELS_CONFIG_FILE).unlink()
    result = subprocess.run([sys.executable, "-m", "apps.export_config",
                             f"--model_base_path={model_base_path}"], capture_output=True,
                            text=True, cwd=REPO_ROOT, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines()[0] == str(model_base_path / MODELS_CONFIG_FILE)
    config = _parse((model_base_path / MODELS_CONFIG_FILE).read_text())
    assert sorted(c.name for c in config.model_config_list.config) == APPS
    result = subprocess.run([sys.executable, "-m", "apps.export_config",
                             f"--model_base_path={tmp_path / 'nothing'}"], capture_output=True,
                            text=True, cwd=REPO_ROOT, env=env, timeout=120)
    assert result.returncode == 1 and "Model base path not found" in result.stderr


def test_concurrent_rewrites_lose_no_model(tmp_path, monkeypatch):
    # A lost update without the lock: writer A lists the models, writer B adds "ner" and
    # rewrites the file, then A writes its older list over it. With the lock B waits for A,
    # then lists both models.
    base = tmp_path / "saved_models"
    for name in ("sentiment", "ner"):
        (base / name / "1").mkdir(parents=True)
    (base / "sentiment" / "1" / "saved_model.pb").write_bytes(b"x")
    original = model_config.discover_models
    a_listed, b_started = threading.Event(), threading.Event()

    def slow_listing(path):
        models = original(path)
        if threading.current_thread().name == "A":
            a_listed.set()
            b_started.wait(timeout=5)
            time.sleep(0.3)  # B would have written by now without the lock
        return models

    monkeypatch.setattr(model_config, "discover_models", slow_listing)
    a = threading.Thread(target=write_models_config, args=(base,), name="A")
    a.start()

    def b():
        a_listed.wait(timeout=5)
        (base / "ner" / "1" / "saved_model.pb").write_bytes(b"x")  # B's export arrives
        b_started.set()
        write_models_config(base)

    b_thread = threading.Thread(target=b, name="B")
    b_thread.start()
    a.join(timeout=10)
    b_thread.join(timeout=10)
    config = _parse((base / MODELS_CONFIG_FILE).read_text())
    assert sorted(c.name for c in config.model_config_list.config) == ["ner", "sentiment"]
    assert (base / (MODELS_CONFIG_FILE + ".lock")).is_file()
