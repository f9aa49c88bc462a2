"""TensorFlow Datasets by name, read into the same containers as the file readers.

Only datasets already prepared in the TFDS data directory are read (there is no
network here): `download=False`, and a clear `DataError` says how to prepare
one that is missing. Text datasets need their text feature and a `ClassLabel`
label (`glue/sst2`: `sentence`, `label`); tagging datasets a `tokens` sequence
and a `ClassLabel` tag sequence (`conll2003`: `tokens`, `ner`).

Example:
>>> sentences = load_tfds_sentences("glue/sst2", "validation")
>>> tagged = load_tfds_tagged("conll2003", "validation")
>>> sources, targets = load_tfds_text_pairs("wmt14_translate/de-en", "validation", "en", "de")
"""

from bertlab.data.readers import DataError, LabeledSentences, TaggedSentences

TFDS_PREFIX = "tfds:"


def is_tfds_source(source):
    """Whether a data source string names a TFDS dataset (`tfds:glue/sst2`)."""
    return isinstance(source, str) and source.startswith(TFDS_PREFIX)


def _load(name, split, data_dir):
    try:
        # deferred: tensorflow_datasets takes seconds to import; only tfds: sources need it
        import tensorflow_datasets as tfds
    except ImportError as e:  # pragma: no cover - tfds is a dependency
        raise DataError(f"TFDS dataset {name!r} requested but tensorflow_datasets is not "
                        f"installed: {e}") from e
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as e:  # tfds raises its own DatasetNotFoundError types
        raise DataError(f"Unknown TFDS dataset {name!r}: {e}") from e
    if not builder.is_prepared():
        raise DataError(
            f"TFDS dataset {name!r} is not prepared in {builder.data_dir!r} (no download "
            f"here). Prepare it where a network is available with `tfds build {name}` and "
            f"copy the data directory, or use local files.")
    if split not in builder.info.splits:
        raise DataError(f"TFDS dataset {name!r} has no split {split!r}; it has "
                        f"{sorted(builder.info.splits)}.")
    return builder, builder.as_dataset(split=split, shuffle_files=False)


def _require_features(name, builder, *keys):
    features = builder.info.features
    for key in keys:
        if key not in features:
            raise DataError(f"TFDS dataset {name!r} has no feature {key!r}; it has "
                            f"{sorted(features.keys())}.")
    return features


def load_tfds_sentences(name, split, data_dir=None, text_feature="sentence",
                        label_feature="label"):
    """Reads a prepared TFDS text-classification dataset.

    Returns:
      `LabeledSentences` with labels as the `ClassLabel` names (for
      `glue/sst2`: "0"/"1" are not used; the names are `negative`/`positive`),
      so they can be mapped to a task's class names. Examples labelled -1
      (GLUE test sets) are an error.
    """
    builder, dataset = _load(name, split, data_dir)
    features = _require_features(name, builder, text_feature, label_feature)
    names = features[label_feature].names
    texts, labels = [], []
    for example in dataset.as_numpy_iterator():
        label = int(example[label_feature])
        if label < 0:
            raise DataError(f"TFDS dataset {name!r} split {split!r} is unlabelled.")
        texts.append(example[text_feature].decode("utf-8"))
        labels.append(names[label])
    return LabeledSentences(texts, labels)


def load_tfds_tagged(name, split, data_dir=None, tokens_feature="tokens", tags_feature="ner"):
    """Reads a prepared TFDS tagging dataset into `TaggedSentences` (tag names)."""
    builder, dataset = _load(name, split, data_dir)
    features = _require_features(name, builder, tokens_feature, tags_feature)
    names = features[tags_feature].feature.names
    tokens, tags = [], []
    for example in dataset.as_numpy_iterator():
        words = [w.decode("utf-8") for w in example[tokens_feature]]
        if not words:
            continue
        tokens.append(words)
        tags.append([names[int(t)] for t in example[tags_feature]])
    return TaggedSentences(tokens, tags)


def load_tfds_text_pairs(name, split, source_feature, target_feature, data_dir=None):
    """Reads a prepared TFDS dataset of text pairs (translation: `en`/`de`;
    summarization: `source`/`target` features) as two lists of `str`."""
    builder, dataset = _load(name, split, data_dir)
    _require_features(name, builder, source_feature, target_feature)
    sources, targets = [], []
    for example in dataset.as_numpy_iterator():
        sources.append(example[source_feature].decode("utf-8"))
        targets.append(example[target_feature].decode("utf-8"))
    return sources, targets
