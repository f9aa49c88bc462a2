"""Derives the ops registered by a tensorflow-text release that cannot be imported here.

    pip download tensorflow-text==2.20.0 --no-deps -d /tmp/tft
    python -m bertlab.export.derive_tf_text_ops --wheel=/tmp/tft/tensorflow_text-2.20.0-*.whl \
        --release=2.20.0 --output=bertlab/export/tf_text_2_20_0_ops.txt

An older release's shared objects do not load into a newer TensorFlow (their
C++ ABI differs), so its op list cannot be asked for directly. Instead:
1. the exact op list of the installed tensorflow-text is read from its
   libraries (TensorFlow's C API, `custom_ops.tf_text_op_names`);
2. each such op counts as registered by the other release if its name
   appears as a whole word in that release's op libraries (`REGISTER_OP`
   and kernel names are string literals there). The method is first checked
   on the installed release: every one of its registered ops must be found
   in its own libraries this way, or the script stops;
3. for the record, the generated Python wrapper name (`tf_text_round_robin_trim`
   for `TFText>RoundRobinTrim`) is looked up in the release's Python sources.

An op that exists only in the older release is not in the output: the
installed release cannot produce it, so no export here can use it.
"""

import glob
import os
import re
import sys
import tempfile
import zipfile

import tensorflow_text

from absl import app, flags

from bertlab.export.custom_ops import tf_text_library_files, tf_text_op_names
from bertlab.storage import atomic_file

flags.DEFINE_string("wheel", None, "The tensorflow-text wheel (.whl) of the release to "
                    "describe, or the directory it was unpacked into.")
flags.DEFINE_string("release", None, "Its version, written in the output's header.")
flags.DEFINE_string("output", None, "The op list to write (default: stdout).")
FLAGS = flags.FLAGS


def python_wrapper_name(op_name):
    """`TFText>RoundRobinTrim` -> `tf_text_round_robin_trim` (TensorFlow's snake case)."""
    name = op_name.replace("TFText>", "TFText_")
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()
    return name.replace("tftext", "tf_text")


def _contains_word(blobs, word):
    pattern = re.compile(rb"(?<![A-Za-z0-9_>])" + re.escape(word.encode()) +
                         rb"(?![A-Za-z0-9_])")
    return any(pattern.search(blob) for blob in blobs)


def _read_all(paths):
    blobs = []
    for path in paths:
        with open(path, "rb") as f:
            blobs.append(f.read())
    return blobs


def derive(package_dir, installed_ops=None):
    """`(found, missing, wrapper_found)` for the release unpacked at `package_dir`
    (the `tensorflow_text` directory)."""
    installed_ops = installed_ops if installed_ops is not None else tf_text_op_names()
    own = _read_all(tf_text_library_files())
    unfound = sorted(op for op in installed_ops if not _contains_word(own, op))
    if unfound:
        raise RuntimeError(f"The method does not recover the installed release's ops {unfound}; "
                           "its results cannot be trusted.")
    libraries = tf_text_library_files(package_dir)
    if not libraries:
        raise FileNotFoundError(f"No op libraries (python/**/_*.so) under {package_dir}.")
    blobs = _read_all(libraries)
    sources = _read_all(glob.glob(os.path.join(package_dir, "**", "*.py"), recursive=True))
    found = sorted(op for op in installed_ops if _contains_word(blobs, op))
    missing = sorted(set(installed_ops) - set(found))
    wrappers = {op for op in found if _contains_word(sources, python_wrapper_name(op))}
    return found, missing, wrappers


def main(argv):
    del argv

    if not FLAGS.wheel or not FLAGS.release:
        raise app.UsageError("--wheel and --release are required.")
    with tempfile.TemporaryDirectory() as tmp:
        root = FLAGS.wheel
        if os.path.isfile(root):
            with zipfile.ZipFile(root) as wheel:
                wheel.extractall(tmp)
            root = tmp
        package_dir = os.path.join(root, "tensorflow_text")
        found, missing, wrappers = derive(package_dir)
    lines = [
        f"# Ops registered by tensorflow-text {FLAGS.release} (linked by TF Serving "
        f"{'.'.join(FLAGS.release.split('.')[:2])}).",
        f"# Derived by `python -m bertlab.export.derive_tf_text_ops` from the "
        f"{FLAGS.release} wheel (pip download tensorflow-text=={FLAGS.release} --no-deps):",
        f"# the exact op list of tensorflow-text {tensorflow_text.__version__} (asked from its "
        "libraries with TensorFlow's C API),",
        f"# kept where the name is a whole word in the {FLAGS.release} op libraries (_*.so); "
        "the method recovers every op",
        f"# of {tensorflow_text.__version__} from its own libraries. "
        f"{len(found)} of {len(found) + len(missing)} found; missing: {missing or 'none'}.",
        f"# Python wrapper (tf_text_*) also found in {FLAGS.release}'s sources: "
        f"{len(wrappers)} of {len(found)}"
        + (f" (not: {sorted(set(found) - wrappers)})." if set(found) - wrappers else "."),
    ] + found
    text = "\n".join(lines) + "\n"
    if FLAGS.output:
        with atomic_file(FLAGS.output) as tmp, open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    app.run(main)
