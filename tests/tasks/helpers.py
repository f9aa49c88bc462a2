"""Helpers shared by the task tests (and the training tests that train a task)."""

from bertlab.tasks.seq2seq import Seq2SeqModelConfig, Seq2SeqTaskConfig


def tiny_seq2seq_config(**task):
    """A `Seq2SeqTaskConfig` of a 1+1-layer, 32-wide Transformer."""
    model = Seq2SeqModelConfig(num_encoder_layers=1, num_decoder_layers=1, hidden_dim=32,
                               num_heads=2, intermediate_dim=64)
    return Seq2SeqTaskConfig(model=model, **task)
