"""The commands: `python -m apps.serve` (a real process on 127.0.0.1) and `python -m apps.demo`."""

import os
import re
import signal
import socket
import subprocess
import sys
import time

from tests.apps.app_process import run_apps
from tests.conftest import REPO_ROOT
from tests.serving.helpers import http

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")


def _other_address():
    """A non-loopback address of this machine, if it has one."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("10.255.255.255", 1))  # no packet is sent
            address = s.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


def test_serve_command(model_base_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "apps.serve", f"--model_base_path={model_base_path}",
         "--port=0", "--poll_interval_s=0"], cwd=REPO_ROOT, env=ENV,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url, lines, deadline = None, [], time.monotonic() + 180
        while url is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            found = re.search(r"demo page at (http://[0-9.:]+)/", line)
            url = found.group(1) if found else None
        assert url, "".join(lines[-30:])
        assert url.startswith("http://127.0.0.1:")  # local clients only by default
        assert http(f"{url}/v1/models/sentiment")[0] == 200
        status, body = http(f"{url}/v1/models/ner:predict", {"instances": ["EU rejects it"]})
        assert status == 200 and body["predictions"][0]["tokens"] == ["EU", "rejects", "it"]
        assert http(f"{url}/")[0] == 200
        other = _other_address()
        if other:
            port = int(url.rsplit(":", 1)[1])
            with socket.socket() as s:
                s.settimeout(5)
                assert s.connect_ex((other, port)) != 0
        process.send_signal(signal.SIGTERM)  # uvicorn shuts down, then re-raises the signal
        assert process.wait(timeout=60) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()


def test_serve_command_errors(tmp_path):
    missing, bad_port = run_apps([
        ("apps.serve", [f"--model_base_path={tmp_path / 'missing'}"]),
        ("apps.serve", ["--port=70000"])], expect_ok=False, timeout=120)
    assert missing.returncode == 1 and "Model base path not found" in missing.stderr
    assert bad_port.returncode != 0 and "--port" in bad_port.stderr


def test_demo_command(model_base_path, tmp_path):
    result, empty = run_apps([
        ("apps.demo", [f"--model_base_path={model_base_path}"]),
        ("apps.demo", [f"--model_base_path={tmp_path}"])], expect_ok=False, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for header in ["== ner (version 1): Named entities",
                   "== sentiment (version 1): Sentiment",
                   "== summarization (version 1): Summarization",
                   "== translation (version 1): English → German",
                   "== translation_de_en (version 1): German → English"]:
        assert header in out
    assert "Zwei Hunde spielen im Schnee." in out  # the German examples for de-en
    assert re.search(r"-> (positive|negative) \(\d+\.\d%\)", out)
    assert out.count("    -> ") == 3 + 2 + 1 + 2 + 2
    assert empty.returncode == 1 and "no exported app" in empty.stderr
