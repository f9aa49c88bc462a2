"""The exponential moving average of the weights: its arithmetic, the swap, and the
trainer evaluating, checkpointing and resuming it."""

import numpy as np
import pytest
import tensorflow as tf

from test_trainer import numpy_loss, train, weights
from toy_task import ToyTask
from bertlab.training.configs import OptimizerConfig, TrainerConfig
from bertlab.training.trainer import Trainer
from bertlab.training.weight_average import WeightAverage


def test_update_follows_the_warmed_up_decay_and_swap_exchanges_values():
    a = tf.Variable([1.0, 2.0])
    b = tf.Variable([[3.0]])
    average = WeightAverage([a, b], decay=0.9)
    expected = [np.array([1.0, 2.0]), np.array([[3.0]])]
    rng = np.random.default_rng(0)
    for step in range(1, 40):
        new = [rng.normal(size=(2,)), rng.normal(size=(1, 1))]
        a.assign(new[0])
        b.assign(new[1])
        average.update(step)
        d = min(0.9, (1 + step) / (10 + step))  # 0.18 at step 1, 0.9 from step 80 on
        expected = [d * e + (1 - d) * n for e, n in zip(expected, new)]
    for shadow, e in zip(average.shadows, expected):
        np.testing.assert_allclose(shadow.numpy(), e, rtol=1e-5)

    raw = [a.numpy(), b.numpy()]
    with average.swapped():
        np.testing.assert_allclose(a.numpy(), expected[0], rtol=1e-5)
        with average.swapped():  # re-entrant: still the average
            np.testing.assert_allclose(b.numpy(), expected[1], rtol=1e-5)
        with pytest.raises(RuntimeError):
            average.reset()
    np.testing.assert_array_equal(a.numpy(), raw[0])
    np.testing.assert_array_equal(b.numpy(), raw[1])
    average.reset()
    np.testing.assert_array_equal(average.shadows[0].numpy(), raw[0])


def test_bad_decay_is_an_error():
    for decay in (0.0, 1.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="decay"):
            WeightAverage([tf.Variable(1.0)], decay)
    with pytest.raises(ValueError, match="weight_average_decay"):
        TrainerConfig(weight_average_decay=1.0)
    with pytest.raises(ValueError, match="at least one"):
        WeightAverage([], 0.9)


def test_trainer_evaluates_the_average_and_resumes_it(tmp_path):
    trainer, _, _ = train(str(tmp_path / "once"), steps=6, weight_average_decay=0.8)
    raw = weights(trainer)
    averaged = [s.numpy() for s in trainer.weight_average.shadows]
    assert any(not np.allclose(r, a) for r, a in zip(raw, averaged))

    task = trainer.task
    vx, vy, vw = task.validation
    results = trainer.evaluate()
    for r, after in zip(raw, weights(trainer)):  # evaluation swaps back
        np.testing.assert_array_equal(r, after)
    for variable, value in zip(trainer.model.trainable_variables, averaged):
        variable.assign(value)
    np.testing.assert_allclose(results["loss"], numpy_loss(trainer.model, task, vx, vy, vw),
                               rtol=1e-5)
    trainer.close()

    # The checkpoint carries the average: a restarted run resumes it rather than
    # starting a new one from the restored weights.
    first, _, _ = train(str(tmp_path / "twice"), steps=3, weight_average_decay=0.8)
    saved = [s.numpy() for s in first.weight_average.shadows]
    first.close()
    config = TrainerConfig(train_steps=6, global_batch_size=16, weight_average_decay=0.8)
    restarted = Trainer(ToyTask(global_batch_size=16), config, OptimizerConfig(),
                        str(tmp_path / "twice"))
    assert restarted.restore() == 3
    for shadow, value in zip(restarted.weight_average.shadows, saved):
        np.testing.assert_array_equal(shadow.numpy(), value)
    assert any(not np.array_equal(v.numpy(), s) for v, s in
               zip(restarted.model.trainable_variables, saved))
    restarted.close()
