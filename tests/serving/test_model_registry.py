"""Versions on disk: a new version is loaded and swapped in under load without a failed
request; a broken version is refused (logged, shown in the status) while the previous one
keeps serving; a failed version is retried with back-off (and at once when it changes); a
deleted version is unloaded; a version that links outside the base path is refused."""

import logging
import os
import shutil
import threading
import time

import pytest

from bertlab.serving.model_registry import ModelRegistry, NotFound
from bertlab.serving.rest_server import BackgroundServer, create_app
from tests.serving.helpers import http


def _publish(model_dir, version, fill):
    """Writes a version the way exporters do: a temporary sibling renamed into place."""
    tmp = model_dir / f".tmp-export-{version}"
    fill(tmp)
    os.rename(tmp, model_dir / str(version))


def _sentiment_versions(tmp_path, exports, *versions):
    """`(base, model_dir)`: a model base path holding the sentiment export as `versions`."""
    base = tmp_path / "models"
    model_dir = base / "sentiment"
    model_dir.mkdir(parents=True)
    for version in versions:
        shutil.copytree(exports["sentiment"], model_dir / str(version))
    return base, model_dir


def _wait_for(predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture()
def swapping(tmp_path, exports):
    base, model_dir = _sentiment_versions(tmp_path, exports, 1)
    # Retries of a failed version are far apart here (their own test: below).
    registry = ModelRegistry(base, poll_interval_s=0.2, load_retry_interval_s=60).start()
    server = BackgroundServer(create_app(registry)).start()
    yield server, registry, model_dir
    server.stop()
    registry.stop()


def _served_versions(server):
    status = http(f"{server.url}/v1/models/sentiment")[1]["model_version_status"]
    return {s["version"]: s["state"] for s in status}


def test_new_version_swaps_in_under_load_then_broken_one_is_refused(swapping, exports,
                                                                    caplog):
    server, registry, model_dir = swapping
    failures, answered, stop = [], [], threading.Event()

    def client():
        while not stop.is_set():
            status, body = http(f"{server.url}/v1/models/sentiment:predict",
                                {"instances": ["a fine film", "bad"]})
            (answered if status == 200 else failures).append((status, body))

    clients = [threading.Thread(target=client) for _ in range(4)]
    for thread in clients:
        thread.start()
    try:
        assert _wait_for(lambda: len(answered) >= 8)
        _publish(model_dir, 2, lambda p: shutil.copytree(exports["sentiment"], p))
        assert _wait_for(lambda: registry.get("sentiment").version == 2)
        count = len(answered)
        assert _wait_for(lambda: len(answered) >= count + 8)
        assert _served_versions(server) == {"2": "AVAILABLE", "1": "END"}
        assert http(f"{server.url}/v1/models/sentiment/versions/2:predict",
                    {"instances": ["ok"]})[0] == 200
        assert http(f"{server.url}/v1/models/sentiment/versions/1:predict",
                    {"instances": ["ok"]})[0] == 404

        # A broken export: refused, logged, the previous version keeps serving.
        with caplog.at_level(logging.ERROR, logger="bertlab.serving"):
            def broken(p):
                shutil.copytree(exports["sentiment"], p)
                (p / "saved_model.pb").write_bytes(b"\x08\x01garbage")
            _publish(model_dir, 3, broken)
            assert _wait_for(lambda: _served_versions(server).get("3") == "END")
        status = http(f"{server.url}/v1/models/sentiment/versions/3")[1]
        entry = status["model_version_status"][0]
        assert entry["state"] == "END" and entry["status"]["error_code"] == "UNKNOWN"
        assert entry["status"]["error_message"]
        assert any("Refusing sentiment version 3" in r.getMessage() and
                   "still serving version 2" in r.getMessage() for r in caplog.records)
        count = len(answered)
        assert _wait_for(lambda: len(answered) >= count + 8)
        assert registry.get("sentiment").version == 2
        # Not retried before its back-off while unchanged; a fixed version 3 is loaded at once.
        refused = sum("Refusing" in r.getMessage() for r in caplog.records)
        time.sleep(0.6)
        assert sum("Refusing" in r.getMessage() for r in caplog.records) == refused
        shutil.copy(exports["sentiment"] / "saved_model.pb", model_dir / "3" / "saved_model.pb")
        assert _wait_for(lambda: registry.get("sentiment").version == 3)
    finally:
        stop.set()
        for thread in clients:
            thread.join()
    assert failures == [] and len(answered) > 24


def test_warm_up_failure_refuses_the_version(swapping, exports):
    server, registry, model_dir = swapping

    def bad_warmup(p):
        shutil.copytree(exports["sentiment"], p)
        from bertlab.export.warmup import write_warmup_requests
        os.remove(p / "assets.extra" / "tf_serving_warmup_requests")
        write_warmup_requests(p, "no_such_signature", [{"text": ["x"]}])

    _publish(model_dir, 2, bad_warmup)
    assert _wait_for(lambda: _served_versions(server).get("2") == "END")
    entry = http(f"{server.url}/v1/models/sentiment/versions/2")[1]["model_version_status"][0]
    assert "no_such_signature" in entry["status"]["error_message"]
    assert registry.get("sentiment").version == 1
    assert http(f"{server.url}/v1/models/sentiment:predict", {"instances": ["x"]})[0] == 200


def test_new_model_directory_is_picked_up(swapping, exports):
    server, registry, model_dir = swapping
    assert http(f"{server.url}/v1/models/ner")[0] == 404
    other = model_dir.parent / "ner"
    other.mkdir()
    _publish(other, 1, lambda p: shutil.copytree(exports["ner"], p))
    assert _wait_for(lambda: "ner" in registry.names())
    assert http(f"{server.url}/v1/models/ner:predict", {"instances": ["EU"]})[0] == 200


def _refusals(caplog, version):
    return sum(f"Refusing sentiment version {version} " in r.getMessage()
               for r in caplog.records)


def test_failed_version_is_retried_with_back_off(tmp_path, exports, caplog):
    """Caught mid-copy (no variables yet), version 2 fails; it loads on a retry although its
    saved_model.pb never changes. Version 3 stays broken: tried 1 + max_load_retries times."""
    base, model_dir = _sentiment_versions(tmp_path, exports, 1)
    registry = ModelRegistry(base, poll_interval_s=0.05, max_load_retries=2,
                             load_retry_interval_s=0.1).start()
    try:
        with caplog.at_level(logging.ERROR, logger="bertlab.serving"):
            _publish(model_dir, 2, lambda p: shutil.copytree(
                exports["sentiment"], p, ignore=shutil.ignore_patterns("variables")))
            assert _wait_for(lambda: _refusals(caplog, 2) >= 1)
            assert "retry 1 of 2 in 0.1 s" in caplog.text
            assert registry.get("sentiment").version == 1
            shutil.copytree(exports["sentiment"] / "variables", model_dir / "2" / "variables")
            assert _wait_for(lambda: registry.get("sentiment").version == 2)

            _publish(model_dir, 3, lambda p: shutil.copytree(
                exports["sentiment"], p, ignore=shutil.ignore_patterns("variables")))
            assert _wait_for(lambda: _refusals(caplog, 3) == 3)
            time.sleep(0.6)  # past the next back-off (0.4 s): no fourth try
        assert _refusals(caplog, 3) == 3 and registry.get("sentiment").version == 2
        entry = registry.status("sentiment", 3)["model_version_status"][0]
        assert entry["state"] == "END" and entry["status"]["error_message"]
    finally:
        registry.stop()


def test_deleted_versions_are_unloaded(tmp_path, exports):
    base, model_dir = _sentiment_versions(tmp_path, exports, 1, 2)
    registry = ModelRegistry(base, poll_interval_s=0).start()
    try:
        assert registry.get("sentiment").version == 2
        shutil.rmtree(model_dir / "2")
        registry.poll_once()
        assert registry.get("sentiment").version == 1  # the next lower version on disk
        shutil.rmtree(model_dir / "1")
        assert registry.poll_once() == {}
        assert registry.names() == []
        with pytest.raises(NotFound):
            registry.get("sentiment")
        assert registry.status("sentiment") == {"model_version_status": [
            {"version": "2", "state": "END", "status": {"error_code": "OK", "error_message": ""}},
            {"version": "1", "state": "END",
             "status": {"error_code": "OK", "error_message": ""}}]}
        # The model directory gone as a whole: nothing left to serve either.
        shutil.copytree(exports["sentiment"], model_dir / "3")
        assert registry.poll_once() == {"sentiment": 3}
        shutil.rmtree(model_dir)
        assert registry.poll_once() == {}
    finally:
        registry.stop()


def test_version_linking_outside_the_base_path_is_refused(tmp_path, exports):
    base, model_dir = _sentiment_versions(tmp_path, exports, 1)
    os.symlink(exports["sentiment"], model_dir / "2")  # outside `base`
    registry = ModelRegistry(base, poll_interval_s=0).start()
    try:
        assert registry.get("sentiment").version == 1
        entry = registry.status("sentiment", 2)["model_version_status"][0]
        assert entry["state"] == "END"
        assert "outside the model base path" in entry["status"]["error_message"]
        # A link that stays inside the base path is served.
        shutil.copytree(exports["sentiment"], base / ".store" / "sentiment")
        os.symlink(base / ".store" / "sentiment", model_dir / "3")
        assert registry.poll_once() == {"sentiment": 3}
    finally:
        registry.stop()
