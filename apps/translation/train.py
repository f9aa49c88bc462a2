"""Trains a translation model and exports it as a versioned SavedModel.

    python -m apps.translation.train [--config=configs/translation/default.yaml]
        [--data_dir=../shared/data] [--direction=en-de]
        [--export_dir=saved_models/translation] [--model_dir=runs/translation/default]
        [--strategy=default|mirrored|multi_worker] [--mixed_precision]
        [--export_beam_width=4] [--export_max_length=64] [--export_jit_compile]
        [--set trainer.train_steps=100 ...]

Steps: read the training and validation pairs; train (or, when resuming,
reload) a SentencePiece vocabulary shared by both languages; train the
Transformer with the runner (teacher forcing, label smoothing, TensorBoard,
progress); score the latest checkpoints (and their average) by validation
BLEU with beam search; export the best with in-graph tokenization, beam search
and detokenization; write `summary.json` into the model directory.
"""

import os
import sys

from absl import app, flags, logging

from apps.translation.config import (APP_NAME, DEFAULT_DATA_DIR, OUTPUT_KEY, REPO_ROOT,
                                     TranslationConfig)
from apps.translation.data import load_pairs, parse_direction
from apps.translation.metrics import translation_metrics
from bertlab.tasks import seq2seq_cli
from bertlab.tasks.fine_tuning_cli import normalize_argv
from bertlab.text.sentencepiece_tokenizer import subword_tokenizer
from bertlab.training import flags as training_flags

seq2seq_cli.define_train_flags(APP_NAME, REPO_ROOT)
flags.DEFINE_string("direction", None, "Overrides data.direction, e.g. en-de, de-en, "
                    "en-zh, zh-en.")
flags.adopt_module_key_flags(seq2seq_cli)
FLAGS = flags.FLAGS

SPM_FILE = "sentencepiece.model"


def read_config():
    overrides = {"data.direction": FLAGS.direction} if FLAGS.direction else {}
    return seq2seq_cli.read_config(TranslationConfig, REPO_ROOT, overrides)


def main(argv):
    seq2seq_cli.run_main(argv, run, seq2seq_cli.TRAIN_ERRORS)


def run():
    config_path, config = read_config()
    export_decoding = seq2seq_cli.export_decoding_from_flags(config.decoding)
    strategy = training_flags.strategy_from_flags(FLAGS, config.trainer)
    data_dir = seq2seq_cli.data_dir_from_flags(DEFAULT_DATA_DIR)
    stem = os.path.splitext(os.path.basename(config_path))[0]
    model_dir = seq2seq_cli.model_dir_from_flags(REPO_ROOT, APP_NAME,
                                                 f"{stem}-{config.data.direction}")
    export_dir = (seq2seq_cli.resolve(config.export_dir, REPO_ROOT) if config.export_dir
                  else None)
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

    summary = seq2seq_cli.train_seq2seq(
        config, tokenizer, {"train": train, "validation": validation}, validation, metric_fn,
        model_dir, export_dir=export_dir, strategy=strategy, output_key=OUTPUT_KEY,
        export_decoding=export_decoding,
        metadata={"app": APP_NAME, "config": os.path.basename(config_path),
                  "dataset": data.dataset, "direction": data.direction,
                  "vocabulary_size": tokenizer.vocabulary_size})
    seq2seq_cli.print_train_summary(APP_NAME, model_dir, summary)
    return summary


if __name__ == "__main__":
    app.run(main, argv=normalize_argv(sys.argv))
