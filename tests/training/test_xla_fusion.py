"""XLA auto-clustering of element-wise ops (`TrainerConfig.xla_fusion`): the flags,
and a training run with it on that clusters and follows the plain run."""

import json
import subprocess
import sys

import numpy as np
import pytest

import training_subprocesses as subprocesses
from bertlab.layers import xla_fusion
from bertlab.training.configs import TrainerConfig
from test_distributed import load_weights


def test_enable_adds_the_flags_and_keeps_the_users(monkeypatch):
    # (This process may have set up its devices already; that check has its own test.)
    monkeypatch.setattr(xla_fusion, "_devices_initialized", lambda: False)
    monkeypatch.setenv(xla_fusion.ENV_VAR, "--tf_xla_auto_jit=1 --xla_cpu_foo")
    value = xla_fusion.enable_elementwise_fusion()
    flags = value.split()
    assert flags[:2] == ["--tf_xla_auto_jit=1", "--xla_cpu_foo"]  # the user's value wins
    assert "--tf_xla_cpu_global_jit" in flags and "--tf_xla_ops_to_cluster=FUSIBLE" in flags
    assert xla_fusion.enable_elementwise_fusion() == value  # idempotent


@pytest.mark.parametrize("value, enabled", [
    ("", False), ("--tf_xla_auto_jit=0", False), ("--tf_xla_auto_jit=-1", False),
    ("--tf_xla_auto_jit=2 --tf_xla_cpu_global_jit", True), ("--tf_xla_auto_jit=1", True),
    ("--tf_xla_cpu_global_jit", False)])
def test_auto_clustering_enabled_reads_the_environment(monkeypatch, value, enabled):
    monkeypatch.setenv(xla_fusion.ENV_VAR, value)
    assert xla_fusion.auto_clustering_enabled() is enabled


def test_xla_fusion_and_jit_compile_exclude_each_other():
    with pytest.raises(ValueError, match="not both"):
        TrainerConfig(jit_compile=True, xla_fusion=True)


def test_training_with_xla_fusion_clusters_and_follows_the_plain_run(tmp_path):
    spec = {"train_steps": 4, "steps_per_loop": 2, "learning_rate": 0.05}
    fused = subprocesses.run([dict(spec, model_dir=str(tmp_path / "fused"), xla_fusion=True)],
                             TF_CPP_MIN_LOG_LEVEL="0", TF_XLA_FLAGS="")
    assert "Compiled cluster using XLA" in fused
    plain = subprocesses.run([dict(spec, model_dir=str(tmp_path / "plain"))],
                             TF_CPP_MIN_LOG_LEVEL="0", TF_XLA_FLAGS="")
    assert "Compiled cluster using XLA" not in plain
    summary = json.loads((tmp_path / "fused" / "summary.json").read_text())
    assert summary["xla_fusion"] is True and summary["steps"] == 4
    fused_weights = load_weights(tmp_path / "fused" / "weights.npz")
    plain_weights = load_weights(tmp_path / "plain" / "weights.npz")
    assert fused_weights.keys() == plain_weights.keys()
    for name in plain_weights:
        np.testing.assert_allclose(fused_weights[name], plain_weights[name], rtol=1e-4,
                                   atol=1e-5, err_msg=name)


def test_enabling_after_tensorflow_set_up_its_devices_is_a_clear_error():
    script = ("import tensorflow as tf\n"
              "from bertlab.layers import xla_fusion\n"
              "xla_fusion.enable_elementwise_fusion()  # nothing set up yet: fine\n"
              "import os; os.environ[xla_fusion.ENV_VAR] = ''\n"
              "tf.constant(1.0)\n"
              "try:\n"
              "    xla_fusion.enable_elementwise_fusion()\n"
              "except RuntimeError as e:\n"
              "    print('ERROR', e)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=subprocesses.environment(TF_XLA_FLAGS=""), timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ERROR XLA element-wise fusion must be enabled before TensorFlow sets up" in result.stdout
