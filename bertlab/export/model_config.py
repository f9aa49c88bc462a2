"""`models.config` for `tensorflow_model_server`: one `model_config_list` entry per export.

    saved_models/
      models.config        <- written here
      sentiment/1/ ...     <- a model: a directory with integer versions holding saved_model.pb
      ner/2/ ...

`tensorflow_model_server --model_config_file=saved_models/models.config
--rest_api_port=8501` then serves every model under its directory name. The
file is a text `ModelServerConfig` protobuf (TF Serving's
`model_server_config.proto`); base paths are absolute (as the server sees
them: pass `serving_base_path`, e.g. "/models", when the server runs in a
container with the directory mounted elsewhere).

Model names are directory names restricted to letters, digits, `_`, `-`
and `.` (not starting with `.`), so a name can never point outside the base
path; other directories (and anything starting with `.`, such as an
exporter's temporary directory) are not models.

Two apps exporting at once each rewrite the file from what they find on disk;
the rewrite (listing the models and replacing the file) holds an exclusive
`fcntl.flock` on `models.config.lock` beside it, so the later writer always
lists the earlier one's new model and no update is lost.

Example:
>>> write_models_config("saved_models")
('saved_models/models.config', {'ner': '/abs/saved_models/ner', 'sentiment': ...})
"""

import contextlib
import fcntl
import os
import re

from bertlab.storage import atomic_file

MODELS_CONFIG_FILE = "models.config"
LOCK_SUFFIX = ".lock"
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_VERSION = re.compile(r"^[0-9]+$")


def is_valid_model_name(name):
    """Letters, digits, `_`, `-`, `.`; starting with a letter or digit; at most 128
    characters; never `..`-like."""
    return isinstance(name, str) and bool(_MODEL_NAME.match(name)) and ".." not in name


def validate_model_name(name):
    """Returns `name`, or raises `ValueError` naming it if it is not a valid model name."""
    if not is_valid_model_name(name):
        raise ValueError(f"Invalid model name {name!r}: use letters, digits, '_', '-' and '.', "
                         "starting with a letter or digit.")
    return name


def servable_versions(model_dir):
    """The integer versions of `model_dir` that hold a `saved_model.pb`, sorted.

    (TF Serving's rule, as `bertlab.export.list_versions`; not imported from there so
    that writing models.config does not load TensorFlow.)
    """
    if not os.path.isdir(model_dir):
        return []
    return sorted(int(name) for name in os.listdir(model_dir)
                  if _VERSION.match(name) and
                  os.path.isfile(os.path.join(model_dir, name, "saved_model.pb")))


def _existing_base_path(model_base_path):
    """The real path of `model_base_path`; `FileNotFoundError` if it is not a directory."""
    base = os.path.realpath(os.fspath(model_base_path))
    if not os.path.isdir(base):
        raise FileNotFoundError(f"Model base path not found: {model_base_path}")
    return base


def discover_models(model_base_path):
    """`{name: absolute model directory}` for every model under `model_base_path`.

    A model is a directory with a valid name, inside the base path (a symbolic
    link leading outside it is skipped) and holding at least one servable version.

    Raises:
      FileNotFoundError: `model_base_path` is not a directory.
    """
    base = _existing_base_path(model_base_path)
    models = {}
    for name in sorted(os.listdir(base)):
        path = os.path.join(base, name)
        if not is_valid_model_name(name) or not os.path.isdir(path):
            continue
        if os.path.dirname(os.path.realpath(path)) != base:
            continue
        if servable_versions(path):
            models[name] = path
    return models


def _quote(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def models_config_text(models, serving_base_path=None):
    """The text protobuf `model_config_list` for `{name: model directory}`.

    Args:
      models: as `discover_models` returns.
      serving_base_path: if given, base paths are `<serving_base_path>/<name>`
        (the directory as the server sees it) instead of the local paths.
    """
    lines = ["# Written by bertlab (python -m apps.export_config); one entry per exported app.",
             "model_config_list {"]
    for name, path in sorted(models.items()):
        validate_model_name(name)
        base = (serving_base_path.rstrip("/") + "/" + name) if serving_base_path else path
        lines += ["  config {",
                  f"    name: {_quote(name)}",
                  f"    base_path: {_quote(base)}",
                  '    model_platform: "tensorflow"',
                  "  }"]
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_models_config(model_base_path, serving_base_path=None):
    """Writes `<model_base_path>/models.config` for every model present (atomically,
    under the file lock `models.config.lock`).

    Returns:
      `(path, models)`: the file written and the `{name: directory}` it lists.
    """
    path = os.path.join(os.fspath(model_base_path), MODELS_CONFIG_FILE)
    _existing_base_path(model_base_path)  # a clear error before the lock file is opened
    with _exclusive_lock(path + LOCK_SUFFIX):
        models = discover_models(model_base_path)
        with atomic_file(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            f.write(models_config_text(models, serving_base_path))
    return path, models


@contextlib.contextmanager
def _exclusive_lock(lock_path):
    """Holds an exclusive `flock` on `lock_path` (created if missing, never removed:
    removing it would let two writers lock two different files)."""
    with open(lock_path, "a", encoding="utf-8") as lock_file:
        fcntl.flock(lock_file.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)
