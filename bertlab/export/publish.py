"""The one export sequence: every export of every app is written through `publish`.

An export must appear complete or not at all, ready for TF Serving:

1. the task's writer fills a temporary directory (a SavedModel, or a
   pretrained encoder in the Hugging Face layout);
2. the export's metadata (`assets.extra/bertlab_export.json`: what it is, how
   it was trained, what it scored) is written beside it;
3. for a SavedModel: TF Serving warm-up requests for every signature
   (`assets.extra/tf_serving_warmup_requests`) and the check that every
   custom op is one that TF Serving's tensorflow-text has (`custom_ops`);
4. one `rename` puts it in place: the next integer version under the base
   directory (TF Serving's layout), or, with `versioned=False`, the directory
   itself (the previous content is replaced);
5. for a version: `models.config` beside the base directory is rewritten, so
   `tensorflow_model_server --model_config_file` serves every app's exports.

If anything fails before the rename, nothing appears and the temporary
directory is removed; what a kill leaves is removed by `remove_leftovers` when
the next job starts (the driver calls it).

Example:
>>> record = publish("saved_models/sentiment",
...                  lambda directory: export_text_classifier(...),
...                  metadata={"config": "default.yaml"})
>>> record["version"], record["path"]
(3, '/repo/saved_models/sentiment/3')
"""

import os

from bertlab.export.custom_ops import check_tf_serving_ops
from bertlab.export.model_config import write_models_config
from bertlab.export.versioned_export import (export_new_version, remove_export_leftovers,
                                             replace_directory, write_metadata)
from bertlab.export.warmup import write_default_warmup_requests


def prepare_for_serving(export_dir):
    """Writes the warm-up requests of every signature of the SavedModel at `export_dir`
    and checks that its custom ops are ones TF Serving 2.20 can run.

    Does nothing if `export_dir` holds no `saved_model.pb` (not a SavedModel export).

    Returns:
      The custom ops the export uses (None if it is not a SavedModel).

    Raises:
      UnsupportedOpsError: an op outside tensorflow-text 2.20.0's.
    """
    if not os.path.isfile(os.path.join(os.fspath(export_dir), "saved_model.pb")):
        return None
    write_default_warmup_requests(export_dir)
    return check_tf_serving_ops(export_dir)


def update_models_config(base_dir):
    """Rewrites `models.config` in the parent of `base_dir` (e.g. `saved_models/` for
    `saved_models/sentiment`). Returns its path."""
    parent = os.path.dirname(os.path.abspath(os.fspath(base_dir)))
    return write_models_config(parent)[0]


def remove_leftovers(export_dir, versioned=True):
    """Removes the temporary directories killed exports into `export_dir` left (only
    those whose writer is gone; see `remove_export_leftovers`): in the base directory
    of the versions, or for `versioned=False` beside `export_dir`. Returns their paths."""
    export_dir = os.path.abspath(os.fspath(export_dir))
    return remove_export_leftovers(export_dir if versioned else os.path.dirname(export_dir))


def publish(export_dir, write_fn, metadata=None, versioned=True):
    """Writes an export atomically, ready for TF Serving (see the module docstring).

    Args:
      export_dir: the base directory of the versions (`saved_models/sentiment`),
        or with `versioned=False` the export directory itself.
      write_fn: `write_fn(directory)` writes the export into the empty
        `directory` and returns a dict of the task's own metadata (or None).
      metadata: facts of the run (validation scores, config, ...) added to the
        task's metadata (they win on a clash).
      versioned: a new integer version under `export_dir` (TF Serving), or
        replace `export_dir` itself (a pretrained encoder that `--init` reads).

    Returns:
      `{"version": int or None, "path": absolute path, "models_config": path or None}`.

    Raises:
      Whatever `write_fn` raises, `UnsupportedOpsError`; nothing is left behind.
    """

    def write(directory):
        task_metadata = write_fn(directory) or {}
        write_metadata(directory, {**task_metadata, **(metadata or {})})
        prepare_for_serving(directory)

    if not versioned:
        path = replace_directory(export_dir, write)
        return {"version": None, "path": os.path.abspath(path), "models_config": None}
    version, path = export_new_version(export_dir, write)
    return {"version": version, "path": os.path.abspath(path),
            "models_config": update_models_config(export_dir)}
