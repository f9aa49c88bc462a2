"""TFDS sources: names are recognised; a dataset that is not prepared fails clearly (no download)."""

import pytest

from bertlab.data import (DataError, is_tfds_source, load_tfds_sentences, load_tfds_tagged,
                          load_tfds_text_pairs)


def test_source_names():
    assert is_tfds_source("tfds:glue/sst2")
    assert not is_tfds_source("sst2/train.tsv")


def test_unprepared_and_unknown_datasets(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(DataError, match=r"'glue/sst2' is not prepared .*no download"):
        load_tfds_sentences("glue/sst2", "validation", data_dir=str(tmp_path))
    with pytest.raises(DataError, match=r"'conll2003' is not prepared"):
        load_tfds_tagged("conll2003", "validation", data_dir=str(tmp_path))
    with pytest.raises(DataError, match=r"'wmt14_translate/de-en' is not prepared"):
        load_tfds_text_pairs("wmt14_translate/de-en", "validation", "en", "de",
                             data_dir=str(tmp_path))
    with pytest.raises(DataError, match="Unknown TFDS dataset 'no_such_dataset_xyz'"):
        load_tfds_sentences("no_such_dataset_xyz", "train", data_dir=str(tmp_path))
