"""`tf.distribute` strategies by name, and who among the workers writes files.

Names:
- "default": one device (the first GPU if there is one, else the CPU).
- "mirrored": synchronous data parallelism over all local GPUs (or the given
  `devices`, e.g. two logical CPUs in tests); the CPU when there is no GPU.
- "multi_worker": `MultiWorkerMirroredStrategy` over the cluster described by
  the `TF_CONFIG` environment variable (every worker runs the same command).
- "tpu": `TPUStrategy` on the TPU named by `tpu_address` ("" or "local" for a
  TPU VM, a name or a grpc:// address otherwise).

Example:
>>> strategy = build_strategy("default")
>>> strategy.num_replicas_in_sync
1
"""

import json
import os

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def _first_device():
    gpus = tf.config.list_logical_devices("GPU")
    return gpus[0].name if gpus else "/cpu:0"


def _multi_worker_strategy():
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ValueError(
            "strategy 'multi_worker' needs the TF_CONFIG environment variable "
            "(cluster spec and this worker's task), e.g. "
            '{"cluster": {"worker": ["host1:port", "host2:port"]}, '
            '"task": {"type": "worker", "index": 0}}.')
    try:
        tf_config = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ValueError(f"TF_CONFIG is not valid JSON: {e}") from None
    if not isinstance(tf_config, dict) or "cluster" not in tf_config or "task" not in tf_config:
        raise ValueError(f"TF_CONFIG must hold 'cluster' and 'task', got {raw!r}.")
    return tf.distribute.MultiWorkerMirroredStrategy()


def _tpu_strategy(tpu_address):
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address or "")
        if tpu_address not in (None, "", "local"):
            tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
        raise ValueError(f"Could not reach the TPU {tpu_address!r} (--tpu): {e}") from e
    return tf.distribute.TPUStrategy(resolver)


def build_strategy(name, tpu_address=None, devices=None):
    """Returns the `tf.distribute.Strategy` called `name` (one of `STRATEGIES`).

    Args:
        name: "default", "mirrored", "multi_worker" or "tpu".
        tpu_address: the TPU for "tpu" (`--tpu`); ignored otherwise.
        devices: optional list of devices for "mirrored" ("/cpu:0", "/gpu:1").

    Raises:
        ValueError: an unknown name, or a strategy that cannot start here
            (no TF_CONFIG for "multi_worker", no TPU for "tpu").
    """
    if name == "default":
        return tf.distribute.OneDeviceStrategy(_first_device())
    if name == "mirrored":
        return tf.distribute.MirroredStrategy(devices=list(devices) if devices else None)
    if name == "multi_worker":
        return _multi_worker_strategy()
    if name == "tpu":
        return _tpu_strategy(tpu_address)
    raise ValueError(f"Unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}.")


def worker_id(strategy):
    """This worker's index in the cluster (0 on a single machine)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    task_id = getattr(resolver, "task_id", None) if resolver is not None else None
    return int(task_id or 0)


def num_workers(strategy):
    """Worker processes of a `MultiWorkerMirroredStrategy` cluster (1 for every other
    strategy: one program drives all the replicas, TPU hosts included)."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return 1
    resolver = strategy.cluster_resolver
    jobs = resolver.cluster_spec().as_dict() if resolver is not None else {}
    return max(1, sum(len(jobs.get(job, ())) for job in ("chief", "worker")))


def is_chief(strategy):
    """Whether this worker writes checkpoints, TensorBoard logs and `summary.json`."""
    return bool(strategy.extended.should_checkpoint)
