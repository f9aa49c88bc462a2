"""The one driver of every app: train -> keep the best -> export a new version -> summary.

`train_and_export` runs a whole job for any task of the runner (classification,
tagging, seq2seq, pretraining, and whatever comes next):

1. checks a resume's settings against `model_dir/run_config.json` (stops on a
   change of the model, data order or schedule unless `allow_config_change`),
   restores the latest checkpoint, then records the settings; removes what
   killed saves and exports left (`best.tmp-*`, `.tmp-export-*`; only stale ones);
2. trains with the one runner (`BestModelTrainer`, resuming from `model_dir`;
   SIGTERM saves a checkpoint and exits with status 143, see
   `bertlab.training.preemption`);
   when the task names a `main_metric`, the weights of the best validation
   evaluation are kept in `model_dir/best/` during training (with weight
   averaging, the averaged weights are the ones evaluated and kept);
3. picks the weights to export: the best kept ones; or, for a task with a
   `checkpoint_selection` (seq2seq: BLEU, ROUGE of decoded text), the best of
   the latest checkpoints (and their average) scored by
   `task.evaluate_generation`; else the last (averaged) weights;
4. `task.finalize(validation results)` fixes what validation chose with those
   weights (a decision threshold); with a `report_split`, the weights are
   evaluated once on it (an official validation set that played no part in
   choosing them);
5. exports them through `bertlab.export.publish` (the one export sequence:
   atomic version, metadata, warm-up requests, op check, `models.config`),
   with the task's writer `task.export(model, directory) -> metadata`;
6. writes `model_dir/summary.json`.

A job with nothing to train (a search index built with a pretrained or an
exported embedder) takes step 5 alone: `export_job`.

A rerun of a finished run (its checkpoint at `train_steps`) whose export is
still there, made with the same settings, trains, selects and exports nothing:
it logs "nothing to train" with the export's version and returns the previous
summary (with `"nothing_to_train": True`). If the export was removed, or a
setting of the export changed, it exports again. (Single-worker runs only: a
multi-worker cluster always goes through the steps, since its workers would
have to agree on the export they may not all see.)

It lives above `bertlab/export` (tasks level) because it calls it; the
runner, the best-weight keeping and the checkpoint selection it sequences are
in `bertlab/training`.

Example:
>>> summary = train_and_export(task, trainer_config, optimizer_config, "runs/sst2",
...                            export_dir="saved_models/sentiment",
...                            metadata={"config": "default.yaml"})
>>> summary["export"]["path"]
'/repo/saved_models/sentiment/1'
"""

import hashlib
import json
import os

from absl import logging

from bertlab.export.publish import publish, remove_leftovers
from bertlab.training import strategy as strategy_lib
from bertlab.training.best_model_trainer import BestModelTrainer
from bertlab.training.checkpoint_selection import checkpoint_step, select_checkpoint
from bertlab.training.run_config import read_run_config
from bertlab.training.runner import resolve_strategy, start_run
from bertlab.training.summary import SUMMARY_FILE, SummaryWriters, write_json_atomic


def _select_by_generation(task, trainer, summary, log_fn):
    """Step 3 for a task with `checkpoint_selection`: leaves the best candidate's
    weights in the model; returns the facts for the export's metadata."""
    selection = task.checkpoint_selection
    model = trainer.model
    best, results = select_checkpoint(model, trainer.model_dir, selection,
                                      lambda: task.evaluate_generation(model), log_fn)
    writers = SummaryWriters(trainer.model_dir)
    try:
        for name, metrics in results.items():
            scalars = {f"generation/{k}": v for k, v in metrics.items()
                       if isinstance(v, (int, float))}
            writers.scalars("validation", scalars, checkpoint_step(name) or summary["steps"])
    finally:
        writers.close()
    summary["checkpoint_selection"] = {"metric": selection.metric, "best": best,
                                       "candidates": results}
    summary["validation_generation"] = results[best]
    return {"checkpoint": best, "validation_generation": results[best]}


def _export_fingerprint(model_dir, **settings):
    """A digest of everything that decides what a finished run exports: the run's
    settings (as just recorded in `run_config.json`) and the export's own."""
    settings["run_config"] = read_run_config(model_dir)
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _existing_export(model_dir, export_dir, versioned, fingerprint):
    """The previous summary of a finished run if its export, made with the same
    fingerprint into `export_dir`, is still there; else None."""
    path = os.path.join(model_dir, SUMMARY_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        previous = json.load(f)
    record = previous.get("export") or {}
    where = record.get("path")
    if (previous.get("export_fingerprint") != fingerprint or not where
            or not os.path.isdir(where)):
        return None
    base = os.path.dirname(where) if versioned else where
    if os.path.abspath(os.fspath(export_dir)) != base:
        return None
    return previous


def _nothing_to_do(model_dir, previous, step, trainer_config, log_fn):
    """A finished run whose export exists: says so, and records this run in
    `summary.json` (the previous summary, with `start_step` this run's and
    `nothing_to_train`). Returns that summary."""
    export = previous["export"]
    what = (f"version {export['version']}" if export.get("version") is not None
            else "exported in place")
    log_fn(f"{model_dir}: nothing to train (step {step} of {trainer_config.train_steps} is "
           f"done), and its export already exists ({what}: {export['path']}); not exporting "
           "it again. Remove the export (or use another --model_dir) to export again.")
    summary = {**previous, "start_step": step, "steps_this_run": 0, "nothing_to_train": True}
    write_json_atomic(os.path.join(model_dir, SUMMARY_FILE), summary)
    return summary


def train_and_export(task, trainer_config, optimizer_config, model_dir, export_dir=None,
                     strategy=None, metadata=None, versioned_export=True,
                     report_split=None, extra_summary=None, export_summary=None,
                     keep_best=True, allow_config_change=False, log_fn=logging.info):
    """Trains `task`, picks the weights to export, exports them, writes the summary.

    Args:
      task: a `bertlab.training.Task` with `export(model, directory) -> dict`
        when `export_dir` is given; optional `main_metric` (the validation
        result to keep the best weights by, higher is better) or
        `checkpoint_selection` with `evaluate_generation(model) -> dict`.
      trainer_config, optimizer_config: the runner's configs.
      model_dir: checkpoints, `best/`, TensorBoard logs, `run_config.json`,
        `summary.json`.
      export_dir: base directory of the versioned exports (None: no export).
      strategy: a `tf.distribute.Strategy`, a strategy name or None (one
        device). In a multi-worker run only the chief selects, exports and
        writes the summary.
      metadata: JSON-able facts of the run written into the export's metadata.
      versioned_export: export as a new integer version of `export_dir` (TF
        Serving) or replace `export_dir` itself (a pretrained encoder).
      report_split: a split of the task evaluated once, after the weights are
        chosen (e.g. the official validation set, when checkpoints are chosen
        on a split carved from the training data); its results go to
        `summary["report"]` and the export's metadata.
      extra_summary: dict added to the summary (e.g. a baseline's scores).
      export_summary: dict added to `summary["export"]` (e.g. the export's
        decoding settings).
      keep_best: keep the weights of the best validation evaluation by the task's
        `main_metric`; False: export the last weights (a final fit, which has no
        validation split).
      allow_config_change: resume even though settings that change the model,
        the data order or the schedule differ from `run_config.json`.
      log_fn: progress lines.

    Returns:
      The summary dict (the runner's, plus `best`, `export` and what the
      selection and report added), also written to `model_dir/summary.json`;
      for a finished run whose export exists, the previous one.

    Raises:
      RunConfigMismatchError: a resume with changed settings.
      TrainingPreempted: SIGTERM during training; a checkpoint was saved.
    """
    selection = getattr(task, "checkpoint_selection", None)
    if selection is not None and trainer_config.weight_average_decay:
        raise ValueError("`trainer.weight_average_decay` is for runs that keep their best "
                         "evaluation; this task picks (and with `selection.average_last`, "
                         "averages) its checkpoints by a generation metric instead.")
    strategy = resolve_strategy(strategy, trainer_config)
    task.work_dir = model_dir
    trainer, step = start_run(
        task, trainer_config, optimizer_config, model_dir,
        lambda: BestModelTrainer(task, trainer_config, optimizer_config, model_dir, strategy,
                                 metric=getattr(task, "main_metric", None) if keep_best
                                 else None),
        allow_config_change)
    try:
        fingerprint = None
        if trainer.is_chief and export_dir:
            remove_leftovers(export_dir, versioned_export)
            fingerprint = _export_fingerprint(
                model_dir, metadata=metadata, versioned=versioned_export,
                report_split=report_split, extra_summary=extra_summary,
                export_summary=export_summary)
        if (fingerprint and step >= trainer_config.train_steps
                and strategy_lib.num_workers(trainer.strategy) == 1):
            previous = _existing_export(model_dir, export_dir, versioned_export, fingerprint)
            if previous is not None:
                return _nothing_to_do(model_dir, previous, step, trainer_config, log_fn)
        summary = trainer.train()
        # Every worker loads the chosen weights and runs the report evaluation (a
        # multi-worker evaluation is a collective); only the chief selects by
        # generation, exports and writes.
        best = trainer.restore_best()
        if best is None and trainer.weight_average is not None:
            trainer.weight_average.swap()  # nothing kept: export the averaged weights
        summary["best"] = best
        if selection is not None:
            if not trainer.is_chief:
                return summary
            facts = _select_by_generation(task, trainer, summary, log_fn)
            task.finalize(facts["validation_generation"])
        else:
            facts = {"validation": best["results"] if best else summary.get("final_eval"),
                     "step": best["step"] if best else summary["steps"]}
            task.finalize(facts["validation"])
        if report_split:
            summary["report"] = trainer.evaluate(report_split)
            facts["report"] = {"split": report_split, **summary["report"]}
            log_fn(f"{report_split}: " + ", ".join(
                f"{k} {v:.4f}" for k, v in summary["report"].items()
                if isinstance(v, float)))
        if not trainer.is_chief:
            return summary
        summary.update(extra_summary or {})
        summary["export"] = None
        if export_dir:
            summary["export"] = export_job(
                export_dir, lambda directory: task.export(trainer.model, directory),
                metadata={**facts, **(metadata or {})}, versioned=versioned_export)
            summary["export"].update(export_summary or {})
            summary["export_fingerprint"] = fingerprint
            log_fn(f"Exported {summary['export']['path']}")
        write_json_atomic(os.path.join(model_dir, SUMMARY_FILE), summary)
        return summary
    finally:
        trainer.close()


def export_job(export_dir, write_fn, metadata=None, versioned=True, remove_stale=False):
    """Step 5: writes a job's export through `publish` (a new atomic version, metadata,
    warm-up, op check, `models.config`), with `write_fn(directory) -> metadata`.

    `train_and_export` calls it after training (it removed leftovers when the job
    started); a job with nothing to train (`apps.search.index`: an index of a corpus
    embedded by a pretrained or exported embedder) calls it directly with
    `remove_stale=True`, which first removes what killed exports left in `export_dir`
    (stale ones only).

    Returns:
      `publish`'s record: `{"version", "path", "models_config"}`.
    """
    if remove_stale:
        remove_leftovers(export_dir, versioned)
    return publish(export_dir, write_fn, metadata=metadata, versioned=versioned)
