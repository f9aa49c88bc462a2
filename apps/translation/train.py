"""Trains a translation model and exports it as a versioned SavedModel.

    python -m apps.translation.train [--config=configs/translation/default.yaml]
        [--data_dir=../shared/data] [--direction=en-de]
        [--export_dir=saved_models/translation] [--model_dir=runs/translation/default]
        [--strategy=default|mirrored|multi_worker] [--mixed_precision]
        [--export_beam_width=4] [--export_max_length=64] [--set trainer.train_steps=100 ...]

Steps: read the training and validation pairs; train (or, when resuming,
reload) a SentencePiece vocabulary shared by both languages; train the
Transformer with the runner (teacher forcing, label smoothing, TensorBoard,
progress); score the latest checkpoints (and their average) by validation
BLEU with beam search; export the best with in-graph tokenization, beam search
and detokenization; write `summary.json` into the model directory.
"""

import json
import os
import sys

from absl import app, flags, logging

from apps.translation.config import (APP_NAME, DEFAULT_DATA_DIR, OUTPUT_KEY, REPO_ROOT,
                                     TranslationConfig)
from apps.translation.data import load_pairs, parse_direction
from apps.translation.metrics import translation_metrics
from bertlab.config import ConfigError, load_config
from bertlab.data.readers import DataError
from bertlab.decoding import with_export_overrides
from bertlab.tasks.fine_tuning_cli import normalize_argv
from bertlab.tasks.seq2seq import subword_tokenizer, train_and_export
from bertlab.text.sentencepiece_tokenizer import SentencePieceError
from bertlab.training import flags as training_flags

training_flags.define_flags(require_model_dir=False)
flags.FLAGS.set_default("config", str(REPO_ROOT / "configs" / APP_NAME / "default.yaml"))
flags.DEFINE_string("data_dir", None, "Folder of the datasets (default: ../shared/data "
                    "beside the repository); for tfds:<name> datasets, the TFDS data dir.")
flags.DEFINE_string("direction", None, "Overrides data.direction, e.g. en-de, de-en, "
                    "en-zh, zh-en.")
flags.DEFINE_string("export_dir", None, "Overrides export_dir (base directory of the "
                    "versioned SavedModels).")
flags.DEFINE_integer("export_beam_width", None, "Beam width fixed in the export "
                     "(default: decoding.beam_width; 1 = greedy).")
flags.DEFINE_integer("export_max_length", None, "Most generated tokens, fixed in the export "
                     "(default: decoding.max_length).")
FLAGS = flags.FLAGS

SPM_FILE = "sentencepiece.model"


def resolve(path, base):
    path = os.path.expanduser(str(path))
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(base, path))


def read_config():
    overrides = training_flags.overrides_from_flags(FLAGS)
    if FLAGS.direction:
        overrides["data.direction"] = FLAGS.direction
    if FLAGS.export_dir:
        overrides["export_dir"] = os.path.abspath(FLAGS.export_dir)
    config_path = FLAGS.config
    if not os.path.isfile(config_path) and os.path.isfile(resolve(config_path, REPO_ROOT)):
        config_path = resolve(config_path, REPO_ROOT)
    return config_path, load_config(TranslationConfig, config_path, overrides)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    try:
        run()
    except (ConfigError, DataError, SentencePieceError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


def run():
    config_path, config = read_config()
    try:
        export_decoding = with_export_overrides(config.decoding, FLAGS.export_beam_width,
                                                FLAGS.export_max_length)
    except ValueError as e:
        raise app.UsageError(str(e)) from None
    strategy = training_flags.strategy_from_flags(FLAGS)
    data_dir = os.path.abspath(FLAGS.data_dir) if FLAGS.data_dir else str(DEFAULT_DATA_DIR)
    stem = os.path.splitext(os.path.basename(config_path))[0]
    model_dir = os.path.abspath(FLAGS.model_dir) if FLAGS.model_dir else str(
        REPO_ROOT / "runs" / APP_NAME / f"{stem}-{config.data.direction}")
    export_dir = resolve(config.export_dir, REPO_ROOT) if config.export_dir else None
    _, target_language = parse_direction(config.data.direction)
    data = config.data

    train = load_pairs(data.dataset, "train", data.direction, data_dir, data.train_limit)
    validation = load_pairs(data.dataset, "validation", data.direction, data_dir,
                            data.validation_limit)
    logging.info("%d training and %d validation pairs (%s, %s); model_dir %s",
                 len(train[0]), len(validation[0]), data.dataset, data.direction, model_dir)
    os.makedirs(model_dir, exist_ok=True)
    tokenizer = subword_tokenizer(config.subword, train[0] + train[1],
                                  os.path.join(model_dir, SPM_FILE))
    logging.info("SentencePiece vocabulary: %d pieces", tokenizer.vocabulary_size)

    def metric_fn(hypotheses, references):
        return translation_metrics(hypotheses, references, target_language)

    summary = train_and_export(
        config, tokenizer, {"train": train, "validation": validation}, validation, metric_fn,
        model_dir, export_dir=export_dir, strategy=strategy, output_key=OUTPUT_KEY,
        export_decoding=export_decoding,
        metadata={"app": APP_NAME, "config": os.path.basename(config_path),
                  "dataset": data.dataset, "direction": data.direction,
                  "vocabulary_size": tokenizer.vocabulary_size},
        log_fn=logging.info)
    print(json.dumps({"app": APP_NAME, "model_dir": model_dir,
                      "checkpoint": summary.get("checkpoint_selection", {}).get("best"),
                      "validation": summary.get("validation_generation"),
                      "export": summary.get("export"),
                      "train_time_seconds": summary.get("train_time_seconds")},
                     ensure_ascii=False, default=str))
    return summary


if __name__ == "__main__":
    app.run(main, argv=normalize_argv(sys.argv))
