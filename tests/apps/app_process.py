"""Runs app command lines in fresh Python processes, as a user runs them.

Each process pays a TensorFlow start (~5-20 s on the 2 CI cores, mostly on one
core), so independent commands (evaluate and predict of the same export, the
bad-input cases of an app) go through `run_apps`, which runs them two at a
time.

Example:
>>> evaluate, predict = run_apps([("apps.ner.evaluate", ["--model_dir=x", "--data=v.txt"]),
...                               ("apps.ner.predict", ["--model_dir=x", "EU rejects"])])
>>> evaluate.stdout  # decoded text; invalid UTF-8 arrives as U+FFFD
"""

import concurrent.futures
import os
import subprocess
import sys

from tests.conftest import REPO_ROOT

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
PARALLEL_PROCESSES = 2


def _run(module, args, stdin, timeout):
    if isinstance(stdin, str):
        stdin = stdin.encode("utf-8")
    result = subprocess.run([sys.executable, "-m", module, *args], cwd=REPO_ROOT, env=ENV,
                            input=stdin, capture_output=True, timeout=timeout)
    return subprocess.CompletedProcess(result.args, result.returncode,
                                       result.stdout.decode("utf-8", "replace"),
                                       result.stderr.decode("utf-8", "replace"))


def _check(result, expect_ok):
    if expect_ok and result.returncode != 0:
        raise AssertionError(f"{' '.join(result.args[2:4])} failed (exit {result.returncode}):\n"
                             f"{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return result


def run_app(module, *args, stdin=None, expect_ok=True, timeout=600):
    """`python -m module *args` in the repository root; a `CompletedProcess` with text
    `stdout`/`stderr`. `stdin`: bytes or str. Fails the test on a non-zero exit unless
    `expect_ok` is False."""
    return _check(_run(module, args, stdin, timeout), expect_ok)


def run_apps(calls, expect_ok=True, timeout=600):
    """Runs independent commands concurrently, `PARALLEL_PROCESSES` at a time.

    Args:
      calls: `(module, args)` or `(module, args, stdin)` tuples.

    Returns:
      their `CompletedProcess`es, in the order of `calls`.
    """
    calls = [tuple(call) + (None,) * (3 - len(call)) for call in calls]
    with concurrent.futures.ThreadPoolExecutor(PARALLEL_PROCESSES) as pool:
        futures = [pool.submit(_run, module, list(args), stdin, timeout)
                   for module, args, stdin in calls]
        return [_check(future.result(), expect_ok) for future in futures]
