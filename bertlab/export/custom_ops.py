"""Which custom (tensorflow-text) ops an export uses, against what TF Serving can run.

`tensorflow_model_server` links a fixed tensorflow-text release: TF Serving
2.20 links tensorflow-text 2.20.0. An export that uses an op that release does
not register fails to load there with `Op type not registered`. This module
lists the ops of a SavedModel (every node of its graph defs and of every
function in their function libraries) and checks the custom ones against the
ops registered by tensorflow-text 2.20.0 (`tf_text_2_20_0_ops.txt`, derived by
`python -m bertlab.export.derive_tf_text_ops`; its header says how).

"Custom" means: registered by a tensorflow-text shared object in this process
(asked from each library with TensorFlow's C API), or registered by nothing
at all (an op from some other plugin, which TF Serving would not know either).

Example:
>>> custom_ops("saved_models/sentiment/1")
{'FastWordpieceTokenizeWithOffsets', 'NormalizeUTF8', 'TFText>RoundRobinTrim', ...}
>>> check_tf_serving_ops("saved_models/sentiment/1")   # raises if one is not allowed
"""

import functools
import glob
import os

import tensorflow_text
from google.protobuf.message import DecodeError
from tensorflow.core.framework import op_def_pb2
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.client import pywrap_tf_session as c_api

TF_SERVING_TF_TEXT_RELEASE = "2.20.0"
ALLOWED_OPS_FILE = os.path.join(os.path.dirname(__file__), "tf_text_2_20_0_ops.txt")


class UnsupportedOpsError(ValueError):
    """An export uses ops that the targeted TF Serving release cannot run."""


def read_saved_model_proto(saved_model_dir):
    """The `SavedModel` proto of `saved_model_dir/saved_model.pb` (no functions are loaded).

    Raises:
      FileNotFoundError: there is no `saved_model.pb`.
      ValueError: the file is not a SavedModel proto.
    """
    path = os.path.join(os.fspath(saved_model_dir), "saved_model.pb")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No saved_model.pb in {saved_model_dir}.")
    proto = saved_model_pb2.SavedModel()
    try:
        with open(path, "rb") as f:
            proto.ParseFromString(f.read())
    except DecodeError as e:
        raise ValueError(f"{path} is not a SavedModel: {e}") from None
    if not proto.meta_graphs:
        raise ValueError(f"{path} holds no MetaGraphDef.")
    return proto


def saved_model_ops(saved_model_dir):
    """Every op type run by the SavedModel: nodes of each graph def and of each library function.

    Calls of library functions (a node whose op is a function's name) are not ops.
    """
    ops = set()
    for meta_graph in read_saved_model_proto(saved_model_dir).meta_graphs:
        graph = meta_graph.graph_def
        functions = {f.signature.name for f in graph.library.function}
        ops.update(node.op for node in graph.node)
        for function in graph.library.function:
            ops.update(node.op for node in function.node_def)
        ops -= functions
    return ops


def _op_names(op_list_bytes):
    op_list = op_def_pb2.OpList()
    op_list.ParseFromString(op_list_bytes)
    return {op.name for op in op_list.op}


def tf_text_library_files(package_dir=None):
    """The op libraries (`_*.so` under `python/`) of a tensorflow-text package directory
    (default: the installed one)."""
    if package_dir is None:

        package_dir = os.path.dirname(tensorflow_text.__file__)
    return sorted(glob.glob(os.path.join(package_dir, "python", "**", "_*.so"), recursive=True))


@functools.lru_cache(maxsize=None)
def tf_text_op_names():
    """The ops registered by the installed tensorflow-text (each library asked for its op list)."""
    names = set()
    for path in tf_text_library_files():
        handle = c_api.TF_LoadLibrary(path)  # already loaded: returns the same registrations
        try:
            names |= _op_names(c_api.TF_GetOpList(handle))
        finally:
            c_api.TF_DeleteLibraryHandle(handle)
    return frozenset(names)


def registered_op_names():
    """Every op registered in this process (core TensorFlow plus loaded plugins)."""
    buffer = c_api.TF_GetAllOpList()
    try:
        return frozenset(_op_names(c_api.TF_GetBuffer(buffer)))
    finally:
        c_api.TF_DeleteBuffer(buffer)


def custom_ops(saved_model_dir):
    """The non-core ops of an export: tensorflow-text's, and any op this process does not know."""
    used = saved_model_ops(saved_model_dir)
    return (used & tf_text_op_names()) | (used - registered_op_names())


@functools.lru_cache(maxsize=None)
def allowed_tf_text_ops():
    """The op names registered by tensorflow-text `TF_SERVING_TF_TEXT_RELEASE` (from
    `tf_text_2_20_0_ops.txt`: one name a line, `#` comments)."""
    with open(ALLOWED_OPS_FILE, encoding="utf-8") as f:
        names = {line.strip() for line in f}
    return frozenset(n for n in names if n and not n.startswith("#"))


def check_tf_serving_ops(saved_model_dir):
    """Raises `UnsupportedOpsError` if the export uses a custom op outside the allowed set.

    Returns:
      The sorted custom ops the export uses (all allowed).
    """
    used = custom_ops(saved_model_dir)
    bad = sorted(used - allowed_tf_text_ops())
    if bad:
        raise UnsupportedOpsError(
            f"{saved_model_dir} uses ops that tensorflow-text {TF_SERVING_TF_TEXT_RELEASE} "
            f"(linked by TF Serving 2.20) does not register: {bad}; TF Serving would fail "
            "with 'Op type not registered'.")
    return sorted(used)
