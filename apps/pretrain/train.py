r"""Pretrains a BERT encoder (masked LM + next sentence prediction).

Reads TFRecords from `apps.pretrain.create_data` (or google-research/bert's own),
trains on any `tf.distribute` strategy with bertlab's runner and driver
(resumable: rerun the same command after a crash or a kill), and exports the
encoder and its vocabulary to a directory that `BertEncoder.from_pretrained` and
`BertPreprocessor.from_pretrained` read, so the task apps can fine-tune from it
(`--init=MODEL_DIR/export`).

Usage:
  python -m apps.pretrain.train [--config=configs/pretrain/default.yaml] \
      [--model_dir=runs/pretrain/default] \
      [--train_files='data/train-*.tfrecord'] [--validation_files='data/valid-*.tfrecord'] \
      [--vocab_file=data/vocab.txt] \
      [--init_checkpoint=DIR] [--export_dir=DIR] [--strategy=mirrored] \
      [--mixed_precision=mixed_bfloat16] [--jit_compile] [--set trainer.train_steps=2000]

Every config value can be overridden with `--set section.key=value`; the data
flags above are shortcuts for `--set task.KEY=...`.
"""

import json
import os

from absl import app, flags

from apps.pretrain.config import APP_NAME, REPO_ROOT, PretrainConfig
from bertlab.config import ConfigError, load_config
from bertlab.models import CheckpointError
from bertlab.pretraining.corpus import CorpusError
from bertlab.pretraining.dataset import majority_token_baseline
from bertlab.pretraining.task import PretrainingTask
from bertlab.tasks.driver import train_and_export
from bertlab.text import VocabularyError
from bertlab.training import flags as training_flags
from bertlab.training.run_config import RunConfigMismatchError

training_flags.define_flags(require_model_dir=False)
flags.FLAGS.set_default("config", os.path.join(REPO_ROOT, "configs", APP_NAME, "default.yaml"))
flags.DEFINE_string("train_files", None, "Training TFRecord glob(s) (task.train_files).")
flags.DEFINE_string("validation_files", None, "Validation TFRecord glob(s) (task.validation_files).")
flags.DEFINE_string("vocab_file", None, "The data's vocab.txt (task.vocab_file).")
flags.DEFINE_string("init_checkpoint", None,
                    "Start from this pretrained encoder directory (task.init_checkpoint).")
flags.DEFINE_string("export_dir", None, "Where the trained encoder is exported "
                    "(default: export_dir of the config, else MODEL_DIR/export).")
FLAGS = flags.FLAGS

_TASK_FLAGS = ("train_files", "validation_files", "vocab_file", "init_checkpoint")
# Bad input found while reading the config and the data (a bad value is a ValueError there),
# and while building the model and its checkpoint; a ValueError during training is a bug to
# see with its traceback.
_SETUP_ERRORS = (ConfigError, CorpusError, VocabularyError, CheckpointError, ValueError,
                 FileNotFoundError)
_RUN_ERRORS = (ConfigError, CorpusError, VocabularyError, CheckpointError, FileNotFoundError,
               FileExistsError, RunConfigMismatchError)


def load_run_config():
    """The run's config: YAML, then `--set` overrides, then the shortcut flags."""
    overrides = training_flags.overrides_from_flags(FLAGS)
    for name in _TASK_FLAGS:
        value = getattr(FLAGS, name)
        if value is not None:
            overrides[f"task.{name}"] = value
    if FLAGS.export_dir:
        overrides["export_dir"] = FLAGS.export_dir
    config = load_config(PretrainConfig, FLAGS.config, overrides)
    # One batch size for the run: the runner's.
    config.task.global_batch_size = config.trainer.global_batch_size
    if not config.task.train_files:
        raise ConfigError("No training data: pass --train_files (or task.train_files).")
    return config


def majority_baseline(task, validation_files):
    """MLM accuracy of always predicting the validation data's most frequent token."""
    accuracy, token_id = majority_token_baseline(validation_files)
    token = task.vocabulary[token_id] if task.vocabulary else str(token_id)
    return {"accuracy": accuracy, "token": token}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    try:
        config = load_run_config()
        model_dir = FLAGS.model_dir or os.path.join(
            REPO_ROOT, "runs", APP_NAME, os.path.splitext(os.path.basename(FLAGS.config))[0])
        export_dir = config.export_dir or os.path.join(model_dir, "export")
        strategy = training_flags.strategy_from_flags(trainer_config=config.trainer)
        task = PretrainingTask(config.task)
    except _SETUP_ERRORS as e:
        raise SystemExit(f"error: {e}")
    extra = {}
    if config.task.validation_files:
        extra["mlm_majority_baseline"] = majority_baseline(task, config.task.validation_files)
    try:
        summary = train_and_export(task, config.trainer, config.optimizer, model_dir,
                                   export_dir=export_dir, strategy=strategy,
                                   metadata={"config": os.path.basename(FLAGS.config)},
                                   versioned_export=False, extra_summary=extra,
                                   allow_config_change=FLAGS.allow_config_change)
    except _RUN_ERRORS as e:  # e.g. an --init_checkpoint that does not fit the data
        raise SystemExit(f"error: {e}")
    if summary.get("export"):
        print(json.dumps({k: summary[k] for k in ("steps", "examples_per_second", "final_eval",
                                                  "mlm_majority_baseline", "export")
                          if k in summary}, indent=2))


if __name__ == "__main__":
    app.run(main)
