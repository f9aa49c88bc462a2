"""The apps start without TensorFlow's C++ log lines (`apps/__init__.py`), and `--verbose` or
`BERTLAB_VERBOSE=1` brings them back. Each case is a fresh `python -m apps.sentiment.predict`
process: it imports TensorFlow at module level (through `bertlab.export`) and does no work with
`--help`, 6-15 s on 2 busy cores; the three run side by side."""

import concurrent.futures
import os
import re
import subprocess
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# What a user would see without the quieting: port.cc and cudart_stub.cc (INFO, at every import
# of TensorFlow, before TF_CPP_MIN_LOG_LEVEL is read), cpu_feature_guard.cc, cuInit and oneDNN
# (ERROR), tf.data warnings; all start with absl's C++ prefix, after absl's own note.
NOISE = [re.compile(r"cuInit"), re.compile(r"oneDNN supports"), re.compile(r"cpu_feature_guard"),
         re.compile(r"^[IWE]0000 ", re.MULTILINE), re.compile(r"absl::InitializeLog")]
TF_LINE = re.compile(r"^[IWE]0000 \S+ +\d+ \S+\.cc:\d+\] ", re.MULTILINE)


def run_predict(*args, **env):
    """Output (stdout and stderr) of `python -m apps.sentiment.predict ARGS` with no
    TF_CPP_MIN_LOG_LEVEL or BERTLAB_VERBOSE inherited (conftest sets the former), plus `env`."""
    environ = {key: value for key, value in os.environ.items()
               if key not in ("TF_CPP_MIN_LOG_LEVEL", "BERTLAB_VERBOSE")}
    result = subprocess.run([sys.executable, "-m", "apps.sentiment.predict", *args], cwd=REPO_ROOT,
                            stdin=subprocess.DEVNULL, capture_output=True, timeout=300,
                            env={**environ, **env})
    return (result.stdout + result.stderr).decode("utf-8", "replace")


@pytest.fixture(scope="module")
def outputs():
    """The output of each case, run two at a time."""
    cases = {"default": (["--help"], {}), "environment": (["--help"], {"BERTLAB_VERBOSE": "1"}),
             "flag": (["--verbose"], {})}
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = {name: pool.submit(run_predict, *args, **env)
                   for name, (args, env) in cases.items()}
        return {name: future.result() for name, future in futures.items()}


def test_quiet_by_default(outputs):
    output = outputs["default"]
    assert "Classifies texts with an exported sentiment SavedModel" in output, output
    for pattern in NOISE:
        assert not pattern.search(output), output


def test_environment_switch_keeps_tensorflow_lines(outputs):
    output = outputs["environment"]
    assert TF_LINE.search(output), output


def test_verbose_flag_is_accepted_and_keeps_tensorflow_lines(outputs):
    # Not with --help: absl prints the help without checking the other flags.
    output = outputs["flag"]
    assert "Unknown command line flag" not in output, output
    assert "Give texts as arguments or lines on stdin" in output, output
    assert TF_LINE.search(output), output


def test_verbose_requested():
    from apps.quiet_tensorflow import verbose_requested

    assert not verbose_requested(["predict.py", "text"], {})
    assert verbose_requested(["predict.py", "--verbose"], {})
    assert verbose_requested(["predict.py", "--verbose=true"], {})
    assert not verbose_requested(["predict.py", "--verbose", "--noverbose"], {})
    assert not verbose_requested(["predict.py", "--verbose=false"], {})
    assert not verbose_requested(["predict.py", "--", "--verbose"], {})
    assert verbose_requested(["predict.py"], {"BERTLAB_VERBOSE": "1"})
    assert not verbose_requested(["predict.py"], {"BERTLAB_VERBOSE": "0"})
