"""LanguageModelingTask on the one runner: packed training batches, validation equal to
whole-document scoring (perplexity and bits per character), training lowers it, the export
holds what `--init` reads back, and a mismatched model is refused."""

import math

import numpy as np
import pytest

from bertlab.data.text_packing import tokenize_documents
from bertlab.decoding import DecodingConfig
from bertlab.models import score_documents
from bertlab.tasks.language_modeling import (LanguageModelConfig, LanguageModelingConfig,
                                             LanguageModelingTask, load_trained_language_model)
from bertlab.training import OptimizerConfig, Trainer, TrainerConfig


def _task(lm_tokenizer, gutenberg_slices, init_model=None, **config):
    config = LanguageModelingConfig(
        model=LanguageModelConfig(preset="tiny", num_layers=1, hidden_dim=32, num_heads=2,
                                  intermediate_dim=64, max_sequence_length=32, dropout=0.0),
        sequence_length=32, score_stride=16, shuffle_buffer=64, validation_batch_size=16,
        **config)
    return LanguageModelingTask(config, lm_tokenizer, gutenberg_slices[:2], gutenberg_slices[2:],
                                global_batch_size=8,
                                decoding=DecodingConfig(method="greedy", max_length=8),
                                init_model=init_model)


def test_training_batches_are_packed_next_token_pairs(lm_tokenizer, gutenberg_slices):
    task = _task(lm_tokenizer, gutenberg_slices)
    features, labels = next(iter(task.build_dataset("train")))
    ids, targets = features["token_ids"].numpy(), labels["labels"].numpy()
    assert ids.shape == targets.shape == (8, 32)
    assert (features["padding_mask"].numpy() == 1).all()
    assert (labels["weights"].numpy() == 1.0).all()
    np.testing.assert_array_equal(ids[:, 1:], targets[:, :-1])


def test_validation_equals_whole_document_scoring_and_training_lowers_it(
        lm_tokenizer, gutenberg_slices, tmp_path):
    task = _task(lm_tokenizer, gutenberg_slices)
    trainer = Trainer(task, TrainerConfig(train_steps=30, global_batch_size=8, steps_per_loop=10,
                                          log_interval=10, checkpoint_interval=30,
                                          eval_at_end=False),
                      OptimizerConfig(learning_rate=3e-3, warmup_steps=2), str(tmp_path / "run"))
    before = trainer.evaluate("validation")
    expected = score_documents(task.model, tokenize_documents(gutenberg_slices[2:], lm_tokenizer),
                               lm_tokenizer.end_token_id, stride=16, window_length=32)
    assert before["tokens"] == expected.num_tokens
    assert before["perplexity"] == pytest.approx(expected.perplexity, rel=1e-4)
    assert before["bits_per_character"] == pytest.approx(expected.bits_per_character, rel=1e-4)
    assert before["loss"] == pytest.approx(math.log(expected.perplexity), rel=1e-4)
    trainer.train()
    after = trainer.evaluate("validation")
    assert after["bits_per_character"] < 0.9 * before["bits_per_character"]
    trainer.close()

    # The export holds the Keras and SentencePiece models that `--init` reads back.
    export = tmp_path / "export"
    export.mkdir()
    metadata = task.export(task.model, str(export))
    assert metadata["context_window"] == 32 and metadata["score_stride"] == 16
    model, tokenizer = load_trained_language_model(str(export))
    assert tokenizer.vocabulary_size == lm_tokenizer.vocabulary_size
    for got, want in zip(model.get_weights(), task.model.get_weights()):
        np.testing.assert_array_equal(got, want)
    continued = _task(lm_tokenizer, gutenberg_slices, init_model=model)
    rebuilt = continued.build_model()
    assert rebuilt is not model and rebuilt.count_params() == model.count_params()
    for got, want in zip(rebuilt.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_mismatches_are_refused(lm_tokenizer, gutenberg_slices, tmp_path):
    from bertlab.models import TransformerLanguageModel

    small = TransformerLanguageModel(50, 1, 16, 2, 32, max_sequence_length=16)
    with pytest.raises(ValueError, match="do not belong together"):
        _task(lm_tokenizer, gutenberg_slices, init_model=small)
    with pytest.raises(ValueError, match="sequence_length"):
        LanguageModelingConfig(sequence_length=512)
    with pytest.raises(ValueError, match="preset"):
        LanguageModelConfig(preset="huge")
    with pytest.raises(FileNotFoundError, match="not found"):
        load_trained_language_model(str(tmp_path / "none"))
