"""Atomic summary.json writes."""

import json
import os

import numpy as np
import pytest

from bertlab.training.summary import write_json_atomic


def test_write_json_atomic(tmp_path):
    path = tmp_path / "out" / "summary.json"
    write_json_atomic(str(path), {"loss": np.float32(0.5), "nan": float("nan"),
                                  "steps": np.int64(3), "nested": {"inf": float("inf")}})
    assert json.loads(path.read_text()) == {"loss": 0.5, "nan": "nan", "steps": 3,
                                            "nested": {"inf": "inf"}}
    # A failed write leaves the previous file whole and no temporary file behind.
    with pytest.raises(TypeError):
        write_json_atomic(str(path), {"bad": object()})
    assert json.loads(path.read_text())["steps"] == 3
    assert os.listdir(path.parent) == ["summary.json"]
