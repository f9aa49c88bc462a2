"""Mirrored (two logical CPUs) and multi-worker (two processes on 127.0.0.1) runs
follow the one-device run on the same global batch."""

import json
import os

import numpy as np

import training_subprocesses as subprocesses
from bertlab.training.configs import OptimizerConfig
from test_trainer import read_scalars, train
from training_subprocesses import load_weights

# Clipping active (gradient norms are ~1) and a large epsilon: Adam is then not
# invariant to the gradient's scale, so a wrongly summed or clipped-per-replica
# gradient would change the trajectory.
COMMON = {"train_steps": 5, "steps_per_loop": 2, "clipnorm": 0.5, "epsilon": 0.05,
          "learning_rate": 0.05}
TWO_CPUS = ["/cpu:0", "/cpu:1"]


def test_multi_worker_two_processes(tmp_path):
    ports = [subprocesses.free_port() for _ in range(2)]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    spec = dict(COMMON, model_dir=str(tmp_path / "cluster"), strategy="multi_worker",
                train_steps=4, checkpoint_interval=2, eval_at_end=True)
    processes = []
    try:
        for index in range(2):
            tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
            processes.append(subprocesses.start([spec], TF_CONFIG=tf_config,
                                                TOY_WORKER_INDEX=index))
        results = [subprocesses.finish(p, timeout=150) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    for returncode, output in results:
        assert returncode == 0, output[-3000:]
        assert "STEPS 4" in output

    cluster_dir = tmp_path / "cluster"
    worker0 = load_weights(cluster_dir / "weights0.npz")
    worker1 = load_weights(cluster_dir / "weights1.npz")
    for key in worker0:
        np.testing.assert_array_equal(worker0[key], worker1[key], err_msg=key)
    summary = json.loads((cluster_dir / "summary.json").read_text())
    assert summary["num_replicas"] == 2 and summary["steps"] == 4
    assert summary["final_eval"]["loss"] > 0
    assert os.path.basename(summary["latest_checkpoint"]) == "ckpt-4"
    assert not (cluster_dir / "_worker_scratch").exists()

    # The same global batches on one device (in this process) end at the same weights.
    trainer, _, _ = train(str(tmp_path / "one"), steps=4, batch=16, seed=7,
                          optimizer=OptimizerConfig(learning_rate=0.05, warmup_steps=2,
                                                    clipnorm=0.5, epsilon=0.05))
    for variable in trainer.model.weights:
        np.testing.assert_allclose(worker0[variable.path], variable.numpy(), rtol=1e-5, atol=1e-6,
                                   err_msg=variable.path)


MIRRORED_RUNS = {
    "one": {"strategy": "default", "batch": 16},
    "mirrored": {"strategy": "mirrored", "devices": TWO_CPUS, "batch": 16},
    "mirrored_acc": {"strategy": "mirrored", "devices": TWO_CPUS, "batch": 8, "accumulation": 2},
    "mirrored_fp16": {"strategy": "mirrored", "devices": TWO_CPUS, "batch": 16,
                      "mixed_precision": "mixed_float16"},
}


def test_mirrored_follows_one_device(tmp_path):
    root = tmp_path
    subprocesses.run([dict(COMMON, model_dir=str(root / name), **spec)
                      for name, spec in MIRRORED_RUNS.items()], logical_cpus=2, timeout=150)
    reference = load_weights(root / "one" / "weights.npz")
    reference_loss = read_scalars(str(root / "one" / "train"))["loss"]
    assert sorted(reference_loss) == [1, 2, 3, 4, 5]
    for name in ("mirrored", "mirrored_acc"):
        summary = json.loads((root / name / "summary.json").read_text())
        assert summary["num_replicas"] == 2 and summary["strategy"] == "MirroredStrategy"
        losses = read_scalars(str(root / name / "train"))["loss"]
        for step, loss in reference_loss.items():
            np.testing.assert_allclose(losses[step], loss, rtol=1e-5, err_msg=f"{name} {step}")
        got = load_weights(root / name / "weights.npz")
        for key, value in reference.items():
            np.testing.assert_allclose(got[key], value, rtol=1e-5, atol=1e-6, err_msg=key)
    # float16 with loss scaling under MirroredStrategy: no step skipped, same trajectory
    # within float16's precision.
    fp16 = read_scalars(str(root / "mirrored_fp16" / "train"))
    assert fp16["loss_scale"][5] == 2.0**15
    for step, loss in reference_loss.items():
        np.testing.assert_allclose(fp16["loss"][step], loss, rtol=1e-2, err_msg=f"fp16 {step}")
