"""Trains a GPT-style language model on plain text and exports it as a versioned SavedModel.

    python -m apps.lm.train [--config=configs/lm/default.yaml] [--data_dir=../shared/data]
        [--init=saved_models/lm] [--export_dir=saved_models/lm]
        [--model_dir=runs/lm/default] [--strategy=default|mirrored|multi_worker]
        [--mixed_precision] [--export_max_length=128] [--export_jit_compile]
        [--set trainer.train_steps=100 ...]

A lossless BPE SentencePiece model is learned from the training files (kept in
the model directory, reused on resume); the files are packed into training
sequences (`bertlab.tasks.language_modeling`), the held-out files
(`data.validation_files`, whole documents) give the validation loss,
perplexity and bits per character. The last weights are exported with
in-graph tokenization, generation (`serving_default`, `generate`) and text
scoring (`score_text`).

`--init` continues from a language-model export (a version directory, or the
base directory for its latest version) on this config's text: domain
adaptation. The model's sizes and its SentencePiece model are kept (the
config's `task.model` sizes and `subword` section are then unused).
"""

import os
import sys

from absl import app, flags, logging

from apps.lm.config import APP_NAME, DEFAULT_DATA_DIR, REPO_ROOT, LanguageModelAppConfig
from bertlab.config import ConfigError
from bertlab.data.readers import DataError
from bertlab.tasks import seq2seq_cli
from bertlab.tasks.driver import train_and_export
from bertlab.tasks.fine_tuning_cli import normalize_argv
from bertlab.tasks.language_modeling import LanguageModelingTask, load_trained_language_model
from bertlab.text.sentencepiece_tokenizer import subword_tokenizer
from bertlab.training import flags as training_flags

seq2seq_cli.define_train_flags(APP_NAME, REPO_ROOT)
flags.DEFINE_string("init", None, "Continue from a language-model export (a version "
                    "directory, or a base directory: its latest version).")
flags.adopt_module_key_flags(seq2seq_cli)
FLAGS = flags.FLAGS

SPM_FILE = "sentencepiece.model"


def corpus_files(data_dir, data):
    """`(train paths, validation paths)` of `data.corpus` under `data_dir`.

    Raises:
      DataError: the folder or a named file is missing, or nothing is left to train on.
    """
    folder = os.path.join(data_dir, data.corpus)
    if not os.path.isdir(folder):
        raise DataError(f"Corpus folder not found: {folder} (data.corpus={data.corpus!r}).")
    available = sorted(f for f in os.listdir(folder) if f.endswith(".txt"))

    def paths(names, what):
        missing = [n for n in names if not os.path.isfile(os.path.join(folder, n))]
        if missing:
            raise DataError(f"{what} not found in {folder}: {missing} (it has {available}).")
        return [os.path.join(folder, n) for n in names]

    validation = paths(data.validation_files, "data.validation_files")
    names = (data.train_files if data.train_files is not None
             else [n for n in available if n not in data.validation_files])
    if not names:
        raise DataError(f"No training files in {folder} besides the held-out "
                        f"{data.validation_files}.")
    return paths(names, "data.train_files"), validation


def training_lines(paths):
    """Every line of the files (with its newline), one file at a time."""
    for path in paths:
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            yield from f


def main(argv):
    seq2seq_cli.run_main(argv, run, seq2seq_cli.TRAIN_ERRORS)


def run():
    config_path, config = seq2seq_cli.read_config(LanguageModelAppConfig, REPO_ROOT, {})
    export_decoding = seq2seq_cli.export_decoding_from_flags(config.decoding)
    strategy = training_flags.strategy_from_flags(FLAGS, config.trainer)
    data_dir = seq2seq_cli.data_dir_from_flags(DEFAULT_DATA_DIR)
    stem = os.path.splitext(os.path.basename(config_path))[0]
    model_dir = seq2seq_cli.model_dir_from_flags(REPO_ROOT, APP_NAME, stem)
    export_dir = (seq2seq_cli.resolve(config.export_dir, REPO_ROOT) if config.export_dir
                  else None)
    train_files, validation_files = corpus_files(data_dir, config.data)
    logging.info("%d training and %d validation files (%s); model_dir %s", len(train_files),
                 len(validation_files), config.data.corpus, model_dir)
    os.makedirs(model_dir, exist_ok=True)
    init_model, init = None, None
    try:
        if FLAGS.init:
            init = os.path.abspath(FLAGS.init)
            init_model, tokenizer = load_trained_language_model(init)
        else:
            tokenizer = subword_tokenizer(config.subword, training_lines(train_files),
                                          os.path.join(model_dir, SPM_FILE))
        task = LanguageModelingTask(config.task, tokenizer, train_files, validation_files,
                                    config.trainer.global_batch_size, decoding=export_decoding,
                                    init_model=init_model,
                                    export_jit_compile=FLAGS.export_jit_compile)
    except ValueError as e:  # an unusable `--init` or sizes that do not fit
        raise ConfigError(str(e)) from None
    summary = train_and_export(
        task, config.trainer, config.optimizer, model_dir, export_dir=export_dir,
        strategy=strategy,
        metadata={"app": APP_NAME, "config": os.path.basename(config_path),
                  "corpus": config.data.corpus,
                  "validation_files": [os.path.basename(p) for p in validation_files],
                  "init": init},
        export_summary={"jit_compile": bool(FLAGS.export_jit_compile)},
        allow_config_change=FLAGS.allow_config_change)
    validation = summary.get("final_eval")
    seq2seq_cli.print_train_summary(APP_NAME, model_dir, {**summary,
                                                          "validation_generation": validation})


if __name__ == "__main__":
    app.run(main, argv=normalize_argv(sys.argv))
