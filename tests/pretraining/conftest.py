"""Shared pretraining fixtures: a small real-text slice (WikiText-2 valid), a
vocabulary learned from it, and pretraining data created from it."""

import pytest

from bertlab.pretraining import corpus
from bertlab.text import vocabulary_learning
from bertlab.text import save_vocabulary
from tests.pretraining.helpers import make_data

SLICE_LINES = 400  # the first 6 WikiText-2 validation articles, ~22k words


@pytest.fixture(scope="session")
def wikitext_file(data_dir, tmp_path_factory):
    lines = (data_dir / "wikitext2" / "valid.txt").read_text(encoding="utf-8").splitlines()
    path = tmp_path_factory.mktemp("corpus") / "wiki.txt"
    path.write_text("\n".join(lines[:SLICE_LINES]) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def wikitext_sentences(wikitext_file):
    return [s for doc in corpus.read_documents([str(wikitext_file)], "wikitext") for s in doc]


@pytest.fixture(scope="session")
def vocab_file(wikitext_sentences, tmp_path_factory):
    tokens = vocabulary_learning.learn_vocabulary_from_lines(wikitext_sentences, vocab_size=1000)
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    save_vocabulary(tokens, str(path))
    return path


@pytest.fixture(scope="session")
def pretraining_files(wikitext_file, vocab_file, tmp_path_factory):
    """(prefix, stats, examples) with BERT's default masking, 2 shards."""
    return make_data(wikitext_file, vocab_file, tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="session")
def whole_word_files(wikitext_file, vocab_file, tmp_path_factory):
    return make_data(wikitext_file, vocab_file, tmp_path_factory.mktemp("wwm"),
                     whole_word_mask=True, max_seq_length=64, num_shards=1)
