"""XLA auto-clustering of element-wise ops: the flags it sets, how it reads them back,
and the error once TensorFlow has set up its devices. (A training run with
`TrainerConfig.xla_fusion`: tests/training/test_trainer.py.)"""

import subprocess
import sys

import pytest

from bertlab.layers import xla_fusion
from tests.training import training_subprocesses as subprocesses


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


class _Exec(Exception):
    pass


def test_restart_reexecutes_the_command_line_with_the_flags_added(monkeypatch):
    calls = []

    def execv(path, argv):
        calls.append((path, argv, xla_fusion.os.environ[xla_fusion.ENV_VAR]))
        raise _Exec

    monkeypatch.setattr(xla_fusion.os, "execv", execv)
    monkeypatch.setenv(xla_fusion.ENV_VAR, "--xla_cpu_foo")
    monkeypatch.setattr(sys, "orig_argv", [sys.executable, "-m", "apps.pretrain.train", "--x"])
    with pytest.raises(_Exec):
        xla_fusion.restart_with_elementwise_fusion()
    (path, argv, value), = calls
    assert path == sys.executable and argv == [sys.executable, "-m", "apps.pretrain.train", "--x"]
    assert value.split()[0] == "--xla_cpu_foo" and "--tf_xla_auto_jit=2" in value.split()
    assert xla_fusion.auto_clustering_enabled()   # so the restarted program goes on


def test_strategy_from_flags_restarts_only_a_fusion_run_without_fusion_on(monkeypatch):
    from absl import flags

    from bertlab.training import flags as training_flags
    from bertlab.training.configs import TrainerConfig

    restarts = []
    monkeypatch.setattr(xla_fusion, "restart_with_elementwise_fusion",
                        lambda: restarts.append(1))
    flag_values = flags.FlagValues()
    training_flags.define_flags(flag_values, require_model_dir=False)
    flag_values(["x"])
    monkeypatch.setenv(xla_fusion.ENV_VAR, "")
    training_flags.strategy_from_flags(flag_values, TrainerConfig(xla_fusion=False))
    assert restarts == []
    training_flags.strategy_from_flags(flag_values, TrainerConfig(xla_fusion=True))
    assert restarts == [1]
    monkeypatch.setenv(xla_fusion.ENV_VAR, "--tf_xla_auto_jit=2")   # the restarted process
    training_flags.strategy_from_flags(flag_values, TrainerConfig(xla_fusion=True))
    assert restarts == [1]
