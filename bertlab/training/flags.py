"""The command-line flags every app's train script shares, and how they map to configs.

Flags: `--config` (YAML file), `--model_dir`, `--strategy` (default, mirrored,
multi_worker, tpu), `--tpu`, `--mixed_precision` (float32, mixed_bfloat16,
mixed_float16), `--jit_compile`, `--xla_fusion`, `--allow_config_change`
(resume a run whose saved settings differ; see `bertlab.training.run_config`),
and the repeatable
`--set key=value` (dotted keys into the app's config, e.g.
`--set trainer.train_steps=100`). `--mixed_precision`, `--jit_compile` and
`--xla_fusion` override the trainer section (and win over `--set`).

Example (an app's `train.py`):
    from absl import app, flags
    from bertlab.training import flags as training_flags
    training_flags.define_flags()
    FLAGS = flags.FLAGS

    def main(_):
        config = training_flags.config_from_flags(MyAppConfig)
        strategy = training_flags.strategy_from_flags()
        run_experiment(MyTask(config.task), config.trainer, config.optimizer,
                       FLAGS.model_dir, strategy)

    app.run(main)
"""

import os

from absl import flags, logging

from bertlab.config import load_config, parse_override_flags
from bertlab.training.configs import MIXED_PRECISION_POLICIES
from bertlab.layers import xla_fusion
from bertlab.training.strategy import STRATEGIES, build_strategy

FLAG_NAMES = ("config", "model_dir", "strategy", "tpu", "mixed_precision", "jit_compile",
              "xla_fusion", "allow_config_change", "set")


def define_flags(flag_values=flags.FLAGS, require_model_dir=True):
    """Defines the shared flags on `flag_values` (once; later calls do nothing)."""
    if "model_dir" in flag_values:
        return
    flags.DEFINE_string("config", None, "YAML config file of the run.", flag_values=flag_values)
    flags.DEFINE_string("model_dir", None,
                        "Checkpoints, TensorBoard logs and summary.json go here.",
                        flag_values=flag_values)
    flags.DEFINE_enum("strategy", "default", list(STRATEGIES),
                      "tf.distribute strategy: one device, all local GPUs, the TF_CONFIG "
                      "cluster, or a TPU.", flag_values=flag_values)
    flags.DEFINE_string("tpu", None, "TPU name or grpc:// address for --strategy=tpu.",
                        flag_values=flag_values)
    flags.DEFINE_enum("mixed_precision", None, ["float32", *MIXED_PRECISION_POLICIES],
                      "Overrides trainer.mixed_precision.", flag_values=flag_values)
    flags.DEFINE_bool("jit_compile", None, "Overrides trainer.jit_compile.",
                      flag_values=flag_values)
    flags.DEFINE_bool("xla_fusion", None, "Overrides trainer.xla_fusion (XLA fuses the "
                      "element-wise ops only; matmuls stay with oneDNN).", flag_values=flag_values)
    flags.DEFINE_bool("allow_config_change", False,
                      "Resume the run in --model_dir even though settings that change the "
                      "model, the data order or the schedule differ from the saved "
                      "run_config.json (the changes are logged and recorded).",
                      flag_values=flag_values)
    flags.DEFINE_multi_string("set", [], "key=value override of the config (dotted keys); "
                              "repeatable.", flag_values=flag_values)
    if require_model_dir:
        flags.mark_flag_as_required("model_dir", flag_values=flag_values)


def define_app_flags(app_name, repo_root, data_dir_help, flag_values=flags.FLAGS,
                     default_config="default.yaml"):
    """Defines a task app's train flags: the shared ones (`--model_dir` optional),
    `--data_dir` (described by `data_dir_help`) and `--export_dir`; `--config`
    defaults to `<repo_root>/configs/<app_name>/<default_config>`. Once per process."""
    define_flags(flag_values, require_model_dir=False)
    if "export_dir" in flag_values:
        return
    flag_values.set_default("config",
                            os.path.join(str(repo_root), "configs", app_name, default_config))
    flags.DEFINE_string("data_dir", None, data_dir_help, flag_values=flag_values)
    flags.DEFINE_string("export_dir", None, "Overrides export_dir: the base directory of "
                        "the versioned SavedModels.", flag_values=flag_values)


def app_overrides_from_flags(flag_values=flags.FLAGS):
    """`overrides_from_flags` plus `--export_dir` (made absolute) of `define_app_flags`."""
    overrides = overrides_from_flags(flag_values)
    if flag_values.export_dir:
        overrides["export_dir"] = os.path.abspath(flag_values.export_dir)
    return overrides


def overrides_from_flags(flag_values=flags.FLAGS, trainer_key="trainer"):
    """The `{dotted key: value}` overrides the flags ask for.

    Args:
        flag_values: parsed flags.
        trainer_key: where the `TrainerConfig` sits in the app's config
            ("" when the config is a `TrainerConfig` itself).
    """
    overrides = parse_override_flags(flag_values.set)
    prefix = f"{trainer_key}." if trainer_key else ""
    if flag_values.mixed_precision is not None:
        overrides[prefix + "mixed_precision"] = flag_values.mixed_precision
    if flag_values.jit_compile is not None:
        overrides[prefix + "jit_compile"] = bool(flag_values.jit_compile)
    if flag_values.xla_fusion is not None:
        overrides[prefix + "xla_fusion"] = bool(flag_values.xla_fusion)
    return overrides


def config_from_flags(config_cls, flag_values=flags.FLAGS, trainer_key="trainer"):
    """Reads `config_cls` from `--config` and the overrides of the other flags."""
    return load_config(config_cls, flag_values.config,
                       overrides_from_flags(flag_values, trainer_key))


def strategy_from_flags(flag_values=flags.FLAGS, trainer_config=None):
    """The `tf.distribute.Strategy` named by `--strategy` (and `--tpu`).

    With a `trainer_config` whose `xla_fusion` is set and XLA's element-wise
    fusion not yet on, restarts the program with it on: TensorFlow reads the
    setting when it sets up the devices, which in an absl app happens before
    `main` (see `bertlab.layers.xla_fusion`).
    """
    if (trainer_config is not None and trainer_config.xla_fusion
            and not xla_fusion.auto_clustering_enabled()):
        logging.info("trainer.xla_fusion: restarting with %s", " ".join(
            xla_fusion.ELEMENTWISE_FUSION_FLAGS))
        xla_fusion.restart_with_elementwise_fusion()
    return build_strategy(flag_values.strategy, tpu_address=flag_values.tpu)
