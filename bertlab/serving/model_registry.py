"""The models a local server serves: the newest version of each, swapped in while serving.

Like TF Serving with its default version policy (latest): for every model
directory under the base path (`bertlab.export.model_config.discover_models`)
the highest version holding a `saved_model.pb` is loaded, its warm-up
requests are replayed, and only then does it replace the version being
served. A poller looks at the file system every `poll_interval_s` seconds:
a new version is loaded in the background and swapped in between two
requests (requests already running finish on the old version); a version
that fails to load or to warm up is refused, its error logged and shown in
the model's status, and the previous version keeps serving; a failed
version is tried again only if its `saved_model.pb` changes. New model
directories are picked up the same way.

Loading needs only `tensorflow` and `tensorflow_text` (the exports are
traced graphs).

Example:
>>> registry = ModelRegistry("saved_models", poll_interval_s=1.0)
>>> registry.start()                      # loads every model, then polls
>>> served = registry.get("my_model")     # the LoadedVersion serving now
>>> served.predict("serving_default", {"text": np.array([b"a fine film"], dtype=object)})
"""

import asyncio
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
from bertlab.serving.dynamic_batcher import DynamicBatcher

log = logging.getLogger("bertlab.serving")


class NotFound(LookupError):
    """No such model, or no such version being served (HTTP 404)."""


class BatchingOptions:
    """`enabled`, `max_batch_size`, `batch_timeout_s`, `max_concurrent_batches`."""

    def __init__(self, enabled=True, max_batch_size=32, batch_timeout_s=0.002,
                 max_concurrent_batches=1):
        self.enabled = bool(enabled)
        self.max_batch_size = int(max_batch_size)
        self.batch_timeout_s = float(batch_timeout_s)
        self.max_concurrent_batches = int(max_concurrent_batches)


def _signature_json(signature_def):
    # TF Serving prints default values too (`"unknown_rank": false`, `"name": ""`).
    return json_format.MessageToDict(signature_def, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True)


class LoadedVersion:
    """One loaded version: its signatures (input/output specs), metadata and batchers.

    `metadata` is what the exporter wrote (`bertlab.export.read_metadata`), unchanged,
    or `{}` for a SavedModel without it; the registry does not interpret it.
    """

    def __init__(self, name, version, path, batching, executor=None):
        self.name, self.version, self.path = name, int(version), path
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
        try:
            self.metadata = read_metadata(path)  # what the exporter wrote, passed on as is
        except FileNotFoundError:
            self.metadata = {}
        self._executor = executor
        self._batchers = {}
        if batching.enabled:
            for key in self._functions:
                if all(shape and shape[0] == -1 for _, shape in self.inputs[key].values()):
                    self._batchers[key] = DynamicBatcher(
                        lambda inputs, key=key: self.predict(key, inputs),
                        batching.max_batch_size, batching.batch_timeout_s,
                        batching.max_concurrent_batches, executor)

    def predict(self, signature, inputs):
        """Runs a signature on numpy inputs (in the calling thread); numpy outputs."""
        function = self._functions[signature]
        tensors = {n: tf.constant(v, dtype=tf.as_dtype(self.inputs[signature][n][0]))
                   for n, v in inputs.items()}
        return {k: v.numpy() for k, v in function(**tensors).items()}

    async def predict_async(self, signature, inputs):
        """`predict` through the signature's dynamic batcher (or a worker thread)."""

        batcher = self._batchers.get(signature)
        if batcher is not None:
            return await batcher.run(inputs)
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self.predict, signature, inputs)

    def batch_stats(self):
        return {k: b.stats.as_dict() for k, b in self._batchers.items()}

    def warm_up(self):
        """Replays the export's warm-up requests; returns how many ran."""
        requests = read_warmup_requests(self.path)
        for signature, inputs in requests:
            if signature not in self._functions:
                raise ValueError(f"Warm-up request for unknown signature {signature!r}.")
            self.predict(signature, inputs)
        return len(requests)

    def metadata_json(self):
        """TF Serving's `GET /v1/models/<name>/metadata` body."""
        return {"model_spec": {"name": self.name, "signature_name": "",
                               "version": str(self.version)},
                "metadata": {"signature_def": {
                    "signature_def": {k: _signature_json(v)
                                      for k, v in sorted(self.signature_defs.items())}}}}


def _version_status(version, state, error=""):
    return {"version": str(version), "state": state,
            "status": {"error_code": "UNKNOWN" if error else "OK", "error_message": error}}


class _Model:
    def __init__(self, name, directory):
        self.name, self.directory = name, directory
        self.current = None            # LoadedVersion
        self.failed = {}               # version -> (file signature, error)
        self.retired = []              # versions served before, now unloaded
        self.loading = None            # version being loaded


class ModelRegistry:
    """Loads, serves and hot-swaps the newest version of every model under a base path.

    Args:
      model_base_path: the directory holding one directory per model.
      poll_interval_s: seconds between file-system checks (0: no polling).
      batching: `BatchingOptions`.
      warm_up: replay each version's warm-up requests before serving it.
    """

    def __init__(self, model_base_path, poll_interval_s=1.0, batching=None, warm_up=True):
        self.model_base_path = os.path.realpath(os.fspath(model_base_path))
        if not os.path.isdir(self.model_base_path):
            raise FileNotFoundError(f"Model base path not found: {model_base_path}")
        self.poll_interval_s = float(poll_interval_s)
        self.batching = batching or BatchingOptions()
        self.warm_up = bool(warm_up)
        self._models = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        # Shared by every version's batchers: a retired version's requests still finish.
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=16, thread_name_prefix="predict")

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
        """One file-system check: loads and swaps in whatever is newer. Returns the
        `{name: version}` served afterwards."""
        try:
            found = discover_models(self.model_base_path)
        except FileNotFoundError:
            log.error("Model base path %s disappeared; still serving what is loaded.",
                      self.model_base_path)
            found = {}
        for name, directory in found.items():
            with self._lock:
                model = self._models.setdefault(name, _Model(name, directory))
            self._sync_model(model)
        with self._lock:
            return {n: m.current.version for n, m in self._models.items() if m.current}

    @staticmethod
    def _file_signature(path):
        try:
            stat = os.stat(os.path.join(path, "saved_model.pb"))
            return (stat.st_mtime_ns, stat.st_size)
        except OSError:
            return None

    def _sync_model(self, model):
        versions = servable_versions(model.directory)
        candidates = []
        for version in reversed(versions):
            path = os.path.join(model.directory, str(version))
            failed = model.failed.get(version)
            if failed and failed[0] == self._file_signature(path):
                continue
            candidates.append((version, path))
        if not candidates:
            return
        version, path = candidates[0]
        if model.current is not None and model.current.version == version:
            return
        if model.current is not None and version < model.current.version and \
                os.path.isdir(model.current.path):
            return  # the served version is still the newest loadable one
        model.loading = version
        started = time.monotonic()
        try:
            loaded = LoadedVersion(model.name, version, path, self.batching, self._executor)
            requests = loaded.warm_up() if self.warm_up else 0
        except Exception as error:  # noqa: BLE001  (refuse this version, keep serving)
            message = f"{type(error).__name__}: {error}".strip()
            model.failed[version] = (self._file_signature(path), message[:2000])
            log.error("Refusing %s version %d (%s): %s; %s", model.name, version, path,
                      message[:500], "still serving version %d" % model.current.version
                      if model.current else "no version is served")
            return
        finally:
            model.loading = None
        with self._lock:
            previous, model.current = model.current, loaded
            model.failed.pop(version, None)
            if previous is not None:
                model.retired = ([previous.version] + model.retired)[:5]
        log.info("Serving %s version %d (%s; %d warm-up requests; %.1f s)", model.name,
                 version, path, requests, time.monotonic() - started)

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
            for failed, (_, error) in sorted(model.failed.items(), reverse=True):
                entries.append(_version_status(failed, "END", error))
            if model.current is not None:
                entries.append(_version_status(model.current.version, "AVAILABLE"))
            entries += [_version_status(v, "END") for v in model.retired]
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
