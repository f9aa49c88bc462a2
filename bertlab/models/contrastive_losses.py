"""Contrastive losses of a sentence embedder: in-batch negatives and CoSENT.

- `multiple_negatives_ranking_loss_sum`: (query, positive) pairs; each query's
  positive must outscore every other positive of the batch (and any hard
  negatives): cross-entropy over `scale * cosine(query, candidates)`
  (Henderson et al., 2017; sentence-transformers' MultipleNegativesRankingLoss).
- `cosent_loss_sum`: scored pairs (STS); every pair with a higher gold score
  must get a higher cosine than every pair with a lower one:
  `log(1 + sum_{y_i > y_j} exp(scale * (cos_j - cos_i)))` (Su, 2022;
  sentence-transformers' CoSENTLoss).

Both follow the loss contract of bertlab's runner (`bertlab.training.Task`):
they return `(loss_sum, weight_sum)` float32 scalars for the local batch, and
the runner divides the all-reduced sums.

Under a multi-replica strategy (called inside `strategy.run`) the batch is the
GLOBAL batch, as on one device: the candidates (positives, hard negatives) and
the CoSENT scores are gathered from every replica with
`ReplicaContext.all_gather`, whose gradient flows back to the replica that
produced each row, so a mirrored step equals a one-device step on the same
global batch, loss and gradients (tests/models/test_contrastive_losses.py).
More replicas therefore mean more negatives, as with a larger batch. Gradient
accumulation does not do this: an accumulated micro-batch sees only its own
negatives.

Example:
>>> loss_sum, count = multiple_negatives_ranking_loss_sum(embedder(queries), embedder(positives))
>>> float(loss_sum / count)  # the mean cross-entropy over the (global) batch
"""

import tensorflow as tf

DEFAULT_SCALE = 20.0  # sentence-transformers' default for both losses


def _unit(x):
    return tf.math.l2_normalize(tf.cast(x, tf.float32), axis=-1, epsilon=1e-12)


def _replica_context():
    """The replica context when running in one of several replicas, else None."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return None
    return context


def _gather_rows(context, x):
    """`x` `[n, ...]` of every replica, concatenated in replica order, and the offset
    of this replica's first row (replicas may hold different numbers of rows)."""
    if context is None:
        return x, 0
    sizes = context.all_gather(tf.shape(x)[:1], axis=0)
    offset = tf.reduce_sum(sizes[:context.replica_id_in_sync_group])
    return context.all_gather(x, axis=0), offset


def multiple_negatives_ranking_loss_sum(query_embeddings, positive_embeddings,
                                        negative_embeddings=None, scale=DEFAULT_SCALE):
    """In-batch negatives: `(sum of per-query cross-entropy, number of queries)`.

    Args:
      query_embeddings: `[batch, dim]` (normalized here; any scale).
      positive_embeddings: `[batch, dim]`, row i the positive of query i.
      negative_embeddings: optional `[batch, dim]` hard negatives (row i one of
        query i's, but every query scores every negative, as sentence-
        transformers does).
      scale: the inverse temperature applied to the cosine similarities.

    Returns:
      float32 scalars `(loss_sum, weight_sum)`. Query i's logits are
      `scale * cos(q_i, c)` over the candidates c = the positives of the global
      batch (then the hard negatives); its label is its own positive's row in
      the global batch (offset by the rows of the replicas before it).
    """
    queries = _unit(query_embeddings)
    context = _replica_context()
    candidates, offset = _gather_rows(context, _unit(positive_embeddings))
    if negative_embeddings is not None:
        negatives, _ = _gather_rows(context, _unit(negative_embeddings))
        candidates = tf.concat([candidates, negatives], axis=0)
    logits = float(scale) * tf.matmul(queries, candidates, transpose_b=True)
    labels = offset + tf.range(tf.shape(queries)[0])
    losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return tf.reduce_sum(losses), tf.cast(tf.shape(queries)[0], tf.float32)


def cosent_loss_sum(embeddings_a, embeddings_b, scores, scale=DEFAULT_SCALE):
    """CoSENT on scored pairs: `(loss * batch, batch)` so that the runner's
    `sum / sum` gives the loss of the global batch.

    Args:
      embeddings_a, embeddings_b: `[batch, dim]`, the two sides of each pair.
      scores: `[batch]` gold similarities (any scale: only their order counts).
      scale: the inverse temperature applied to the cosine similarities.

    Returns:
      float32 scalars `(loss_sum, weight_sum)`. The loss is one log-sum-exp over
      every ordered pair of pairs of the global batch, so it is not a sum of
      per-example terms: each replica computes it from the gathered cosines
      and scores, and weights it by its own number of pairs (the sum over
      replicas is then the global loss times the global batch). A batch with
      all scores equal has loss log(1) = 0.
    """
    cosines = tf.reduce_sum(_unit(embeddings_a) * _unit(embeddings_b), axis=-1)
    labels = tf.reshape(tf.cast(scores, tf.float32), [-1])
    count = tf.cast(tf.shape(cosines)[0], tf.float32)
    context = _replica_context()
    cosines, _ = _gather_rows(context, cosines)
    labels, _ = _gather_rows(context, labels)
    scaled = float(scale) * cosines
    # differences[i, j] = s_j - s_i, counted where pair i should rank above pair j.
    differences = scaled[None, :] - scaled[:, None]
    # (Masked by a large negative, not `boolean_mask`: static shapes, so XLA compiles it.)
    ordered = labels[:, None] > labels[None, :]
    terms = tf.reshape(tf.where(ordered, differences, -1e12), [-1])
    loss = tf.reduce_logsumexp(tf.concat([tf.zeros([1]), terms], axis=0))
    return loss * count, count
