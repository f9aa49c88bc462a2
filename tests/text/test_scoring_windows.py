"""scoring_windows: every target of a sequence is scored exactly once, with its true
previous tokens as context, whatever the length, window and stride."""

import numpy as np
import pytest
import tensorflow as tf

from bertlab.text.scoring_windows import num_scoring_windows, scoring_windows


def test_the_documented_example():
    w = scoring_windows(tf.range(11), window_length=4, stride=2)
    np.testing.assert_array_equal(w.token_ids, [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7],
                                                [6, 7, 8, 9]])
    np.testing.assert_array_equal(w.labels, np.array(w.token_ids) + 1)
    np.testing.assert_array_equal(w.weights, [[1, 1, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1],
                                              [0, 0, 1, 1]])


@pytest.mark.parametrize("n", [1, 2, 5, 8, 9, 10, 33, 64])
@pytest.mark.parametrize("window_length, stride", [(8, 8), (8, 3), (8, 1), (1, 1), (5, 4)])
def test_every_target_is_scored_exactly_once(n, window_length, stride):
    ids = np.arange(100, 100 + n)
    w = scoring_windows(ids, window_length, stride, pad_id=0)
    inputs, mask = np.asarray(w.token_ids), np.asarray(w.padding_mask)
    labels, weights = np.asarray(w.labels), np.asarray(w.weights)
    assert inputs.shape == labels.shape == weights.shape == (
        int(num_scoring_windows(n - 1, window_length, stride)), window_length)
    scored = labels[weights == 1]
    np.testing.assert_array_equal(np.sort(scored), ids[1:])  # each target once
    # A scored label is the token after its input, and that input is real.
    assert (labels[weights == 1] == inputs[weights == 1] + 1).all()
    assert (mask[weights == 1] == 1).all()
    np.testing.assert_array_equal(mask, inputs != 0)
    # After the first window, every scored token has >= window_length - stride context.
    columns = np.nonzero(weights[1:])[1]
    assert (columns >= window_length - stride).all()


def test_windows_in_a_graph_and_bad_arguments():
    windows = tf.function(lambda ids: scoring_windows(ids, 4, 2).weights,
                          input_signature=[tf.TensorSpec([None], tf.int32)])
    assert windows(tf.range(11)).shape == (4, 4)
    assert float(tf.reduce_sum(windows(tf.range(1)))) == 0.0  # nothing to score
    with pytest.raises(ValueError, match="stride"):
        scoring_windows(tf.range(5), 4, 5)
    with pytest.raises(ValueError, match="window_length"):
        scoring_windows(tf.range(5), 0, 1)
