"""tf.data input pipeline over pretraining TFRecords (google-research/bert features).

Reads the files written by `create_pretraining_data` (or google-research/bert,
or Model Garden) and yields `(features, labels)` batches for `BertPretrainer`:

| TFRecord feature       | yields                         | dtype, shape                |
|------------------------|--------------------------------|-----------------------------|
| `input_ids`            | features `token_ids`           | int32 `[batch, seq]`        |
| `segment_ids`          | features `segment_ids`         | int32 `[batch, seq]`        |
| `input_mask`           | features `padding_mask`        | int32 `[batch, seq]`        |
| `masked_lm_positions`  | features `masked_positions`    | int32 `[batch, predictions]`|
| `masked_lm_ids`        | labels `masked_lm_ids`         | int32 `[batch, predictions]`|
| `masked_lm_weights`    | labels `masked_lm_weights`     | float32 `[batch, predictions]`|
| `next_sentence_labels` | labels `next_sentence_labels`  | int32 `[batch]`             |

Training: files are sharded over input pipelines (`tf.distribute.InputContext`;
by record when there are fewer files than pipelines), shuffled, read
interleaved in parallel, records shuffled, repeated forever; everything is
seeded and `deterministic`, so a seed gives the same batches every run.
Evaluation: one ordered pass, the last partial batch kept.

Example:
>>> ds = build_pretraining_dataset("data/train-*.tfrecord", batch_size=32, is_training=True)
>>> features, labels = next(iter(ds))
>>> features["token_ids"].shape
TensorShape([32, 128])
"""

import tensorflow as tf

from bertlab.pretraining.corpus import CorpusError


def list_files(file_patterns):
    """Sorted files matching comma-separated glob(s); `CorpusError` when none do."""
    if isinstance(file_patterns, str):
        file_patterns = file_patterns.split(",")
    patterns = [p.strip() for p in file_patterns if p and p.strip()]
    if not patterns:
        raise CorpusError("No pretraining data file pattern given.")
    files = sorted({f for p in patterns for f in tf.io.gfile.glob(p)})
    if not files:
        raise CorpusError(f"No pretraining data files match {', '.join(patterns)}.")
    return files


def infer_lengths(path):
    """`(seq_length, max_predictions_per_seq)` from the first record of `path`."""
    for record in tf.data.TFRecordDataset(path).take(1):
        example = tf.train.Example.FromString(record.numpy())
        feature = example.features.feature
        missing = [n for n in ("input_ids", "masked_lm_positions") if n not in feature]
        if missing:
            raise CorpusError(f"{path} is not pretraining data: no {', '.join(missing)} feature.")
        return (len(feature["input_ids"].int64_list.value),
                len(feature["masked_lm_positions"].int64_list.value))
    raise CorpusError(f"Pretraining data file {path} is empty.")


def _feature_spec(seq_length, max_predictions_per_seq):
    seq = tf.io.FixedLenFeature([seq_length], tf.int64)
    pred = tf.io.FixedLenFeature([max_predictions_per_seq], tf.int64)
    return {
        "input_ids": seq, "input_mask": seq, "segment_ids": seq,
        "masked_lm_positions": pred, "masked_lm_ids": pred,
        "masked_lm_weights": tf.io.FixedLenFeature([max_predictions_per_seq], tf.float32),
        "next_sentence_labels": tf.io.FixedLenFeature([1], tf.int64),
    }


def _to_model_inputs(parsed):
    features = {
        "token_ids": tf.cast(parsed["input_ids"], tf.int32),
        "segment_ids": tf.cast(parsed["segment_ids"], tf.int32),
        "padding_mask": tf.cast(parsed["input_mask"], tf.int32),
        "masked_positions": tf.cast(parsed["masked_lm_positions"], tf.int32),
    }
    labels = {
        "masked_lm_ids": tf.cast(parsed["masked_lm_ids"], tf.int32),
        "masked_lm_weights": parsed["masked_lm_weights"],
        "next_sentence_labels": tf.cast(parsed["next_sentence_labels"][..., 0], tf.int32),
    }
    return features, labels


def build_pretraining_dataset(file_patterns, batch_size, is_training, seq_length=None,
                              max_predictions_per_seq=None, seed=0, input_context=None,
                              shuffle_buffer_size=10_000, cycle_length=8, drop_remainder=None):
    """`(features, labels)` batches from pretraining TFRecords (see module docstring).

    Args:
      file_patterns: comma-separated globs (or a list) of TFRecord files.
      batch_size: the global batch size; with `input_context`, each pipeline
        yields `input_context.get_per_replica_batch_size(batch_size)`.
      is_training: shuffle and repeat forever (else one ordered pass).
      seq_length, max_predictions_per_seq: feature lengths; read from the
        first record when None.
      seed: seeds file and record shuffling.
      input_context: a `tf.distribute.InputContext` (multi-worker sharding).
      shuffle_buffer_size: records in the shuffle buffer (training).
      cycle_length: files read in parallel.
      drop_remainder: defaults to `is_training` (static batch shapes).

    Raises:
      CorpusError: no file matches, or the first file is empty or not
        pretraining data.
    """
    files = list_files(file_patterns)
    if int(batch_size) < 1:
        raise ValueError(f"`batch_size` must be positive, got {batch_size}.")
    if seq_length is None or max_predictions_per_seq is None:
        inferred = infer_lengths(files[0])
        seq_length = inferred[0] if seq_length is None else seq_length
        max_predictions_per_seq = (inferred[1] if max_predictions_per_seq is None
                                   else max_predictions_per_seq)
    if drop_remainder is None:
        drop_remainder = is_training
    num_pipelines, pipeline_id = 1, 0
    if input_context is not None:
        batch_size = input_context.get_per_replica_batch_size(batch_size)
        num_pipelines = input_context.num_input_pipelines
        pipeline_id = input_context.input_pipeline_id
    shard_records = num_pipelines > 1 and len(files) < num_pipelines

    dataset = tf.data.Dataset.from_tensor_slices(tf.constant(files))
    if num_pipelines > 1 and not shard_records:
        dataset = dataset.shard(num_pipelines, pipeline_id)
    if is_training:
        dataset = dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
        dataset = dataset.repeat()
    dataset = dataset.interleave(
        tf.data.TFRecordDataset, cycle_length=min(cycle_length, len(files)),
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if shard_records:
        dataset = dataset.shard(num_pipelines, pipeline_id)
    if is_training:
        dataset = dataset.shuffle(shuffle_buffer_size, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    spec = _feature_spec(int(seq_length), int(max_predictions_per_seq))
    dataset = dataset.map(lambda records: _to_model_inputs(tf.io.parse_example(records, spec)),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    options = tf.data.Options()
    options.deterministic = True
    dataset = dataset.with_options(options)
    return dataset.prefetch(tf.data.AUTOTUNE)


def majority_token_baseline(file_patterns, max_records=None):
    """MLM accuracy of always predicting the most frequent masked token.

    The reference a trained model's `mlm_accuracy` must clearly beat. Counts
    weighted `masked_lm_ids` over the records of `file_patterns`.

    Returns `(accuracy, token_id)`.
    """
    files = list_files(file_patterns)
    seq_length, predictions = infer_lengths(files[0])
    spec = _feature_spec(seq_length, predictions)
    dataset = tf.data.TFRecordDataset(files)
    if max_records:
        dataset = dataset.take(max_records)
    counts = {}
    total = 0.0
    for batch in dataset.batch(1024).map(lambda r: tf.io.parse_example(r, spec)):
        ids = batch["masked_lm_ids"].numpy().ravel()
        weights = batch["masked_lm_weights"].numpy().ravel()
        for token_id, weight in zip(ids[weights > 0], weights[weights > 0]):
            counts[int(token_id)] = counts.get(int(token_id), 0.0) + float(weight)
        total += float(weights.sum())
    if not total:
        raise CorpusError(f"No masked positions in {', '.join(files)}.")
    token_id = max(counts, key=counts.get)
    return counts[token_id] / total, token_id
