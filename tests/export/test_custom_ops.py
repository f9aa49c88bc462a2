"""Every export uses only ops TF Serving 2.20 has: core TensorFlow plus the ops of
tensorflow-text 2.20.0 (the allowed list, derived from its wheel)."""

import shutil

import pytest

from bertlab.export.custom_ops import (UnsupportedOpsError, allowed_tf_text_ops,
                                        check_tf_serving_ops, custom_ops, read_saved_model_proto,
                                        saved_model_ops, tf_text_op_names)

APPS = ["sentiment", "ner", "translation", "summarization"]


def test_allowed_list_is_the_installed_releases_ops_found_in_2_20_0():
    allowed = allowed_tf_text_ops()
    assert len(allowed) >= 30 and allowed <= tf_text_op_names()
    assert {"FastWordpieceTokenizeWithOffsets", "SentencepieceOp", "NormalizeUTF8",
            "TFText>RoundRobinTrim"} <= allowed


@pytest.mark.parametrize("app", APPS)
def test_custom_ops_of_every_export_are_in_tensorflow_text_2_20_0(exports, app):
    used = check_tf_serving_ops(exports[app])
    assert set(used) == custom_ops(exports[app]) and used
    # The walk over graph and function library finds every op of the list TensorFlow
    # stored (that list can miss some, e.g. `Assert` inside functions).
    meta = read_saved_model_proto(exports[app]).meta_graphs[0]
    stored = {op.name for op in meta.meta_info_def.stripped_op_list.op}
    assert stored and stored <= saved_model_ops(exports[app])
    expected = {"sentiment": "FastWordpieceTokenizeWithOffsets",
                "ner": "FastWordpieceTokenizeWithOffsets",
                "translation": "SentencepieceTokenizeOp",
                "summarization": "SentencepieceDetokenizeOp"}[app]
    assert expected in used


@pytest.mark.parametrize("app", APPS)
def test_every_export_has_a_token_id_signature(exports, app):
    meta = read_saved_model_proto(exports[app]).meta_graphs[0]
    signature = meta.signature_def["serve_token_ids"]
    assert {"token_ids", "padding_mask"} <= set(signature.inputs)
    assert set(meta.signature_def["serving_default"].inputs) == {"text"}


def test_an_op_outside_the_release_is_refused(exports, tmp_path):
    copy = tmp_path / "m"
    shutil.copytree(exports["sentiment"], copy)
    proto = read_saved_model_proto(copy)
    function = proto.meta_graphs[0].graph_def.library.function[0]
    function.node_def.add(name="new_op", op="TFText>SomeFutureOp")
    (copy / "saved_model.pb").write_bytes(proto.SerializeToString())
    assert "TFText>SomeFutureOp" in custom_ops(copy)
    with pytest.raises(UnsupportedOpsError, match=r"SomeFutureOp.*Op type not registered"):
        check_tf_serving_ops(copy)
    (copy / "saved_model.pb").write_bytes(b"not a proto")
    with pytest.raises(ValueError, match="is not a SavedModel"):
        saved_model_ops(copy)
    with pytest.raises(FileNotFoundError, match="No saved_model.pb"):
        saved_model_ops(tmp_path)
