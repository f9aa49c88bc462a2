"""run_experiment: one run of a task, with its configs and summary written beside it."""

import json

import pytest

from toy_task import ToyTask
from bertlab.training.configs import OptimizerConfig, TrainerConfig
from bertlab.training.runner import RUN_CONFIG_FILE, run_experiment


def test_run_experiment_writes_configs_and_summary(tmp_path):
    trainer_config = TrainerConfig(train_steps=2, global_batch_size=16, steps_per_loop=2,
                                   log_interval=1, eval_steps=1)
    optimizer_config = OptimizerConfig(learning_rate=0.01)
    summary = run_experiment(ToyTask(global_batch_size=16), trainer_config, optimizer_config,
                             str(tmp_path), strategy="default")
    assert summary["steps"] == 2 and summary["strategy"] == "OneDeviceStrategy"
    assert json.loads((tmp_path / "summary.json").read_text())["steps"] == 2
    run_config = json.loads((tmp_path / RUN_CONFIG_FILE).read_text())
    assert run_config["trainer"]["train_steps"] == 2
    assert run_config["optimizer"]["learning_rate"] == 0.01 and run_config["task"] == "ToyTask"
    with pytest.raises(ValueError, match="strategy"):
        run_experiment(ToyTask(), trainer_config, optimizer_config, str(tmp_path), strategy=3)
    with pytest.raises(ValueError, match="nccl"):
        run_experiment(ToyTask(), trainer_config, optimizer_config, str(tmp_path), strategy="nccl")
