"""`publish`: the one export sequence. A version appears whole, with metadata, warm-up
requests and models.config, or not at all; a fixed directory is replaced only by a complete
export."""

import json
import os

import pytest
import tensorflow as tf

from bertlab.export import publish, read_metadata
from bertlab.export.versioned_export import TEMP_PREFIX


class _Echo(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(self, text):
        return {"length": tf.strings.length(text)}


def _write_saved_model(directory):
    module = _Echo()
    tf.saved_model.save(module, directory, signatures={"serving_default": module.serve})
    return {"task": "echo", "note": "from the writer"}


def test_a_version_with_metadata_warmup_and_models_config(tmp_path):
    base = tmp_path / "saved_models" / "echo"
    record = publish(base, _write_saved_model, metadata={"note": "from the run", "step": 3})
    assert record == {"version": 1, "path": str(base / "1"),
                      "models_config": str(tmp_path / "saved_models" / "models.config")}
    # The run's facts win over the writer's on a clash.
    assert read_metadata(record["path"]) == {"task": "echo", "note": "from the run", "step": 3}
    assert os.path.isfile(base / "1" / "assets.extra" / "tf_serving_warmup_requests")
    assert "base_path" in (tmp_path / "saved_models" / "models.config").read_text()
    assert publish(base, _write_saved_model)["version"] == 2


def test_a_failing_writer_leaves_nothing(tmp_path):
    base = tmp_path / "echo"
    publish(base, _write_saved_model)

    def broken(directory):
        (open(os.path.join(directory, "half-written"), "w")).close()
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        publish(base, broken)
    assert sorted(os.listdir(base)) == ["1"]  # no version 2, no temporary directory


def test_a_fixed_directory_is_replaced_whole(tmp_path):
    target = tmp_path / "export"

    def writer(text):
        def write(directory):
            with open(os.path.join(directory, "config.json"), "w") as f:
                json.dump({"text": text}, f)
            return {"task": "pretrained_encoder"}
        return write

    record = publish(target, writer("first"), versioned=False)
    assert record == {"version": None, "path": str(target), "models_config": None}
    publish(target, writer("second"), versioned=False)
    assert json.loads((target / "config.json").read_text()) == {"text": "second"}
    assert read_metadata(str(target))["task"] == "pretrained_encoder"

    def broken(directory):
        raise OSError("interrupted")

    with pytest.raises(OSError, match="interrupted"):
        publish(target, broken, versioned=False)
    assert json.loads((target / "config.json").read_text()) == {"text": "second"}
    assert not [n for n in os.listdir(tmp_path) if n.startswith(TEMP_PREFIX)]


def test_a_directory_that_is_not_an_export_is_not_replaced(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "ckpt-1.index").write_text("a checkpoint")
    with pytest.raises(FileExistsError, match="not an earlier output"):
        publish(tmp_path / "run", lambda d: {}, versioned=False)
    assert (tmp_path / "run" / "ckpt-1.index").read_text() == "a checkpoint"
