"""The command line of the fine-tuning apps' `train` scripts (flags -> config -> run).

An app's `train.py` supplies its config class (a dataclass with `task`,
`trainer`, `optimizer`, `schedule` and `export_dir` sections) and its task
class; this module defines the flags, reads the config and runs the one driver
(`bertlab.tasks.driver.train_and_export`).

Flags, on top of `bertlab.training.flags` (`--config`, `--model_dir`,
`--strategy`, `--mixed_precision`, `--jit_compile`, `--set key=value`):
- `--data_dir`: overrides `task.data.data_dir` (relative to the working
  directory; the config's own relative `data_dir` is relative to the repo);
- `--init`: overrides `task.encoder.init` ("minilm", "bertlab-zh-mini", a
  checkpoint directory, "none");
- `--export_dir`: overrides `export_dir` (base directory of the versioned
  SavedModels).
`--config` defaults to `configs/<app>/default.yaml`; `--model_dir` defaults to
`runs/<app>/<config name>-<time>` (pass an existing one to resume);
`--mixed_precision` alone means `mixed_bfloat16`.

Example (an app's `train.py`):
    def main(argv):
        run_training_app("sentiment", SentimentConfig, TextClassificationTask, REPO_ROOT)
"""

import datetime
import json
import os
import sys

from absl import app, flags, logging

from bertlab.config import ConfigError, load_config
from bertlab.data import DataError
from bertlab.models import CheckpointError
from bertlab.pretrained import CHECKPOINT_NAMES
from bertlab.tasks.driver import train_and_export
from bertlab.text import VocabularyError
from bertlab.training import flags as training_flags
from bertlab.training.run_config import RunConfigMismatchError
from bertlab.training.schedule import apply_schedule

FLAGS = flags.FLAGS


def define_flags(app_name, repo_root, default_config="default.yaml"):
    """Defines the train script's flags (the runner's and `--data_dir/--init/--export_dir`);
    `--config` defaults to `<repo_root>/configs/<app_name>/<default_config>`."""
    training_flags.define_app_flags(
        app_name, repo_root,
        "Overrides task.data.data_dir (the folder the config's data files are read from).",
        default_config=default_config)
    if "init" in FLAGS:  # already defined (a second app module in the same process)
        return
    flags.DEFINE_string("init", None, "Overrides task.encoder.init: 'minilm', "
                        "'bertlab-zh-mini', a checkpoint directory (Hugging Face BERT "
                        "layout) or 'none'.")


# The errors a train script reports as `error: ...` (exit status 1) instead of a traceback.
TRAIN_ERRORS = (ConfigError, DataError, VocabularyError, CheckpointError, FileNotFoundError,
                RunConfigMismatchError)


def run_main(argv, run, errors=TRAIN_ERRORS):
    """Runs `run()`; positional arguments are a usage error, and `errors` (exception
    types) are printed as `error: ...` on stderr with exit status 1."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    try:
        run()
    except errors as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


def normalize_argv(argv):
    """Lets a bare `--mixed_precision` mean `--mixed_precision=mixed_bfloat16`."""
    return [("--mixed_precision=mixed_bfloat16" if a == "--mixed_precision" else a)
            for a in argv]


def read_config(config_cls, repo_root, overrides=None):
    """The app's config from `--config`, every override flag and `overrides` (a dict of
    dotted keys, e.g. an app's own flags)."""
    overrides = {**training_flags.app_overrides_from_flags(FLAGS), **(overrides or {})}
    if FLAGS.data_dir:
        overrides["task.data.data_dir"] = os.path.abspath(FLAGS.data_dir)
    if FLAGS.init:
        init = FLAGS.init
        overrides["task.encoder.init"] = init if init in (*CHECKPOINT_NAMES, "none") else \
            os.path.abspath(init)
    return resolve_config_paths(load_config(config_cls, FLAGS.config, overrides), repo_root)


def resolve_config_paths(config, repo_root):
    """`config` with its relative `task.data.data_dir` and `export_dir` made absolute:
    a config's relative paths are relative to the repository, not the working
    directory. Returns `config` (changed in place)."""
    data = config.task.data
    if not os.path.isabs(data.data_dir):
        data.data_dir = os.path.normpath(os.path.join(repo_root, data.data_dir))
    if config.export_dir and not os.path.isabs(config.export_dir):
        config.export_dir = os.path.join(repo_root, config.export_dir)
    return config


def apply_final_fit(config):
    """With `schedule.final_fit`, folds the validation split carved from the training data
    back into it (`task.data.holdout_every` = 0). Returns whether the run is a final fit.

    Raises:
      ValueError: a final fit of a config whose validation split is a separate source
        (there is nothing to fold back; train without `final_fit`).
    """
    if not config.schedule.final_fit:
        return False
    data = config.task.data
    if not data.holdout_every:
        raise ValueError("`schedule.final_fit` trains on the validation split carved from the "
                         "training data too, so it needs `task.data.holdout_every`; this config "
                         f"validates on a separate source ({data.validation!r}).")
    logging.info("Final fit: training on the whole training split (the every-%d-th carved "
                 "split included), exporting the last weights.", data.holdout_every)
    data.holdout_every = 0
    return True


def run_training_app(app_name, config_cls, task_cls, repo_root, overrides=None,
                     prepare_config=None):
    """Reads flags and config, builds the task, trains, exports; prints the summary.

    `overrides`: more config overrides (dotted keys) from the app's own flags;
    `prepare_config(config)`: the app's last changes to the config read (e.g.
    resolving its own relative paths)."""
    config = read_config(config_cls, repo_root, overrides)
    if prepare_config is not None:
        prepare_config(config)
    model_dir = FLAGS.model_dir
    if not model_dir:
        stem = os.path.splitext(os.path.basename(FLAGS.config))[0]
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        model_dir = os.path.join(repo_root, "runs", app_name, f"{stem}-{stamp}")
    logging.info("Config %s; model_dir %s; export_dir %s", FLAGS.config, model_dir,
                 config.export_dir)
    strategy = training_flags.strategy_from_flags(FLAGS, config.trainer)
    final_fit = apply_final_fit(config)
    task = task_cls(config.task, global_batch_size=config.trainer.global_batch_size)
    trainer_config, optimizer_config = apply_schedule(
        config.schedule, config.trainer, config.optimizer, task.num_examples("train"))
    summary = train_and_export(task, trainer_config, optimizer_config, model_dir,
                               export_dir=config.export_dir or None, strategy=strategy,
                               metadata={"app": app_name,
                                         "config": os.path.basename(FLAGS.config),
                                         "init": config.task.encoder.init,
                                         **({"title": config.title}
                                            if getattr(config, "title", "") else {})},
                               report_split="report" if config.task.data.report else None,
                               keep_best=not final_fit,
                               allow_config_change=FLAGS.allow_config_change)
    summary["model_dir"] = model_dir
    best = summary.get("best") or {}
    print(json.dumps({"app": app_name, "model_dir": model_dir,
                      "best_step": best.get("step"), "best": best.get("results"),
                      "report": summary.get("report"),
                      "export": summary.get("export"),
                      "train_examples_per_second": summary.get("examples_per_second")},
                     default=str), file=sys.stdout)
    return summary
