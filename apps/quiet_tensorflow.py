"""Quiet TensorFlow's C++ start-up log lines in the apps, unless `--verbose` or
`BERTLAB_VERBOSE=1` asks for them (see `quiet_unless_verbose`, which `apps/__init__.py` calls
before any app module, and so before TensorFlow, is imported).

Without it every script starts with lines such as `I0000 ... cpu_feature_guard.cc ...`,
`E0000 ... failed call to cuInit: INTERNAL: CUDA error`, `E0000 ... oneDNN supports DT_INT64
only on platforms with AVX-512` or `W0000 ... dataset.cc ...`, which a newcomer reads as errors
and which say nothing about the run. absl's Python logging (the apps' progress lines) is not
touched. A `TF_CPP_MIN_LOG_LEVEL` set by the user is never overridden.

Two steps, because TensorFlow 2.21 logs in two ways (measured on the project's machines):
- `TF_CPP_MIN_LOG_LEVEL=3` filters what TensorFlow logs once loaded. 3, not 2: the cuInit and
  oneDNN DT_INT64 lines are ERROR-level.
- The lines logged while TensorFlow's shared libraries load (`port.cc` "oneDNN custom operations
  are on", `cudart_stub.cc` "Could not find cuda drivers", each twice, after absl's "WARNING: All
  log messages before absl::InitializeLog() ...") come from static initializers, through absl's C++
  logging, before TensorFlow reads that variable: no setting reaches them. So the first
  `import tensorflow` runs with stderr (file descriptor 2) captured, and what it wrote is written
  back without the log lines below the level. The hook acts on that one import, whenever an app
  makes it, so scripts that import TensorFlow late (`apps.serve`) keep a quick `--help`.
"""

import importlib.machinery
import os
import re
import sys
import tempfile

from absl import flags

VERBOSE_ENV = "BERTLAB_VERBOSE"

if "verbose" not in flags.FLAGS:
    # Read from sys.argv below, before absl parses the command line: it has to act before
    # TensorFlow is imported. Defined here so that every app's parser accepts it.
    flags.DEFINE_bool("verbose", False, "Keep TensorFlow's C++ log lines (start-up notes, CUDA "
                      f"and oneDNN messages), which the apps hide; also {VERBOSE_ENV}=1.")

# An absl/TensorFlow C++ log line: severity letter, date, time, thread, file:line].
_LOG_LINE = re.compile(rb"([IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^ \]]+:\d+\] ")
_SEVERITY = {b"I": 0, b"W": 1, b"E": 2, b"F": 3}
_ABSL_PREAMBLE = b"WARNING: All log messages before absl::InitializeLog() is called"


def verbose_requested(argv, environ):
    """Whether `--verbose` (absl's spellings, last one wins) or `BERTLAB_VERBOSE` asks for the
    TensorFlow lines; arguments after `--` are not flags."""
    if environ.get(VERBOSE_ENV, "").strip().lower() not in ("", "0", "false", "no"):
        return True
    verbose = False
    for arg in argv[1:]:
        if arg == "--":
            break
        name, has_value, value = arg.partition("=")
        if name in ("--verbose", "-verbose"):
            verbose = not has_value or value.lower() in ("true", "t", "1")
        elif name in ("--noverbose", "-noverbose") and not has_value:
            verbose = False
    return verbose


def _min_log_level(environ):
    try:
        return int(environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def _kept(line, min_level):
    """False for a C++ log line that `TF_CPP_MIN_LOG_LEVEL=min_level` would have filtered."""
    if line.startswith(_ABSL_PREAMBLE):
        return min_level < 1
    match = _LOG_LINE.match(line)
    return match is None or _SEVERITY[match.group(1)] >= min_level


def _with_stderr_filtered(function, min_level):
    """Runs `function()` with file descriptor 2 captured, then writes back the lines kept."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr: nothing to quiet
        return function()
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            return function()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            data = b"".join(line for line in captured if _kept(line, min_level))
            while data:
                data = data[os.write(2, data):]


class _QuietTensorFlowImport:
    """Meta path finder: the first `import tensorflow` runs under `_with_stderr_filtered`."""

    def __init__(self, min_level):
        self.min_level = min_level

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def quiet_exec_module(module):
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            del spec.loader.exec_module  # the loader's own method again
            _with_stderr_filtered(lambda: exec_module(module), self.min_level)

        spec.loader.exec_module = quiet_exec_module
        return spec


def quiet_unless_verbose(argv=None, environ=None):
    """Hides TensorFlow's C++ log lines for this process unless `--verbose` or
    `BERTLAB_VERBOSE` asks for them; must run before TensorFlow is imported."""
    argv = sys.argv if argv is None else argv
    environ = os.environ if environ is None else environ
    if verbose_requested(argv, environ):
        return
    environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules and _min_log_level(environ) > 0:
        sys.meta_path.insert(0, _QuietTensorFlowImport(_min_log_level(environ)))
