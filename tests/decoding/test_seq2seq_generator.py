"""DecodingConfig and Seq2SeqGenerator: bad settings are rejected, export overrides."""

import pytest

from bertlab.decoding import DecodingConfig, Seq2SeqGenerator, with_export_overrides
from tests.decoding.helpers import END, PAD, START


def test_bad_decoding_config():
    with pytest.raises(ValueError, match="method"):
        DecodingConfig(method="viterbi")
    with pytest.raises(ValueError, match="max_length"):
        DecodingConfig(max_length=0)
    with pytest.raises(ValueError, match="top_p"):
        DecodingConfig(top_p=1.5)


def test_generator_rejects_bad_ids_and_lengths(tiny_model):
    with pytest.raises(ValueError, match="end_token_id"):
        Seq2SeqGenerator(tiny_model, DecodingConfig(), START, 1000, PAD)
    with pytest.raises(ValueError, match="beam_width"):
        Seq2SeqGenerator(tiny_model, DecodingConfig(beam_width=30), START, END, PAD)


def test_export_overrides():
    config = DecodingConfig(beam_width=4, max_length=64, min_length=10)
    assert with_export_overrides(config, 1, None).method == "greedy"
    changed = with_export_overrides(config, 6, 8)
    assert (changed.beam_width, changed.max_length, changed.min_length) == (6, 8, 8)
    with pytest.raises(ValueError, match="beam width"):
        with_export_overrides(config, 0, None)
