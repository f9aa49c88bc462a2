"""Running `train_toy.py` in subprocesses, with time limits and no leftovers, and reading
the weights they write."""

import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
SCRIPT = HERE / "train_toy.py"


def environment(**extra):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def command(runs, logical_cpus=1):
    args = [sys.executable, str(SCRIPT), "--logical_cpus", str(logical_cpus)]
    for run in runs:
        args += ["--run", json.dumps(run)]
    return args


def start(runs, logical_cpus=1, log_path=None, **env):
    """Starts the script; its output goes to `log_path` (or a pipe)."""
    out = open(log_path, "wb") if log_path else subprocess.PIPE
    try:
        return subprocess.Popen(command(runs, logical_cpus), stdout=out, stderr=subprocess.STDOUT,
                                env=environment(**env), cwd=str(REPO_ROOT))
    finally:
        if log_path:
            out.close()


def finish(process, timeout):
    """Waits for `process` (killing it after `timeout` s); returns (returncode, output)."""
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise AssertionError(f"training subprocess took more than {timeout}s:\n"
                             + (output or b"").decode(errors="replace")[-3000:])
    return process.returncode, (output or b"").decode(errors="replace")


def run(runs, logical_cpus=1, timeout=120, **env):
    """Runs the script to the end and checks it succeeded; returns its output."""
    returncode, output = finish(start(runs, logical_cpus, **env), timeout)
    assert returncode == 0, f"training subprocess failed ({returncode}):\n{output[-3000:]}"
    return output


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_weights(path):
    """`{variable path: array}` from a `weights*.npz` that `train_toy.py` wrote."""
    with np.load(path) as data:
        return {k: data[k] for k in data.files}
