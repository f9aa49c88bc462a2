"""TrainerConfig / OptimizerConfig: YAML loading and clear errors on bad values."""

import pytest

from bertlab.config import ConfigError, load_config
from bertlab.training.configs import OptimizerConfig, TrainerConfig


def test_yaml_round_trip(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("train_steps: 50\nmixed_precision: mixed_bfloat16\n"
                    "gradient_accumulation_steps: 4\neval_steps: null\n", encoding="utf-8")
    config = load_config(TrainerConfig, str(path), {"steps_per_loop": "5"})
    assert (config.train_steps, config.mixed_precision, config.gradient_accumulation_steps,
            config.steps_per_loop, config.eval_steps) == (50, "mixed_bfloat16", 4, 5, None)
    optimizer = load_config(OptimizerConfig, None, {"decay": "polynomial", "power": "2",
                                                     "clipnorm": "0"})
    assert optimizer.decay == "polynomial" and optimizer.power == 2.0
    assert optimizer.clipnorm is None  # 0 disables clipping


def test_float32_means_no_policy():
    assert TrainerConfig(mixed_precision="float32").mixed_precision is None


@pytest.mark.parametrize("kwargs, field", [
    ({"train_steps": -1}, "train_steps"),
    ({"train_steps": 0}, "train_steps"),
    ({"global_batch_size": 0}, "global_batch_size"),
    ({"steps_per_loop": 0}, "steps_per_loop"),
    ({"checkpoint_interval": -5}, "checkpoint_interval"),
    ({"keep_checkpoints": 0}, "keep_checkpoints"),
    ({"eval_steps": 0}, "eval_steps"),
    ({"gradient_accumulation_steps": 0}, "gradient_accumulation_steps"),
    ({"mixed_precision": "float16"}, "mixed_precision"),
    ({"train_steps": True}, "train_steps"),
])
def test_trainer_config_errors_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        TrainerConfig(**kwargs)


@pytest.mark.parametrize("kwargs, field", [
    ({"decay": "cosine"}, "decay"),
    ({"learning_rate": 0.0}, "learning_rate"),
    ({"warmup_steps": -1}, "warmup_steps"),
    ({"power": 0.0}, "power"),
    ({"end_learning_rate": 1.0}, "end_learning_rate"),
    ({"weight_decay": -0.1}, "weight_decay"),
    ({"beta_2": 1.5}, "beta_2"),
    ({"epsilon": 0.0}, "epsilon"),
    ({"clipnorm": -1.0}, "clipnorm"),
    ({"weight_decay_exclude": ["bias", "("]}, "weight_decay_exclude"),
])
def test_optimizer_config_errors_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        OptimizerConfig(**kwargs)


def test_bad_yaml_value_names_file_and_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("mixed_precision: fp8\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="bad.yaml.*mixed_precision"):
        load_config(TrainerConfig, str(path))
    path.write_text("train_stepz: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="train_stepz"):
        load_config(TrainerConfig, str(path))


def test_xla_fusion_and_jit_compile_exclude_each_other():
    with pytest.raises(ValueError, match="not both"):
        TrainerConfig(jit_compile=True, xla_fusion=True)
