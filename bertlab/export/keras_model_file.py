"""The fine-tuned Keras model (and its vocabulary) written beside a classifier's or
tagger's SavedModel.

The SavedModel (`saved_model.pb`) holds the weights as graph constants, in the
precision it serves (bfloat16 after a `mixed_bfloat16` run); tools that need the
trained model itself read `model.keras` from the same version directory: a
distillation teacher (`bertlab.tasks.distillation`), whose layers can also
initialise a student, and the LiteRT converter (float32 weights for float and
int8 conversion). `vocab.txt` beside it is the tokenizer's vocabulary (its
lower-casing is the export metadata's `lowercase`). TF Serving ignores both.

Example:
>>> save_exported_keras_model(model, "saved_models/sentiment/3")
>>> teacher = load_exported_keras_model("saved_models/sentiment")   # its latest version
"""

import os

import keras

KERAS_MODEL_FILE = "model.keras"
VOCABULARY_FILE = "vocab.txt"


def save_exported_keras_model(model, version_dir, vocabulary):
    """Writes `model` (a Keras model, weights as trained) to `<version_dir>/model.keras`
    and `vocabulary` (a list of tokens, in id order) to `<version_dir>/vocab.txt`."""
    model.save(os.path.join(version_dir, KERAS_MODEL_FILE))
    with open(os.path.join(version_dir, VOCABULARY_FILE), "w", encoding="utf-8") as f:
        f.writelines(f"{token}\n" for token in vocabulary)


def load_exported_keras_model(version_dir, expected_type=None):
    """The Keras model of an export's version directory (not compiled).

    Args:
      version_dir: a version directory holding `model.keras`.
      expected_type: a class (or tuple) the model must be an instance of.

    Raises:
      FileNotFoundError: there is no `model.keras` (an export from before the
        file was written, or another app's).
      TypeError: the model is not an `expected_type`.
    """
    path = os.path.join(version_dir, KERAS_MODEL_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{version_dir} has no {KERAS_MODEL_FILE}: it is not a classifier or tagger export "
            "of this bertlab version (re-export it by rerunning the app's train command).")
    model = keras.saving.load_model(path, compile=False)
    if expected_type is not None and not isinstance(model, expected_type):
        names = getattr(expected_type, "__name__", None) or " or ".join(
            t.__name__ for t in expected_type)
        raise TypeError(f"{path} holds a {type(model).__name__}, not a {names}.")
    return model
