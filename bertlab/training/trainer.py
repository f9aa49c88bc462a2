"""`Trainer`: the one training loop of bertlab, for any `bertlab.training.task.Task`.

What it does, on every `tf.distribute` strategy (one device, mirrored,
multi-worker, TPU):
- builds the task's model, metrics and the optimizer inside `strategy.scope()`
  (under the mixed-precision policy, if any);
- feeds `task.build_dataset("train", input_context)` through
  `strategy.distribute_datasets_from_function`;
- runs `steps_per_loop` steps per `tf.function` call (traced once; the step
  count is a tensor; with XLA auto-clustering on, see `xla_fusion`, one step per
  call instead), each step a `strategy.run` of: forward and backward pass
  for each of `gradient_accumulation_steps` micro-batches (XLA-compiled with
  `jit_compile`), one all-reduce of the summed gradients and loss weights, then
  one optimizer update;
- checkpoints, evaluates, logs to TensorBoard and prints progress at the
  configured intervals, and writes `summary.json` at the end.

Loss normalization is global (see `task.py`): a step's loss is
`sum(loss_sum) / sum(weight_sum)` over all replicas and micro-batches, so a
mirrored, multi-worker or accumulated step equals a one-device step on the
same global batch. Each micro-batch's backward pass differentiates its locally
normalized loss `loss_sum / weight_sum` (a well-scaled number for float16 loss
scaling) and multiplies the gradient back by its `weight_sum`; the sums are
all-reduced once per step and divided by the global weight. Regularization
losses of the model (`model.losses`) are averaged over replicas and
micro-batches and added.

Resumption: checkpoints hold the model, the optimizer (with its iteration
counter, hence the learning-rate schedule), the step and the states of the
model's random generators (dropout masks). A restarted run
restores the latest one and skips the train batches already consumed
(`step * gradient_accumulation_steps` batches per replica; the task's train
split is deterministic), so it continues exactly where the checkpoint was made.
Skipping replays the input pipeline up to that point (reading and parsing, no
model work); it is used rather than checkpointing the iterator because it works
the same on every strategy, including multi-worker and TPU.

Preemption: while `train` runs, SIGTERM saves a checkpoint after the current
loop of `steps_per_loop` steps and ends the run with `TrainingPreempted` (a
`SystemExit` with status 143); the same command resumes from it (see
`bertlab.training.preemption`).

Example:
    trainer = Trainer(task, TrainerConfig(train_steps=1000), OptimizerConfig(), "/tmp/run")
    summary = trainer.train()          # also writes /tmp/run/summary.json
    print(trainer.evaluate())          # {"loss": ..., task metrics ...}
"""

import contextlib
import math
import os
import time

import keras
import tensorflow as tf
from absl import logging

from bertlab.training import optimization
from bertlab.training import strategy as strategy_lib
from bertlab.layers import xla_fusion
from bertlab.training.checkpointing import Checkpointer
from bertlab.training.configs import OptimizerConfig, TrainerConfig
from bertlab.training.preemption import PreemptionWatcher, TrainingPreempted, stop_requested
from bertlab.training.progress import Progress
from bertlab.training.summary import SUMMARY_FILE, SummaryWriters, write_json_atomic
from bertlab.training.task import Task
from bertlab.training.weight_average import WeightAverage

_NO_LIMIT = 2**31 - 1


@contextlib.contextmanager
def _dtype_policy(name):
    """Sets Keras' global dtype policy while the model is built, then restores it."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name or "float32")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _steps_to_boundary(step, interval):
    """Steps from `step` to the next multiple of `interval` (a large number if 0)."""
    if not interval:
        return _NO_LIMIT
    return interval - step % interval


def _seed_states(model):
    """The state variables of the model's random generators (`keras.random.SeedGenerator`
    of its dropout layers): a resumed run must go on with the masks an uninterrupted
    run would draw. Keras lists them among `non_trainable_variables`, not among the
    weights, and a `tf.train.Checkpoint` of the model does not reach them."""
    weights = {id(v) for v in model.weights}
    return [v for v in model.non_trainable_variables if id(v) not in weights]


def _dense(gradient):
    if isinstance(gradient, tf.IndexedSlices):
        return tf.convert_to_tensor(gradient)
    return gradient


def _add(total, values):
    return [v if t is None else (t if v is None else t + v) for t, v in zip(total, values)]


class Trainer:
    """Trains, evaluates and checkpoints a `Task`.

    Args:
        task: a `bertlab.training.task.Task`.
        config: a `TrainerConfig`.
        optimizer_config: an `OptimizerConfig`.
        model_dir: checkpoints, TensorBoard logs (`train/`, `validation/`) and
            `summary.json` go here.
        strategy: a `tf.distribute.Strategy` (default: one device).

    Attributes:
        model, optimizer, strategy, global_step (a tf.Variable), checkpointer.
    """

    def __init__(self, task, config, optimizer_config, model_dir, strategy=None):
        if not isinstance(task, Task):
            raise ValueError(
                f"`task` must be a bertlab.training.task.Task, got {type(task).__name__}.")
        if not isinstance(config, TrainerConfig):
            raise ValueError(f"`config` must be a TrainerConfig, got {type(config).__name__}.")
        if not isinstance(optimizer_config, OptimizerConfig):
            raise ValueError(
                "`optimizer_config` must be an OptimizerConfig, "
                f"got {type(optimizer_config).__name__}.")
        if not model_dir:
            raise ValueError(f"`model_dir` must name a folder, got {model_dir!r}.")
        task_batch = getattr(task, "global_batch_size", None)
        if task_batch is not None and task_batch != config.global_batch_size:
            raise ValueError(
                f"The task batches {task_batch} examples (task.global_batch_size) but "
                f"`global_batch_size` is {config.global_batch_size}; they must agree.")
        if config.xla_fusion:
            xla_fusion.enable_elementwise_fusion()
        self.task = task
        self.config = config
        self.optimizer_config = optimizer_config
        self.model_dir = model_dir
        self.strategy = strategy or strategy_lib.build_strategy("default")
        self.is_chief = strategy_lib.is_chief(self.strategy)
        self._accumulation = config.gradient_accumulation_steps

        keras.utils.set_random_seed(config.seed)
        with self.strategy.scope():
            with _dtype_policy(config.mixed_precision):
                self.model = task.build_model()
                self._ensure_built()
                self.train_metrics = list(task.build_train_metrics() or [])
                self.eval_metrics = list(task.build_metrics() or [])
            self.optimizer = optimization.build_optimizer(
                optimizer_config, config.train_steps, self.model.trainable_variables,
                config.mixed_precision)
            self.global_step = tf.Variable(
                0, dtype=tf.int64, trainable=False, name="global_step",
                aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
            self.weight_average = (
                WeightAverage(self.model.trainable_variables, config.weight_average_decay)
                if config.weight_average_decay else None)
            self._eval_loss_sum = keras.metrics.Sum(name="eval_loss_sum")
            self._eval_weight_sum = keras.metrics.Sum(name="eval_weight_sum")
        self._loss_scaled = isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer)
        # One replica, one micro-batch: the local weight is the global one, so the
        # gradient needs no scaling by weight_sum / total weight (two passes saved).
        self._one_contribution = (
            self.strategy.num_replicas_in_sync * self._accumulation == 1)

        tracked = {"model": self.model, "optimizer": self.optimizer, "step": self.global_step}
        if self.weight_average is not None:
            tracked["weight_average"] = self.weight_average.shadows
        seed_states = _seed_states(self.model)
        self.checkpointer = Checkpointer(model_dir, self.strategy, config.keep_checkpoints,
                                         optional={"rng": seed_states} if seed_states else None,
                                         **tracked)
        self._restored = False
        self.writers = SummaryWriters(model_dir, enabled=self.is_chief)
        if config.jit_compile:
            self._micro_step_fn = tf.function(self._micro_step, jit_compile=True)
            self._forward_fn = tf.function(self._forward, jit_compile=True)
        else:
            self._micro_step_fn = self._micro_step
            self._forward_fn = self._forward
        if xla_fusion.auto_clustering_enabled():
            self._train_step_fn = tf.function(self._train_step)
            self._train_loop_fn = self._train_steps_one_per_call
        else:
            self._train_loop_fn = tf.function(self._train_loop)
        self._eval_loop_fn = tf.function(self._eval_loop)

    # ----------------------------------------------------------------- building

    def _ensure_built(self):
        """Builds a model that has no variables yet on one train batch."""
        if self.model.trainable_variables:
            return
        features, _ = next(iter(self.task.build_dataset("train")))
        self.model(features, training=False)
        if not self.model.trainable_variables:
            raise ValueError("The task's model has no trainable variables.")

    def _train_dataset(self, start_step):
        accumulation = self._accumulation

        def dataset_fn(input_context):
            dataset = self.task.build_dataset("train", input_context)
            replicas_per_pipeline = max(
                1, input_context.num_replicas_in_sync // input_context.num_input_pipelines)
            consumed = start_step * accumulation * replicas_per_pipeline
            if consumed:
                dataset = dataset.skip(consumed)
            return dataset

        return self.strategy.distribute_datasets_from_function(dataset_fn)

    # --------------------------------------------------------------- train step

    def _forward(self, features):
        return self.model(features, training=False)

    def _micro_step(self, features, labels):
        """Forward and backward pass of one micro-batch on one replica.

        Returns `(outputs, loss_sum, weight_sum, reg_loss, grads, reg_grads)`:
        `grads` are the gradients of `loss_sum` (times the loss scale), i.e. of
        `loss_sum / weight_sum` multiplied back by `weight_sum` (not multiplied
        back when this micro-batch is the whole global batch: the step would
        divide by the same weight again).
        """
        variables = self.model.trainable_variables
        with tf.GradientTape(persistent=True) as tape:
            outputs = self.model(features, training=True)
            loss_sum, weight_sum = self.task.compute_loss(labels, outputs)
            loss_sum = tf.cast(loss_sum, tf.float32)
            weight_sum = tf.cast(weight_sum, tf.float32)
            safe_weight = tf.where(weight_sum > 0, weight_sum, tf.ones_like(weight_sum))
            target = loss_sum / safe_weight
            reg_losses = [tf.cast(loss, tf.float32) for loss in self.model.losses]
            reg_loss = tf.add_n(reg_losses) if reg_losses else None
            if self._loss_scaled:
                target = self.optimizer.scale_loss(target)
                if reg_loss is not None:
                    reg_target = self.optimizer.scale_loss(reg_loss)
            elif reg_loss is not None:
                reg_target = reg_loss
        grads = tape.gradient(target, variables)
        if self._one_contribution:
            grads = [None if g is None else _dense(g) for g in grads]
        else:
            grads = [None if g is None else _dense(g) * weight_sum for g in grads]
        if reg_loss is not None:
            reg_grads = [None if g is None else _dense(g)
                         for g in tape.gradient(reg_target, variables)]
        else:
            reg_grads = [None] * len(variables)
            reg_loss = tf.constant(0.0)
        del tape
        return outputs, loss_sum, weight_sum, reg_loss, grads, reg_grads

    def _replica_train_step(self, micro_batches):
        """One optimizer step on one replica over its micro-batches."""
        context = tf.distribute.get_replica_context()
        variables = self.model.trainable_variables
        grads = [None] * len(variables)
        reg_grads = [None] * len(variables)
        loss_sum = tf.constant(0.0)
        weight_sum = tf.constant(0.0)
        reg_loss = tf.constant(0.0)
        for features, labels in micro_batches:
            outputs, m_loss, m_weight, m_reg, m_grads, m_reg_grads = self._micro_step_fn(
                features, labels)
            if self.train_metrics:
                self.task.update_metrics(self.train_metrics, labels, outputs)
            grads = _add(grads, m_grads)
            reg_grads = _add(reg_grads, m_reg_grads)
            loss_sum += m_loss
            weight_sum += m_weight
            reg_loss += m_reg

        present = [i for i in range(len(variables))
                   if grads[i] is not None or reg_grads[i] is not None]
        has_reg = any(g is not None for g in reg_grads)

        def filled(values, i):
            return values[i] if values[i] is not None else tf.zeros_like(variables[i].value)

        to_reduce = {
            "grads": [filled(grads, i) for i in present],
            "stats": tf.stack([loss_sum, weight_sum, reg_loss]),
        }
        if has_reg:
            to_reduce["reg_grads"] = [filled(reg_grads, i) for i in present]
        if context.num_replicas_in_sync > 1:
            reduced = context.all_reduce(tf.distribute.ReduceOp.SUM, to_reduce)
        else:
            reduced = to_reduce
        total_loss, total_weight, total_reg = tf.unstack(reduced["stats"])
        contributions = float(context.num_replicas_in_sync * self._accumulation)
        safe_weight = tf.where(total_weight > 0, total_weight, tf.ones_like(total_weight))

        step_grads = [None] * len(variables)
        for j, i in enumerate(present):
            g = reduced["grads"][j]
            if not self._one_contribution:
                g = g / safe_weight
            if has_reg:
                g = g + reduced["reg_grads"][j] / contributions
            step_grads[i] = g
        self.optimizer.apply(step_grads, variables)

        norm = tf.linalg.global_norm([g for g in step_grads if g is not None])
        if self._loss_scaled:
            norm = norm / self.optimizer.dynamic_scale
        loss = total_loss / safe_weight + total_reg / contributions
        return loss, norm

    def _train_step(self, iterator):
        """One optimizer step (on every replica); returns its loss and gradient norm."""
        micro_batches = tuple(next(iterator) for _ in range(self._accumulation))
        loss, norm = self.strategy.run(self._replica_train_step, args=(micro_batches,))
        if self.weight_average is not None:
            self.weight_average.update(self.optimizer.iterations)
        return (self.strategy.experimental_local_results(loss)[0],
                self.strategy.experimental_local_results(norm)[0])

    def _train_loop(self, iterator, num_steps):
        """Runs `num_steps` training steps; returns their mean loss and gradient norm."""
        loss_total = tf.constant(0.0)
        norm_total = tf.constant(0.0)
        for _ in tf.range(num_steps):
            loss, norm = self._train_step(iterator)
            loss_total += loss
            norm_total += norm
        steps = tf.cast(num_steps, tf.float32)
        return loss_total / steps, norm_total / steps

    def _train_steps_one_per_call(self, iterator, num_steps):
        """`_train_loop` with the loop in Python, one `tf.function` call per step
        (XLA auto-clustering cannot take a loop around a whole step)."""
        results = [self._train_step_fn(iterator) for _ in range(int(num_steps))]
        losses, norms = zip(*results)
        return tf.reduce_mean(tf.stack(losses)), tf.reduce_mean(tf.stack(norms))

    # --------------------------------------------------------------- evaluation

    def _replica_eval_step(self, batch):
        features, labels = batch
        outputs = self._forward_fn(features)
        loss_sum, weight_sum = self.task.compute_loss(labels, outputs)
        self._eval_loss_sum.update_state(tf.cast(loss_sum, tf.float32))
        self._eval_weight_sum.update_state(tf.cast(weight_sum, tf.float32))
        self.task.update_metrics(self.eval_metrics, labels, outputs)

    def _eval_loop(self, iterator, num_steps):
        for _ in tf.range(num_steps):
            optional = iterator.get_next_as_optional()
            if not optional.has_value():
                break
            self.strategy.run(self._replica_eval_step, args=(optional.get_value(),))

    def averaged_weights(self):
        """A context in which the model holds the averaged weights (with
        `weight_average_decay`; otherwise it changes nothing)."""
        if self.weight_average is None:
            return contextlib.nullcontext()
        return self.weight_average.swapped()

    def evaluate(self, split="validation", steps=None):
        """Evaluates the model on `split`; returns `{"loss": ..., task metrics...}`.

        With `weight_average_decay` the averaged weights are evaluated.

        Args:
            split: the task's dataset split.
            steps: batches to evaluate (default: `config.eval_steps`; None: all).
        """
        with self.averaged_weights():
            return self._evaluate(split, steps)

    def _evaluate(self, split, steps):
        steps = steps if steps is not None else self.config.eval_steps
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int)
                                  or steps < 1):
            raise ValueError(f"`steps` must be a positive integer or None, got {steps!r}.")
        for metric in self.eval_metrics + [self._eval_loss_sum, self._eval_weight_sum]:
            metric.reset_state()
        dataset = self.strategy.distribute_datasets_from_function(
            lambda context: self.task.build_dataset(split, context))
        self._eval_loop_fn(iter(dataset), tf.constant(steps or _NO_LIMIT, tf.int32))
        weight = float(self._eval_weight_sum.result())
        loss = float(self._eval_loss_sum.result()) / weight if weight > 0 else float("nan")
        results = {"loss": loss}
        results.update(self.task.aggregate_eval(self.eval_metrics))
        step = int(self.global_step.numpy())
        if split == "validation":
            self.writers.scalars("validation", {k: v for k, v in results.items()
                                                if isinstance(v, (int, float))}, step)
        logging.info("Evaluation (%s) at step %d: %s", split, step,
                     ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                               for k, v in results.items()))
        return results

    # ----------------------------------------------------------------- training

    def restore(self):
        """Restores the latest checkpoint in `model_dir`, if any; returns the step.

        `train` restores only if this was not called before (a driver may restore
        first, to look at the step or record the run's settings after a restore
        that worked).
        """
        self.checkpointer.restore_latest()
        self._restored = True
        return int(self.global_step.numpy())

    def save_checkpoint(self):
        """Saves a checkpoint at the current step; returns its path (chief) or None."""
        return self.checkpointer.save(int(self.global_step.numpy()))

    def train(self):
        """Trains up to `config.train_steps` (resuming from the latest checkpoint).

        Returns the run summary (also written to `model_dir/summary.json` by the
        chief): steps, wall time, examples per second, final train metrics and,
        with `eval_at_end`, the final evaluation.

        Raises:
          TrainingPreempted: SIGTERM arrived; a checkpoint of the step reached
            was saved first (see `bertlab.training.preemption`).
        """
        with PreemptionWatcher() as watcher:
            summary = self._train(watcher)
            if stop_requested(watcher, self.strategy):  # came during the last evaluation
                self._stop_preempted(summary["steps"], last_saved=summary["steps"])
        return summary

    def _train(self, watcher):
        config = self.config
        wall_start = time.perf_counter()
        start_step = (int(self.global_step.numpy()) if self._restored else self.restore())
        step = start_step
        examples_per_step = config.global_batch_size * self._accumulation
        progress = Progress(config.train_steps, examples_per_step, start_step)
        final_train = {}
        last_saved = start_step if start_step > 0 else None
        if step >= config.train_steps:
            logging.info("Step %d >= train_steps %d: nothing to train.", step, config.train_steps)
        else:
            logging.info("Training from step %d to %d on %d replica(s).", step,
                         config.train_steps, self.strategy.num_replicas_in_sync)
            iterator = iter(self._train_dataset(step))
            window_loss, window_norm, window_steps = 0.0, 0.0, 0
            while step < config.train_steps:
                if stop_requested(watcher, self.strategy):
                    self._stop_preempted(step, last_saved)
                num_steps = min(config.steps_per_loop, config.train_steps - step,
                                _steps_to_boundary(step, config.log_interval),
                                _steps_to_boundary(step, config.checkpoint_interval),
                                _steps_to_boundary(step, config.eval_interval))
                started = time.perf_counter()
                try:
                    loss, norm = self._train_loop_fn(iterator, tf.constant(num_steps, tf.int32))
                    loss, norm = float(loss), float(norm)
                except tf.errors.OutOfRangeError:
                    raise ValueError(
                        f"The task's train dataset ran out of batches before step "
                        f"{step + num_steps}; build_dataset('train') must repeat "
                        "indefinitely.") from None
                progress.update(num_steps, time.perf_counter() - started)
                if not math.isfinite(loss) and not self._loss_scaled:
                    raise FloatingPointError(
                        f"The training loss is {loss} in steps {step + 1}-{step + num_steps}; "
                        f"stopping (the last checkpoint, {self.checkpointer.latest()}, "
                        "is from before).")
                step += num_steps
                self.global_step.assign(step)
                window_loss += loss * num_steps
                window_norm += norm * num_steps
                window_steps += num_steps

                if step % config.log_interval == 0 or step == config.train_steps:
                    final_train = self._log_train(step, progress, window_loss / window_steps,
                                                  window_norm / window_steps)
                    window_loss, window_norm, window_steps = 0.0, 0.0, 0
                if config.checkpoint_interval and step % config.checkpoint_interval == 0:
                    self.save_checkpoint()
                    last_saved = step
                if (config.eval_interval and step % config.eval_interval == 0
                        and step < config.train_steps):
                    self.evaluate()
            if last_saved != step:
                self.save_checkpoint()
                last_saved = step

        if stop_requested(watcher, self.strategy):
            self._stop_preempted(step, last_saved)
        final_eval = self.evaluate() if config.eval_at_end else None
        summary = {
            "steps": step,
            "train_steps": config.train_steps,
            "start_step": start_step,
            "steps_this_run": step - start_step,
            "wall_time_seconds": time.perf_counter() - wall_start,
            "train_time_seconds": progress.train_seconds,
            "examples_per_second": progress.examples_per_second,
            "steps_per_second": (progress.steps_done / progress.train_seconds
                                 if progress.train_seconds > 0 else 0.0),
            "global_batch_size": config.global_batch_size,
            "gradient_accumulation_steps": self._accumulation,
            "examples_per_step": examples_per_step,
            "num_replicas": self.strategy.num_replicas_in_sync,
            "strategy": type(self.strategy).__name__,
            "mixed_precision": config.mixed_precision,
            "jit_compile": config.jit_compile,
            "xla_fusion": xla_fusion.auto_clustering_enabled(),
            "final_train": final_train,
            "final_eval": final_eval,
            "latest_checkpoint": self.checkpointer.latest(),
        }
        if self.is_chief:
            write_json_atomic(os.path.join(self.model_dir, SUMMARY_FILE), summary)
        return summary

    def _stop_preempted(self, step, last_saved):
        """Saves step `step` (unless just saved) and raises `TrainingPreempted`."""
        if last_saved != step:
            self.save_checkpoint()
        error = TrainingPreempted(step, self.checkpointer.latest() if self.is_chief else None)
        logging.warning("%s", error)
        raise error

    def _log_train(self, step, progress, loss, grad_norm):
        metrics = self.task.aggregate_eval(self.train_metrics) if self.train_metrics else {}
        learning_rate = optimization.current_learning_rate(self.optimizer)
        numeric = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        rates = progress.report(step, loss, extra={"lr": learning_rate, **numeric})
        values = {"loss": loss, "learning_rate": learning_rate, "gradient_norm": grad_norm,
                  **rates, **metrics}
        if self._loss_scaled:
            values["loss_scale"] = float(self.optimizer.dynamic_scale.numpy())
        self.writers.scalars("train", {k: v for k, v in values.items()
                                       if isinstance(v, (int, float))}, step)
        for metric in self.train_metrics:
            metric.reset_state()
        return {k: v for k, v in values.items() if k not in rates}

    def close(self):
        """Closes the TensorBoard writers."""
        self.writers.close()
