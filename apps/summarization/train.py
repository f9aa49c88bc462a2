"""Trains a summarization model and exports it as a versioned SavedModel.

    python -m apps.summarization.train [--config=configs/summarization/default.yaml]
        [--data_dir=../shared/data] [--init=minilm|DIR|none]
        [--export_dir=saved_models/summarization] [--model_dir=runs/summarization/default]
        [--strategy=default|mirrored|multi_worker] [--mixed_precision]
        [--export_beam_width=4] [--export_max_length=48] [--export_jit_compile]
        [--set trainer.train_steps=100 ...]

With `task.model.init_from_bert` (default: "minilm", all-MiniLM-L6-v2) the
encoder and the decoder start from the BERT checkpoint (BERT2BERT) and its
WordPiece vocabulary is used; with "none" a SentencePiece vocabulary is trained
on the training split and the Transformer starts from scratch. After training
with the runner, the latest checkpoints (and their average) are scored by
validation ROUGE-L with beam search; the best is exported with in-graph
tokenization, beam search and detokenization. `summary.json` (model directory)
also holds the first-sentence baseline scored with the same ROUGE.
"""

import os
import sys

from absl import app, flags, logging

from apps.summarization.config import (APP_NAME, DEFAULT_DATA_DIR, OUTPUT_KEY, REPO_ROOT,
                                       SummarizationConfig)
from apps.summarization.data import load_examples
from apps.summarization.metrics import rouge_scores
from bertlab.config import ConfigError
from bertlab.pretrained import CHECKPOINT_NAMES
from bertlab.tasks import seq2seq_cli
from bertlab.tasks.encoder_config import resolve_init
from bertlab.tasks.fine_tuning_cli import normalize_argv
from bertlab.text.bert_preprocessor import read_lowercase_flag
from bertlab.text.sentencepiece_tokenizer import subword_tokenizer
from bertlab.text.wordpiece_codec import WordPieceCodec
from bertlab.training import flags as training_flags

seq2seq_cli.define_train_flags(APP_NAME, REPO_ROOT)
flags.DEFINE_string("init", None, "Overrides task.model.init_from_bert: 'minilm', "
                    "'bertlab-zh-mini', a BERT checkpoint directory (Hugging Face layout) "
                    "or 'none' (from scratch).")
flags.adopt_module_key_flags(seq2seq_cli)
FLAGS = flags.FLAGS

SPM_FILE = "sentencepiece.model"


def read_config():
    overrides = {}
    if FLAGS.init:
        overrides["task.model.init_from_bert"] = (
            None if FLAGS.init == "none" else
            FLAGS.init if FLAGS.init in CHECKPOINT_NAMES else os.path.abspath(FLAGS.init))
    return seq2seq_cli.read_config(SummarizationConfig, REPO_ROOT, overrides)


def build_tokenizer(config, train, model_dir):
    """WordPiece of the BERT checkpoint (resolving "minilm"), or a SentencePiece model."""
    init = config.task.model.init_from_bert
    if init and init != "none":
        bert_dir = resolve_init(init)
        # A checkpoint name stays a name (the export's metadata says which checkpoint).
        config.task.model.init_from_bert = init if init in CHECKPOINT_NAMES else bert_dir
        return WordPieceCodec(os.path.join(bert_dir, "vocab.txt"),
                              lowercase=read_lowercase_flag(bert_dir))
    config.task.model.init_from_bert = None
    texts = train.sources + [r for refs in train.references for r in refs]
    return subword_tokenizer(config.subword, texts, os.path.join(model_dir, SPM_FILE))


def main(argv):
    seq2seq_cli.run_main(argv, run, seq2seq_cli.TRAIN_ERRORS)


def run():
    config_path, config = read_config()
    export_decoding = seq2seq_cli.export_decoding_from_flags(config.decoding)
    strategy = training_flags.strategy_from_flags(FLAGS, config.trainer)
    data_dir = seq2seq_cli.data_dir_from_flags(DEFAULT_DATA_DIR)
    stem = os.path.splitext(os.path.basename(config_path))[0]
    model_dir = seq2seq_cli.model_dir_from_flags(REPO_ROOT, APP_NAME, stem)
    export_dir = (seq2seq_cli.resolve(config.export_dir, REPO_ROOT) if config.export_dir
                  else None)
    data = config.data
    options = dict(csl_validation_size=data.csl_validation_size,
                   source_feature=data.source_feature, target_feature=data.target_feature)
    train = load_examples(data.dataset, "train", data_dir, data.train_limit, **options)
    validation = load_examples(data.dataset, "validation", data_dir, data.validation_limit,
                               **options)
    logging.info("%d training and %d validation examples (%s); model_dir %s", len(train),
                 len(validation), data.dataset, model_dir)
    os.makedirs(model_dir, exist_ok=True)
    try:
        tokenizer = build_tokenizer(config, train, model_dir)
    except ValueError as e:  # an unusable `init`
        raise ConfigError(str(e)) from None

    def metric_fn(hypotheses, references):
        return rouge_scores(hypotheses, references, data.language)

    limit = config.selection.max_examples
    baseline = metric_fn(validation.first_sentences[:limit] if limit else
                         validation.first_sentences,
                         validation.references[:limit] if limit else validation.references)
    logging.info("First-sentence baseline on validation: %s", baseline)
    # Teacher-forced training and validation loss use the first reference.
    splits = {"train": (train.sources, [r[0] for r in train.references]),
              "validation": (validation.sources, [r[0] for r in validation.references])}
    summary = seq2seq_cli.train_seq2seq(
        config, tokenizer, splits, (validation.sources, validation.references), metric_fn,
        model_dir, export_dir=export_dir, strategy=strategy, output_key=OUTPUT_KEY,
        export_decoding=export_decoding,
        metadata={"app": APP_NAME, "config": os.path.basename(config_path),
                  "dataset": data.dataset, "language": data.language,
                  "init_from_bert": config.task.model.init_from_bert,
                  "first_sentence_baseline": baseline},
        extra_summary={"first_sentence_baseline": baseline})
    seq2seq_cli.print_train_summary(APP_NAME, model_dir, summary,
                                    extra={"first_sentence_baseline": baseline})


if __name__ == "__main__":
    app.run(main, argv=normalize_argv(sys.argv))
