r"""Pretrains a BERT encoder (masked LM + next sentence prediction).

Reads TFRecords from `apps.pretrain.create_data` (or google-research/bert's own),
trains on any `tf.distribute` strategy with bertlab's runner (resumable: rerun the
same command after a crash or a kill), and exports the encoder and its vocabulary
to a directory that `BertEncoder.from_pretrained` and
`BertPreprocessor.from_pretrained` read, so the task apps can fine-tune from it.

Usage:
  python -m apps.pretrain.train --config=configs/pretrain/tiny.yaml \
      --model_dir=runs/pretrain-tiny \
      --train_files='data/train-*.tfrecord' --validation_files='data/valid-*.tfrecord' \
      --vocab_file=data/vocab.txt \
      [--init_checkpoint=DIR] [--export_dir=DIR] [--strategy=mirrored] \
      [--mixed_precision=mixed_bfloat16] [--jit_compile] [--set trainer.train_steps=2000]

Every config value can be overridden with `--set section.key=value`; the data
flags above are shortcuts for `--set task.KEY=...`.
"""

import dataclasses
import json
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from bertlab.config import ConfigError  # noqa: E402
from bertlab.training import flags as training_flags  # noqa: E402

training_flags.define_flags()
flags.DEFINE_string("train_files", None, "Training TFRecord glob(s) (task.train_files).")
flags.DEFINE_string("validation_files", None, "Validation TFRecord glob(s) (task.validation_files).")
flags.DEFINE_string("vocab_file", None, "The data's vocab.txt (task.vocab_file).")
flags.DEFINE_string("init_checkpoint", None,
                    "Start from this pretrained encoder directory (task.init_checkpoint).")
flags.DEFINE_string("export_dir", None, "Where the trained encoder is exported "
                    "(default: MODEL_DIR/export).")
FLAGS = flags.FLAGS

_TASK_FLAGS = ("train_files", "validation_files", "vocab_file", "init_checkpoint")


def _config_class():
    from bertlab.pretraining.task import PretrainingTaskConfig
    from bertlab.training import OptimizerConfig, TrainerConfig

    @dataclasses.dataclass
    class PretrainConfig:
        """configs/pretrain/*.yaml: the task, the runner and the optimizer."""
        task: PretrainingTaskConfig = dataclasses.field(default_factory=PretrainingTaskConfig)
        trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)
        optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)

    return PretrainConfig


def load_run_config():
    """The run's config: YAML, then `--set` overrides, then the shortcut flags."""
    overrides = training_flags.overrides_from_flags(FLAGS)
    for name in _TASK_FLAGS:
        value = getattr(FLAGS, name)
        if value is not None:
            overrides[f"task.{name}"] = value
    from bertlab.config import load_config
    config = load_config(_config_class(), FLAGS.config, overrides)
    # One batch size for the run: the runner's.
    config.task.global_batch_size = config.trainer.global_batch_size
    return config


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from bertlab.models import CheckpointError
    from bertlab.pretraining.corpus import CorpusError
    from bertlab.pretraining.dataset import majority_token_baseline
    from bertlab.pretraining.task import PretrainingTask
    from bertlab.text import VocabularyError
    from bertlab.training import Trainer
    from bertlab.training.summary import write_json_atomic

    try:
        config = load_run_config()
        if not config.task.train_files:
            raise ConfigError("No training data: pass --train_files (or task.train_files).")
        strategy = training_flags.strategy_from_flags(trainer_config=config.trainer)
        task = PretrainingTask(config.task)
        trainer = Trainer(task, config.trainer, config.optimizer, FLAGS.model_dir, strategy)
    except (ConfigError, CorpusError, VocabularyError, CheckpointError, ValueError,
            FileNotFoundError) as e:
        raise SystemExit(f"error: {e}")
    if trainer.is_chief:
        write_json_atomic(os.path.join(FLAGS.model_dir, "run_config.json"),
                          dataclasses.asdict(config))
    try:
        summary = trainer.train()
    finally:
        trainer.close()
    if not trainer.is_chief:
        return
    export_dir = FLAGS.export_dir or os.path.join(FLAGS.model_dir, "export")
    with trainer.averaged_weights():  # the average, when the run keeps one
        task.save_encoder(trainer.model, export_dir)
    summary["export_dir"] = os.path.abspath(export_dir)
    if config.task.validation_files:
        accuracy, token_id = majority_token_baseline(config.task.validation_files)
        token = task.vocabulary[token_id] if task.vocabulary else str(token_id)
        summary["mlm_majority_baseline"] = {"accuracy": accuracy, "token": token}
    write_json_atomic(os.path.join(FLAGS.model_dir, "summary.json"), summary)
    logging.info("Exported the encoder to %s", export_dir)
    print(json.dumps({k: summary[k] for k in ("steps", "examples_per_second", "final_eval",
                                              "mlm_majority_baseline", "export_dir")
                      if k in summary}, indent=2))


if __name__ == "__main__":
    app.run(main)
