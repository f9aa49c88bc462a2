"""What an export does for TF Serving, in two calls around the atomic rename.

The export paths (`bertlab.tasks.fine_tuning.fine_tune` for sentiment and NER,
`bertlab.tasks.seq2seq.export_generation_module` for translation and
summarization) do:

    def write(tmp):
        task.export(model, tmp, metadata)
        prepare_for_serving(tmp)        # before the rename: warm-up file, op check
    version, path = export_new_version(export_dir, write)
    update_models_config(export_dir)    # after: <export_dir>/../models.config

Example:
>>> prepare_for_serving("saved_models/sentiment/.tmp-export-abc")
['FastWordpieceTokenizeWithOffsets', 'NormalizeUTF8', ...]
"""

import os

from bertlab.export.custom_ops import check_tf_serving_ops
from bertlab.export.model_config import write_models_config
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


def update_models_config(model_dir):
    """Rewrites `models.config` in the parent of `model_dir` (e.g. `saved_models/` for
    `saved_models/sentiment`). Returns its path."""
    parent = os.path.dirname(os.path.abspath(os.fspath(model_dir)))
    return write_models_config(parent)[0]
