"""The shared absl flags of app train scripts, and how they map onto an app's config."""

import dataclasses

import pytest
from absl import flags

from bertlab.config import ConfigError
from bertlab.training import flags as training_flags
from bertlab.training.configs import OptimizerConfig, TrainerConfig


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
