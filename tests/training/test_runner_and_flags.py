"""run_experiment and the shared absl flags of app train scripts."""

import dataclasses
import json

import pytest
from absl import flags

from toy_task import ToyTask
from bertlab.config import ConfigError
from bertlab.training import flags as training_flags
from bertlab.training.configs import OptimizerConfig, TrainerConfig
from bertlab.training.runner import RUN_CONFIG_FILE, run_experiment


@dataclasses.dataclass
class AppConfig:
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)


def parse(argv):
    flag_values = flags.FlagValues()
    training_flags.define_flags(flag_values)
    training_flags.define_flags(flag_values)  # a second call is harmless
    flag_values(["train.py", *argv])
    return flag_values


def test_flags_map_onto_the_config(tmp_path):
    path = tmp_path / "app.yaml"
    path.write_text("trainer:\n  train_steps: 40\n  jit_compile: true\noptimizer:\n"
                    "  learning_rate: 0.001\n", encoding="utf-8")
    flag_values = parse([f"--config={path}", "--model_dir=/tmp/x", "--strategy=mirrored",
                         "--mixed_precision=mixed_bfloat16", "--nojit_compile",
                         "--set=trainer.train_steps=7", "--set", "optimizer.warmup_steps=2"])
    config = training_flags.config_from_flags(AppConfig, flag_values)
    assert config.trainer.train_steps == 7 and config.trainer.jit_compile is False
    assert config.trainer.mixed_precision == "mixed_bfloat16"
    assert config.optimizer.learning_rate == 0.001 and config.optimizer.warmup_steps == 2
    assert flag_values.strategy == "mirrored" and flag_values.model_dir == "/tmp/x"
    # Unset --mixed_precision/--jit_compile leave the file's values alone.
    config = training_flags.config_from_flags(AppConfig, parse([f"--config={path}",
                                                               "--model_dir=/tmp/x"]))
    assert config.trainer.jit_compile is True and config.trainer.mixed_precision is None
    assert training_flags.overrides_from_flags(
        parse(["--model_dir=m", "--mixed_precision=float32"]), trainer_key="") == {
            "mixed_precision": "float32"}


def test_flag_errors():
    with pytest.raises(flags.IllegalFlagValueError):
        parse(["--model_dir=m", "--strategy=horovod"])
    with pytest.raises(flags.IllegalFlagValueError):
        parse(["--model_dir=m", "--mixed_precision=fp8"])
    with pytest.raises(ConfigError, match="key=value"):
        training_flags.config_from_flags(AppConfig, parse(["--model_dir=m", "--set=oops"]))
    with pytest.raises(ConfigError, match="train_stepz"):
        training_flags.config_from_flags(AppConfig,
                                         parse(["--model_dir=m", "--set=trainer.train_stepz=1"]))
    with pytest.raises(ConfigError, match="decay"):
        training_flags.config_from_flags(AppConfig,
                                         parse(["--model_dir=m", "--set=optimizer.decay=cos"]))
    flag_values = flags.FlagValues()
    training_flags.define_flags(flag_values)
    with pytest.raises(flags.IllegalFlagValueError, match="model_dir"):
        flag_values(["train.py"])


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
