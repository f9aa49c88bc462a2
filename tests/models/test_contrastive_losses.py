"""Contrastive losses against NumPy, and under MirroredStrategy over two logical CPUs
against one device on the same global batch (loss and gradients)."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from bertlab.models.contrastive_losses import cosent_loss_sum, multiple_negatives_ranking_loss_sum

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
RNG = np.random.default_rng(0)
BATCH, DIM = 8, 16
QUERIES = RNG.normal(size=(BATCH, DIM)).astype("float32")
POSITIVES = (QUERIES + RNG.normal(size=(BATCH, DIM))).astype("float32")
NEGATIVES = RNG.normal(size=(BATCH, DIM)).astype("float32")
SCORES = np.array([4.5, 1.0, 3.2, 0.0, 1.0, 5.0, 2.4, 3.8], "float32")


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def ranking_reference(queries, positives, negatives=None, scale=20.0):
    """Mean cross-entropy of query i against candidate i among all candidates."""
    candidates = positives if negatives is None else np.concatenate([positives, negatives])
    logits = scale * _unit(queries).astype(np.float64) @ _unit(candidates).T
    logits -= logits.max(-1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    return -np.mean(np.diag(log_probs[:, :len(queries)]))


def cosent_reference(a, b, scores, scale=20.0):
    """log(1 + sum over pairs i, j with scores[i] > scores[j] of exp(s_j - s_i)), by loops."""
    s = scale * np.sum(_unit(a).astype(np.float64) * _unit(b), -1)
    terms = [s[j] - s[i] for i in range(len(s)) for j in range(len(s)) if scores[i] > scores[j]]
    return float(np.log1p(np.sum(np.exp(terms))))


@pytest.mark.parametrize("negatives", [None, NEGATIVES])
def test_ranking_loss_matches_numpy(negatives):
    loss_sum, count = multiple_negatives_ranking_loss_sum(QUERIES, POSITIVES, negatives)
    assert float(count) == BATCH and loss_sum.dtype == tf.float32
    assert float(loss_sum / count) == pytest.approx(
        ranking_reference(QUERIES, POSITIVES, negatives), rel=1e-5)
    # Embeddings need not be normalized; a smaller scale is a softer distribution.
    loss_sum_5, _ = multiple_negatives_ranking_loss_sum(3 * QUERIES, POSITIVES, negatives, 5.0)
    assert float(loss_sum_5) / BATCH == pytest.approx(
        ranking_reference(QUERIES, POSITIVES, negatives, 5.0), rel=1e-5)


def test_ranking_loss_is_low_for_matching_pairs():
    loss_sum, count = multiple_negatives_ranking_loss_sum(QUERIES, QUERIES)
    assert float(loss_sum / count) < 0.05


def test_cosent_loss_matches_numpy():
    loss_sum, count = cosent_loss_sum(QUERIES, POSITIVES, SCORES)
    assert float(count) == BATCH
    assert float(loss_sum / count) == pytest.approx(
        cosent_reference(QUERIES, POSITIVES, SCORES), rel=1e-5)
    # Only the order of the scores counts.
    rescaled, _ = cosent_loss_sum(QUERIES, POSITIVES, SCORES / 5.0 - 1.0)
    assert float(rescaled) == pytest.approx(float(loss_sum), rel=1e-6)
    # No ordered pair: log(1) = 0.
    flat, _ = cosent_loss_sum(QUERIES, POSITIVES, np.ones(BATCH, "float32"))
    assert float(flat) == 0.0


def test_losses_compile_with_xla():
    ranking = tf.function(multiple_negatives_ranking_loss_sum, jit_compile=True)
    cosent = tf.function(cosent_loss_sum, jit_compile=True)
    np.testing.assert_allclose(ranking(QUERIES, POSITIVES, NEGATIVES),
                               multiple_negatives_ranking_loss_sum(QUERIES, POSITIVES, NEGATIVES),
                               rtol=1e-5)
    np.testing.assert_allclose(cosent(QUERIES, POSITIVES, SCORES),
                               cosent_loss_sum(QUERIES, POSITIVES, SCORES), rtol=1e-5)


MIRRORED = """
import json, sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from bertlab.models.contrastive_losses import cosent_loss_sum, multiple_negatives_ranking_loss_sum
data = np.load(sys.argv[1])
q, p, n, scores = (tf.constant(data[k]) for k in ("q", "p", "n", "scores"))

def ranking(q, p, n, scores):
    return multiple_negatives_ranking_loss_sum(q, p, n)

def cosent(q, p, n, scores):
    return cosent_loss_sum(q, p, scores)

def with_gradients(loss_fn, q, p, n, scores):
    with tf.GradientTape() as tape:
        tape.watch([q, p, n])
        loss_sum, weight_sum = loss_fn(q, p, n, scores)
    return loss_sum, weight_sum, tape.gradient(loss_sum, [q, p, n],
                                               unconnected_gradients="zero")

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
results = {}
for split in (4, 5):  # rows on replica 0: an even and an uneven global batch
    def shard(context):
        rows = slice(0, split) if context.replica_id_in_sync_group == 0 else slice(split, None)
        return [t[rows] for t in (q, p, n, scores)]
    values = strategy.experimental_distribute_values_from_function(shard)
    for name, loss_fn in (("ranking", ranking), ("cosent", cosent)):
        step = tf.function(lambda *v: strategy.run(with_gradients, args=(loss_fn, *v)))
        loss_sum, weight_sum, grads = step(*values)
        local = lambda t: np.concatenate([x.numpy() for x in strategy.experimental_local_results(t)])
        one_sum, one_weight, one_grads = with_gradients(loss_fn, q, p, n, scores)
        results[f"{name}/{split}"] = {
            "mirrored": float(strategy.reduce("SUM", loss_sum, axis=None)
                              / strategy.reduce("SUM", weight_sum, axis=None)),
            "one_device": float(one_sum / one_weight),
            "gradient_difference": max(float(np.abs(local(g) - o.numpy()).max())
                                       for g, o in zip(grads, one_grads)),
            "gradient_scale": max(float(np.abs(o.numpy()).max()) for o in one_grads)}
print(json.dumps(results))
"""


def test_mirrored_loss_uses_the_global_batch(tmp_path):
    """Two replicas, 4+4 and 5+3 rows: the loss and every input gradient equal one
    device's on the full batch (which a per-replica loss with local negatives would not)."""
    data = tmp_path / "batch.npz"
    np.savez(data, q=QUERIES, p=POSITIVES, n=NEGATIVES, scores=SCORES)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", MIRRORED, str(data)], capture_output=True,
                            text=True, cwd=REPO_ROOT, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads(result.stdout.strip().splitlines()[-1])
    ranking = ranking_reference(QUERIES, POSITIVES, NEGATIVES)
    cosent = cosent_reference(QUERIES, POSITIVES, SCORES)
    for key, values in results.items():
        expected = ranking if key.startswith("ranking") else cosent
        assert values["mirrored"] == pytest.approx(expected, rel=1e-5), key
        assert values["one_device"] == pytest.approx(expected, rel=1e-5), key
        assert values["gradient_scale"] > 1e-3, key
        assert values["gradient_difference"] < 1e-5 * max(1.0, values["gradient_scale"]), key
    # With each replica's own negatives only, the ranking loss would be far lower (here
    # 0.014 against 0.063): the test tells a global from a local batch.
    local = np.mean([ranking_reference(QUERIES[s], POSITIVES[s], NEGATIVES[s])
                     for s in (slice(0, 4), slice(4, 8))])
    assert local < 0.5 * ranking
