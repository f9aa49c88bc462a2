"""Shared pretraining fixtures: pretraining data created from the WikiText-2 slice and its
vocabulary (`wikitext_file`, `vocab_file`: tests/conftest.py)."""

import pytest

from tests.pretraining.helpers import make_data


@pytest.fixture(scope="session")
def pretraining_files(wikitext_file, vocab_file, tmp_path_factory):
    """(prefix, stats, examples) with BERT's default masking, 2 shards."""
    return make_data(wikitext_file, vocab_file, tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def whole_word_files(wikitext_file, vocab_file, tmp_path_factory):
    return make_data(wikitext_file, vocab_file, tmp_path_factory.mktemp("wwm"),
                     whole_word_mask=True, max_seq_length=64, num_shards=1)
