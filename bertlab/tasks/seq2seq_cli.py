"""The command line the seq2seq apps (translation, summarization) share.

`fine_tuning_cli.py` is the same for the fine-tuning apps. An app's scripts
keep what is their own (datasets, metrics, extra flags, what they print) and
use this for the rest:
- train: `define_train_flags` (the runner's flags and `--data_dir`,
  `--export_dir`, `--export_beam_width`, `--export_max_length`, `--export_jit_compile`),
  `read_config`, `export_decoding_from_flags`, `data_dir_from_flags`,
  `model_dir_from_flags`, `train_seq2seq` (the task on the one driver),
  `print_train_summary`;
- evaluate: `generate` (the export's outputs for many texts, batched by
  length), `write_lines`;
- predict: `print_generations`;
- all three: `run_main` (no positional arguments; known errors -> one
  `error: ...` line on stderr and exit status 1).

Example (an app's `train.py`):
    seq2seq_cli.define_train_flags(APP_NAME, REPO_ROOT)
    flags.adopt_module_key_flags(seq2seq_cli)   # listed by --help

    def main(argv):
        seq2seq_cli.run_main(argv, run, seq2seq_cli.TRAIN_ERRORS)
"""

import dataclasses
import json
import os
import sys

from absl import app, flags

from bertlab.config import ConfigError, load_config
from bertlab.data.readers import DataError
from bertlab.decoding import with_export_overrides
from bertlab.export import ExportedModel, read_texts
from bertlab.storage import atomic_file
from bertlab.tasks.driver import train_and_export
from bertlab.tasks.fine_tuning_cli import run_main  # noqa: F401  (seq2seq_cli.run_main)
from bertlab.tasks.seq2seq import GenerationSetup, Seq2SeqTask
from bertlab.text.sentencepiece_tokenizer import SentencePieceError
from bertlab.training import flags as training_flags
from bertlab.training.run_config import RunConfigMismatchError

FLAGS = flags.FLAGS

# The errors a script reports as `error: ...` (exit status 1) instead of a traceback.
TRAIN_ERRORS = (ConfigError, DataError, SentencePieceError, FileNotFoundError,
                RunConfigMismatchError)
EVALUATE_ERRORS = (DataError, FileNotFoundError)


def define_train_flags(app_name, repo_root):
    """Defines the train script's flags: the runner's, `--data_dir`, `--export_dir`,
    `--export_beam_width`, `--export_max_length`, `--export_jit_compile`; `--config` defaults to
    `<repo_root>/configs/<app_name>/default.yaml`."""
    training_flags.define_app_flags(
        app_name, repo_root, "Folder of the datasets (default: ../shared/data beside the "
        "repository); for tfds:<name> datasets, the TFDS data dir.")
    flags.DEFINE_integer("export_beam_width", None, "Beam width fixed in the export "
                         "(default: decoding.beam_width; 1 = greedy).")
    flags.DEFINE_integer("export_max_length", None, "Most generated tokens, fixed in the "
                         "export (default: decoding.max_length).")
    flags.DEFINE_boolean("export_jit_compile", False, "Export the generation XLA-compiled, "
                         "computing in float32: about 2x faster on CPU, but TF Serving runs "
                         "it only with --xla_cpu_compilation_enabled=true.")


def resolve(path, base):
    """`path` (with `~` expanded) if absolute, else `base/path` normalized."""
    path = os.path.expanduser(str(path))
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(base, path))


def read_config(config_cls, repo_root, app_overrides):
    """`(config path, config)`: `--config` (also looked for relative to `repo_root`)
    with the runner's overrides and `--export_dir`, then `app_overrides` ({dotted
    key: value})."""
    overrides = training_flags.app_overrides_from_flags(FLAGS)
    overrides.update(app_overrides)
    config_path = FLAGS.config
    if not os.path.isfile(config_path) and os.path.isfile(resolve(config_path, repo_root)):
        config_path = resolve(config_path, repo_root)
    return config_path, load_config(config_cls, config_path, overrides)


def export_decoding_from_flags(decoding):
    """`decoding` with `--export_beam_width`/`--export_max_length`; a bad value is a
    usage error."""
    try:
        return with_export_overrides(decoding, FLAGS.export_beam_width,
                                     FLAGS.export_max_length)
    except ValueError as e:
        raise app.UsageError(str(e)) from None


def data_dir_from_flags(default):
    """`--data_dir` made absolute, else `default`."""
    return os.path.abspath(FLAGS.data_dir) if FLAGS.data_dir else str(default)


def model_dir_from_flags(repo_root, app_name, run_name):
    """`--model_dir` made absolute, else `<repo_root>/runs/<app_name>/<run_name>`."""
    return os.path.abspath(FLAGS.model_dir) if FLAGS.model_dir else str(
        repo_root / "runs" / app_name / run_name)


def train_seq2seq(config, tokenizer, splits, validation_examples, metric_fn, model_dir,
                  export_dir, strategy, output_key, export_decoding, metadata,
                  extra_summary=None):
    """Trains a `Seq2SeqTask` on the one driver: the latest checkpoints (and their
    average) are scored by `metric_fn` on `validation_examples` with
    `config.decoding`, and the best is exported with `export_decoding` (and
    `--export_jit_compile`).

    Args:
      config: the app config (sections `task`, `trainer`, `optimizer`,
        `decoding`, `selection`).
      tokenizer: the run's tokenizer (see `Seq2SeqTask`).
      splits: `{"train": (sources, targets), "validation": (sources, targets)}`
        for teacher-forced training and validation loss.
      validation_examples: `(sources, references)` scored by `metric_fn`.
      metric_fn: `(hypotheses, references) -> dict`.
      model_dir, export_dir, strategy, metadata, extra_summary: see
        `bertlab.tasks.driver.train_and_export`.
      output_key: output name of the export's `serving_default`.
      export_decoding: `DecodingConfig` fixed in the export.
    """
    generation = GenerationSetup(
        decoding=config.decoding, metric_fn=metric_fn, validation_examples=validation_examples,
        selection=config.selection, output_key=output_key, export_decoding=export_decoding,
        export_jit_compile=FLAGS.export_jit_compile)
    task = Seq2SeqTask(config.task, tokenizer, splits, config.trainer.global_batch_size,
                       generation=generation)
    return train_and_export(task, config.trainer, config.optimizer, model_dir,
                            export_dir=export_dir, strategy=strategy, metadata=metadata,
                            extra_summary=extra_summary,
                            export_summary={"decoding": dataclasses.asdict(export_decoding),
                                            "jit_compile": bool(FLAGS.export_jit_compile)},
                            allow_config_change=FLAGS.allow_config_change)


def print_train_summary(app_name, model_dir, summary, extra=None):
    """Prints the train script's last line: one JSON object (the best checkpoint, its
    validation scores, `extra`, the export and the training time)."""
    print(json.dumps({"app": app_name, "model_dir": model_dir,
                      "checkpoint": summary.get("checkpoint_selection", {}).get("best"),
                      "validation": summary.get("validation_generation"),
                      **(extra or {}),
                      "export": summary.get("export"),
                      "train_time_seconds": summary.get("train_time_seconds")},
                     ensure_ascii=False, default=str))


def generate(model, sources, batch_size, output_key):
    """The `output_key` texts an `ExportedModel` makes of `sources`, in their order
    (sent in batches of similar length; bytes that are not UTF-8 become U+FFFD)."""
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    outputs = model.run([sources[i] for i in order], batch_size=batch_size)[output_key]
    texts = [None] * len(sources)
    for i, text in zip(order, outputs):
        texts[i] = text.decode("utf-8", errors="replace")
    return texts


def write_lines(path, texts):
    """Writes `texts` one per line (newlines inside a text become spaces), to a
    temporary name first, then renamed."""
    with atomic_file(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.writelines(t.replace("\n", " ") + "\n" for t in texts)


def print_generations(model_dir, args, batch_size, output_key, as_json):
    """The predict script: the texts of `args` (else stdin lines) through the export
    in `model_dir`; one output per line, in input order (`as_json`: a JSON object
    with the text and its output). A missing model or no texts: `error: ...` on
    stderr, exit status 1."""
    try:
        model = ExportedModel(model_dir)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    texts = read_texts(args)
    if not texts:
        print("error: no texts given (as arguments or on stdin).", file=sys.stderr)
        sys.exit(1)
    outputs = model.run(texts, batch_size=batch_size)[output_key]
    for text, output in zip(texts, outputs):
        output = output.decode("utf-8", errors="replace")
        if as_json:
            print(json.dumps({"text": text, output_key: output}, ensure_ascii=False))
        else:
            print(output)
