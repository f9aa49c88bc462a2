"""The contract between a task (pretraining, classification, tagging, seq2seq) and
bertlab's one training runner (`bertlab.training.Trainer`).

A task says what is particular to it: the model, the input pipeline, the loss,
the metrics. The runner owns everything else: the distribution strategy, the
optimizer and learning-rate schedule, the custom `strategy.run` training loop,
mixed precision, XLA, checkpoints and resumption, TensorBoard, progress and
`summary.json`.
"""

import abc


class Task(abc.ABC):
    """Base class of trainable tasks.

    Subclasses implement `build_model`, `build_dataset`, `compute_loss` and,
    optionally, `build_metrics`/`update_metrics` and `aggregate_eval`.

    Attribute `global_batch_size` (int or None): the examples per training batch
    over all replicas that `build_dataset` produces; when set, the runner checks
    that it equals `TrainerConfig.global_batch_size`.

    Losses are normalized globally: `compute_loss` returns the *sum* of
    per-example (or per-token) losses of the local batch and the *sum* of their
    weights; the runner all-reduces the weights over replicas and divides, so a
    mirrored or multi-worker step equals a one-device step on the same global
    batch.
    """

    global_batch_size = None
    # The validation result that picks the weights a run exports (higher is
    # better; e.g. "accuracy", "entity_f1"). None: the last (averaged) weights.
    main_metric = None
    # A `CheckpointSelectionConfig` for tasks judged outside the graph (BLEU,
    # ROUGE of decoded text): after training, the driver scores the latest
    # checkpoints with `evaluate_generation(model)` and exports the best.
    checkpoint_selection = None
    # Where the task may keep what it derives from its data once per run (a
    # distillation teacher's logits): the run's model_dir, set by the driver
    # before the model and datasets are built; None: keep it in memory.
    work_dir = None

    @abc.abstractmethod
    def build_model(self):
        """Returns a `keras.Model` mapping `features` to an output (dict)."""

    @abc.abstractmethod
    def build_dataset(self, split, input_context=None):
        """Returns a `tf.data.Dataset` of `(features, labels)` batches for
        `split` ("train" or "validation").

        With an `input_context` (`tf.distribute.InputContext`), the dataset is
        sharded with `input_context.num_input_pipelines` /
        `input_pipeline_id` and batched with
        `input_context.get_per_replica_batch_size(global_batch_size)`. The train
        split repeats indefinitely and is deterministic for a given seed (the
        runner resumes a killed run by skipping the steps already done).
        """

    @abc.abstractmethod
    def compute_loss(self, labels, outputs):
        """Returns `(loss_sum, weight_sum)`: float32 scalars over the local batch.

        `loss_sum / weight_sum` (weights all-reduced) is the loss minimized;
        regularization losses of the model are added by the runner.
        """

    def build_metrics(self):
        """Returns a list of `keras.metrics.Metric` updated by `update_metrics`."""
        return []

    def build_train_metrics(self):
        """The metrics logged during training (default: `build_metrics()`); a task
        whose metrics would cost a second pass over large outputs (a language
        model's softmax over the vocabulary) returns [] and is judged by its
        loss while it trains."""
        return self.build_metrics()

    def update_metrics(self, metrics, labels, outputs):
        """Updates `metrics` (from `build_metrics`) with one batch."""

    def aggregate_eval(self, metrics):
        """Returns a dict of evaluation results from the updated metrics.

        Tasks whose metric is computed over the whole set outside the graph
        (seqeval F1, BLEU, ROUGE) may override `evaluate` in the app instead.
        """
        return {m.name: float(m.result()) for m in metrics}

    def finalize(self, validation_results):
        """Called by the driver once the exported weights are chosen, with their
        validation results (or None): a task fixes here what it chose on
        validation for them (e.g. a decision threshold), before the report
        evaluation and the export."""

    def export(self, model, directory):
        """Writes the task's export of `model` (a SavedModel that takes raw text, or
        a pretrained encoder) into the empty `directory`; returns a JSON-able
        dict of what a client needs to know (labels, lengths, output names).
        Called by `bertlab.tasks.driver` through `bertlab.export.publish`, which
        adds the metadata file, warm-up requests, the op check and the version."""
        raise NotImplementedError(f"{type(self).__name__} has no export.")
