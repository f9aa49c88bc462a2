"""The models a local server serves: the newest version of each, swapped in while serving.

Like TF Serving with its default version policy (latest): for every model
directory under the base path (`bertlab.export.model_config.discover_models`)
the highest version holding a `saved_model.pb` is loaded, its warm-up
requests are replayed, and only then does it replace the version being
served. A poller looks at the file system every `poll_interval_s` seconds:

- a new version is loaded in the background and swapped in between two
  requests (requests already running finish on the old version); new model
  directories are picked up the same way;
- a version that fails to load or to warm up (caught mid-copy, say) is
  refused, its error logged and shown in the model's status, and the previous
  version keeps serving; it is tried again after `load_retry_interval_s`,
  doubling after each failure, up to `max_load_retries` times (TF Serving's
  `max_num_load_retries`), and again whenever its `saved_model.pb` changes;
- a version deleted from disk is unloaded: the next lower version on disk is
  served instead, or none (the model then answers 404); so is a model whose
  directory is gone (but not everything when the base path itself disappears);
- a version directory that is a symbolic link leading outside the base path
  is refused (as `discover_models` refuses such model directories).

Each loaded version queues its requests in `DynamicBatcher`s (one per
signature) sharing one `admission.QueueBound`: the per-model queue bound and
deadline of `BatchingOptions`.

Loading needs only `tensorflow` and `tensorflow_text` (the exports are
traced graphs), and FAISS for a search index with an approximate index
(`approximate_search`: with `approximate_search=True`, the default, its
`serving_default` and `search` are answered through that index; a version
whose index is missing or corrupt is refused like any version that fails to
load). With `litert` (`LiteRTOptions`, TF Serving's `--prefer_tflite_model`), a
version holding that LiteRT file is served from it instead of its SavedModel
(`litert_servable`: the file's signatures, e.g. `serve_token_ids`, only).

Example:
>>> registry = ModelRegistry("saved_models", poll_interval_s=1.0)
>>> registry.start()                      # loads every model, then polls
>>> served = registry.get("my_model")     # the LoadedVersion serving now
>>> served.predict("serving_default", {"text": np.array([b"a fine film"], dtype=object)})
"""

import concurrent.futures
import logging
import os
import threading
import time

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizers' ops before loading)
from google.protobuf import json_format

from bertlab.export import read_metadata
from bertlab.export.custom_ops import read_saved_model_proto
from bertlab.export.model_config import discover_models, servable_versions
from bertlab.export.warmup import read_warmup_requests
from bertlab.serving.admission import QueueBound
from bertlab.serving.approximate_search import load_approximate_search
from bertlab.serving.dynamic_batcher import DynamicBatcher
from bertlab.serving.litert_servable import LiteRTServable
from bertlab.serving.thread_priority import start_worker_threads

log = logging.getLogger("bertlab.serving")
PREDICT_THREADS = 16  # model calls at once, over every model and version


class NotFound(LookupError):
    """No such model, or no such version being served (HTTP 404)."""


class BatchingOptions:
    """How a model's requests are queued and batched (`dynamic_batcher.DynamicBatcher`).

    Args:
      enabled: batch concurrent requests (False: each runs alone, whole).
      max_batch_size: most rows in one model call (larger requests are split).
      batch_timeout_s: longest a request waits for others to join its batch.
      max_concurrent_batches: model calls of one signature running at once.
      max_queued_requests: most requests waiting per model (0: no bound); the
        next one is refused at once (HTTP 503).
      request_timeout_s: a request still waiting this long is answered with
        HTTP 504 and not run (0 or None: no deadline).
    """

    def __init__(self, enabled=True, max_batch_size=32, batch_timeout_s=0.002,
                 max_concurrent_batches=1, max_queued_requests=64, request_timeout_s=10.0):
        self.enabled = bool(enabled)
        self.max_batch_size = int(max_batch_size)
        self.batch_timeout_s = float(batch_timeout_s)
        self.max_concurrent_batches = int(max_concurrent_batches)
        self.max_queued_requests = int(max_queued_requests)
        self.request_timeout_s = float(request_timeout_s) if request_timeout_s else None
        for name in ("max_batch_size", "max_concurrent_batches"):
            if getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be positive, got {getattr(self, name)}.")
        if self.max_queued_requests < 0:
            raise ValueError("`max_queued_requests` must be >= 0 (0: no bound), got "
                             f"{self.max_queued_requests}.")


def _signature_json(signature_def):
    # TF Serving prints default values too (`"unknown_rank": false`, `"name": ""`).
    return json_format.MessageToDict(signature_def, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


class LoadedVersion:
    """One loaded version: its signatures (input/output specs), metadata and batchers.

    `metadata` is what the exporter wrote (`bertlab.export.read_metadata`), unchanged,
    or `{}` for a SavedModel without it; the registry reads only its
    `approximate_index`. `approximate` is the version's `ApproximateSearch`
    (with `approximate_search` and an export that has one), else None: it then
    answers the signatures it covers (`predict`). `litert` is the version's
    `LiteRTServable` when `litert` (`LiteRTOptions`) names a file the version
    holds: it then answers every signature, and the SavedModel is not loaded.
    """

    def __init__(self, name, version, path, batching, executor=None, approximate_search=True,
                 litert=None):
        self.name, self.version, self.path = name, int(version), path
        try:
            self.metadata = read_metadata(path)  # what the exporter wrote, passed on as is
        except FileNotFoundError:
            self.metadata = {}
        litert_path = os.path.join(path, litert.file_name) if litert else None
        self.litert = None  # LiteRTServable when the version is served from its LiteRT file
        if litert_path is not None and os.path.isfile(litert_path):
            self.litert = LiteRTServable(litert_path, litert.num_threads,
                                         batching.max_concurrent_batches)
            self.signature_defs = self.litert.signature_defs
            self.inputs, self.outputs = self.litert.inputs, self.litert.outputs
            self._functions = dict.fromkeys(self.signature_defs)
            self.approximate = None
        else:
            self._load_saved_model(path, approximate_search)
        # One queue bound for all the signatures: the bound is per model (version).
        self.queue_bound = QueueBound(batching.max_queued_requests)
        self._batchers = {}
        for key in self._functions:
            batch_axis = all(shape and shape[0] == -1 for _, shape in self.inputs[key].values())
            self._batchers[key] = DynamicBatcher(
                lambda inputs, key=key: self.predict(key, inputs),
                batching.max_batch_size, batching.batch_timeout_s,
                batching.max_concurrent_batches, executor,
                request_timeout_s=batching.request_timeout_s, queue_bound=self.queue_bound,
                batching=batching.enabled and batch_axis)

    def _load_saved_model(self, path, approximate_search):
        meta_graph = read_saved_model_proto(path).meta_graphs[0]
        self.signature_defs = {k: v for k, v in meta_graph.signature_def.items()
                               if not k.startswith("__")}
        self._loaded = tf.saved_model.load(path)
        self._functions = dict(self._loaded.signatures)
        missing = sorted(set(self.signature_defs) - set(self._functions))
        if missing or not self._functions:
            raise ValueError(f"{path}: signatures {missing or 'all'} cannot be loaded.")
        self.inputs, self.outputs = {}, {}
        for key, function in self._functions.items():
            specs = function.structured_input_signature[1]
            self.inputs[key] = {
                n: (np.dtype(s.dtype.as_numpy_dtype),
                    None if s.shape.rank is None else tuple(-1 if d is None else d
                                                           for d in s.shape.as_list()))
                for n, s in specs.items()}
            self.outputs[key] = sorted(function.structured_outputs)
        self.approximate = (load_approximate_search(path, self.metadata, self._functions)
                            if approximate_search else None)

    def predict(self, signature, inputs):
        """Runs a signature on numpy inputs (in the calling thread); numpy outputs."""
        if self.litert is not None:
            return self.litert.predict(signature, inputs)
        if self.approximate is not None and signature in self.approximate.signatures:
            return self.approximate.predict(signature, inputs)
        function = self._functions[signature]
        tensors = {n: tf.constant(v, dtype=tf.as_dtype(self.inputs[signature][n][0]))
                   for n, v in inputs.items()}
        return {k: v.numpy() for k, v in function(**tensors).items()}

    async def predict_async(self, signature, inputs):
        """`predict` through the signature's queue and dynamic batcher (in a worker thread).

        Raises:
          admission.Overloaded: the model's queue is full.
          admission.DeadlineExceeded: the request waited too long without starting.
        """
        return await self._batchers[signature].run(inputs)

    def batch_stats(self):
        """`{signature: BatchStats.as_dict()}`: requests, batches, refused, expired, ..."""
        return {k: b.stats.as_dict() for k, b in self._batchers.items()}

    def warm_up(self):
        """Replays the export's warm-up requests; returns how many ran."""
        requests = read_warmup_requests(self.path)
        if self.litert is not None:  # the LiteRT file has only some of the signatures
            requests = [(s, i) for s, i in requests if s in self._functions]
        for signature, inputs in requests:
            if signature not in self._functions:
                raise ValueError(f"Warm-up request for unknown signature {signature!r}.")
            self.predict(signature, inputs)
        return len(requests)

    def metadata_json(self):
        """TF Serving's `GET /v1/models/<name>/metadata` body; with an approximate index
        its `metadata` also holds `approximate_index` (the signatures it answers, its
        library, settings and size), which TF Serving's does not."""
        metadata = {"signature_def": {"signature_def": {
            k: _signature_json(v) for k, v in sorted(self.signature_defs.items())}}}
        if self.approximate is not None:
            metadata["approximate_index"] = self.approximate.describe()
        if self.litert is not None:
            metadata["litert"] = self.litert.describe()
        return {"model_spec": {"name": self.name, "signature_name": "",
                               "version": str(self.version)},
                "metadata": metadata}


def _version_status(version, state, error=""):
    return {"version": str(version), "state": state,
            "status": {"error_code": "UNKNOWN" if error else "OK", "error_message": error}}


class _Failure:
    """A version that failed to load: what its files were, why, and when to try again."""

    def __init__(self, signature, message, attempts, retry_at):
        self.signature, self.message = signature, message
        self.attempts, self.retry_at = attempts, retry_at  # retry_at None: not again


class _Model:
    def __init__(self, name, directory):
        self.name, self.directory = name, directory
        self.current = None            # LoadedVersion
        self.failed = {}               # version -> _Failure
        self.retired = []              # versions served before, now unloaded
        self.loading = None            # version being loaded


class ModelRegistry:
    """Loads, serves and hot-swaps the newest version of every model under a base path.

    Args:
      model_base_path: the directory holding one directory per model.
      poll_interval_s: seconds between file-system checks (0: no polling).
      batching: `BatchingOptions` (queue bound, deadline, batching).
      warm_up: replay each version's warm-up requests before serving it.
      max_load_retries: how many times a version that failed to load is tried
        again while its files stay the same (TF Serving's `max_num_load_retries`).
      load_retry_interval_s: the wait before the first retry; it doubles after
        each failure.
      approximate_search: answer a search index that has an approximate index
        through it (False: every signature as exported, exactly).
      litert: `LiteRTOptions`: serve a version that holds its LiteRT file from that
        file (TF Serving's `--prefer_tflite_model`); None: always the SavedModel.
    """

    def __init__(self, model_base_path, poll_interval_s=1.0, batching=None, warm_up=True,
                 max_load_retries=5, load_retry_interval_s=1.0, approximate_search=True,
                 litert=None):
        self.model_base_path = os.path.realpath(os.fspath(model_base_path))
        if not os.path.isdir(self.model_base_path):
            raise FileNotFoundError(f"Model base path not found: {model_base_path}")
        if int(max_load_retries) < 0 or float(load_retry_interval_s) < 0:
            raise ValueError("`max_load_retries` and `load_retry_interval_s` must be >= 0, got "
                             f"{max_load_retries} and {load_retry_interval_s}.")
        self.poll_interval_s = float(poll_interval_s)
        self.batching = batching or BatchingOptions()
        self.warm_up = bool(warm_up)
        self.max_load_retries = int(max_load_retries)
        self.load_retry_interval_s = float(load_retry_interval_s)
        self.approximate_search = bool(approximate_search)
        self.litert = litert
        self._models = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        # Shared by every version's batchers: a retired version's requests still finish.
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=PREDICT_THREADS, thread_name_prefix="predict")
        # Started here, not by the event loop's first requests: they keep this thread's
        # priority when the loop's is lowered (`thread_priority`).
        start_worker_threads(self._executor, PREDICT_THREADS)

    # ------------------------------------------------------------ lifecycle

    def start(self):
        """Loads every model now, then polls in a background thread."""
        self.poll_once()
        if self.poll_interval_s > 0:
            self._thread = threading.Thread(target=self._poll_loop, name="model-poller",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._executor.shutdown(wait=False)

    def _poll_loop(self):
        while not self._stop.wait(self.poll_interval_s):
            try:
                self.poll_once()
            except Exception:  # noqa: BLE001  (keep polling whatever happens)
                log.exception("Polling %s failed", self.model_base_path)

    def poll_once(self):
        """One file-system check: loads and swaps in whatever is newer, retries failed
        versions that are due, unloads deleted ones. Returns the `{name: version}` served
        afterwards."""
        try:
            found = discover_models(self.model_base_path)
        except FileNotFoundError:
            log.error("Model base path %s disappeared; still serving what is loaded.",
                      self.model_base_path)
            found = None
        for name, directory in (found or {}).items():
            with self._lock:
                model = self._models.setdefault(name, _Model(name, directory))
            self._sync_model(model)
        if found is not None:  # models whose directory (or every version) is gone
            with self._lock:
                gone = [m for n, m in self._models.items() if n not in found and m.current]
            for model in gone:
                self._sync_model(model)
        with self._lock:
            return {n: m.current.version for n, m in self._models.items() if m.current}

    @staticmethod
    def _file_signature(path):
        try:
            stat = os.stat(os.path.join(path, "saved_model.pb"))
            return (os.path.realpath(path), stat.st_mtime_ns, stat.st_size)
        except OSError:
            return None

    def _outside_base(self, path):
        real = os.path.realpath(path)
        return os.path.commonpath([real, self.model_base_path]) != self.model_base_path

    def _due(self, model, version, path):
        """Whether `version` may be loaded now: never failed, its files changed since it
        failed, or its next retry is due."""
        failure = model.failed.get(version)
        if failure is None or failure.signature != self._file_signature(path):
            return True
        return failure.retry_at is not None and time.monotonic() >= failure.retry_at

    def _sync_model(self, model):
        versions = servable_versions(model.directory)
        current = model.current
        current_gone = current is not None and current.version not in versions
        with self._lock:
            for version in [v for v in model.failed if v not in versions]:
                del model.failed[version]  # deleted: nothing to retry
        for version in reversed(versions):  # the newest that loads, down to the served one
            if not self._due(model, version, os.path.join(model.directory, str(version))):
                continue
            if current is not None and not current_gone and version <= current.version:
                return  # the served version is still the newest loadable one
            if self._load(model, version):
                return
        if current_gone:
            self._unload(model, "its directory was deleted")

    def _load(self, model, version):
        """Loads, warms up and swaps in `version`; False (logged, recorded) if it fails."""
        path = os.path.join(model.directory, str(version))
        signature = self._file_signature(path)
        model.loading = version
        started = time.monotonic()
        try:
            if self._outside_base(path):
                raise _Refused(f"{path} is a symbolic link to {os.path.realpath(path)}, "
                               f"outside the model base path {self.model_base_path}")
            loaded = LoadedVersion(model.name, version, path, self.batching, self._executor,
                                   self.approximate_search, self.litert)
            requests = loaded.warm_up() if self.warm_up else 0
        except Exception as error:  # noqa: BLE001  (refuse this version, keep serving)
            self._record_failure(model, version, signature, error)
            return False
        finally:
            model.loading = None
        with self._lock:
            previous, model.current = model.current, loaded
            model.failed.pop(version, None)
            if previous is not None:
                model.retired = ([previous.version] + model.retired)[:5]
        log.info("Serving %s version %d (%s; %d warm-up requests; %.1f s)", model.name,
                 version, loaded.litert.path if loaded.litert else path, requests,
                 time.monotonic() - started)
        return True

    def _record_failure(self, model, version, signature, error):
        message = f"{type(error).__name__}: {error}".strip()
        previous = model.failed.get(version)
        attempts = 1 if previous is None or previous.signature != signature \
            else previous.attempts + 1
        retry_at, retry = None, ""
        if not isinstance(error, _Refused) and attempts <= self.max_load_retries:
            delay = self.load_retry_interval_s * 2 ** (attempts - 1)
            retry_at = time.monotonic() + delay
            retry = f"; retry {attempts} of {self.max_load_retries} in {delay:g} s"
        with self._lock:
            model.failed[version] = _Failure(signature, message[:2000], attempts, retry_at)
        serving = model.current
        log.error("Refusing %s version %d (%s): %s; %s%s", model.name, version,
                  os.path.join(model.directory, str(version)), message[:500],
                  "still serving version %d" % serving.version if serving
                  else "no version is served", retry)

    def _unload(self, model, why):
        with self._lock:
            previous, model.current = model.current, None
            model.retired = ([previous.version] + model.retired)[:5]
        log.warning("Unloaded %s version %d: %s; no version of %s is served now.", model.name,
                    previous.version, why, model.name)

    # -------------------------------------------------------------- queries

    def names(self):
        with self._lock:
            return sorted(n for n, m in self._models.items() if m.current)

    def get(self, name, version=None):
        """The `LoadedVersion` serving `name` (its latest, or exactly `version`).

        Raises:
          NotFound: unknown model, or that version is not being served.
        """
        with self._lock:
            model = self._models.get(name)
            current = model.current if model else None
        if current is None:
            spec = f"Latest({name})" if version is None else f"Specific({name}, {version})"
            raise NotFound(f"Servable not found for request: {spec}")
        if version is not None and int(version) != current.version:
            raise NotFound(f"Servable not found for request: Specific({name}, {version}); "
                           f"version {current.version} is served")
        return current

    def status(self, name, version=None):
        """TF Serving's `GET /v1/models/<name>[/versions/<v>]` body.

        Raises:
          NotFound: unknown model or version.
        """
        with self._lock:
            model = self._models.get(name)
            if model is None:
                raise NotFound(f"Could not find any versions of model {name}")
            entries = []
            if model.loading is not None:
                entries.append(_version_status(model.loading, "LOADING"))
            for failed, failure in sorted(model.failed.items(), reverse=True):
                if failed != model.loading:
                    entries.append(_version_status(failed, "END", failure.message))
            if model.current is not None:
                entries.append(_version_status(model.current.version, "AVAILABLE"))
            shown = {e["version"] for e in entries}
            entries += [_version_status(v, "END") for v in model.retired
                        if str(v) not in shown]
        if version is not None:
            entries = [e for e in entries if e["version"] == str(int(version))][:1]
            if not entries:
                raise NotFound(f"Could not find version {version} of model {name}")
        entries.sort(key=lambda e: -int(e["version"]))
        return {"model_version_status": entries}

    def served(self):
        """The `LoadedVersion` serving each model now, by model name."""
        with self._lock:
            return [m.current for _, m in sorted(self._models.items()) if m.current]


class _Refused(ValueError):
    """A version the registry will not load whatever its files (never retried)."""
