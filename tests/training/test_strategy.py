"""build_strategy: names, and clear errors for unknown names or a missing cluster."""

import pytest
import tensorflow as tf

from bertlab.training.strategy import build_strategy, is_chief, worker_id


def test_default_is_one_chief_replica():
    strategy = build_strategy("default")
    assert isinstance(strategy, tf.distribute.OneDeviceStrategy)
    assert strategy.num_replicas_in_sync == 1
    assert is_chief(strategy) and worker_id(strategy) == 0


def test_mirrored_on_given_devices():
    strategy = build_strategy("mirrored", devices=["/cpu:0"])
    assert isinstance(strategy, tf.distribute.MirroredStrategy)
    assert strategy.num_replicas_in_sync == 1


def test_unknown_name_lists_choices():
    with pytest.raises(ValueError, match="'horovod'.*default, mirrored, multi_worker, tpu"):
        build_strategy("horovod")


def test_multi_worker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        build_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        build_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {}}')
    with pytest.raises(ValueError, match="'cluster' and 'task'"):
        build_strategy("multi_worker")


def test_tpu_without_tpu_is_a_clear_error():
    with pytest.raises(ValueError, match="TPU"):
        build_strategy("tpu", tpu_address="local")
