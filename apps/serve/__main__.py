"""Serves every exported app with TF Serving's REST API, and the demo page at `/`.

    python -m apps.serve [--model_base_path=saved_models] [--port=8501] [--host=127.0.0.1]
        [--max_batch_size=32] [--batch_timeout_ms=2] [--max_concurrent_batches=1]
        [--max_queued_requests=64] [--request_timeout_ms=10000] [--max_connections=1024]
        [--header_timeout_s=10] [--body_timeout_s=30] [--graceful_shutdown_s=10]
        [--poll_interval_s=1] [--noapproximate_search]
        [--prefer_tflite_model [--tflite_file=model.tflite] [--tflite_num_threads=N]]

Clients written for `tensorflow_model_server --rest_api_port=8501` work
unchanged: `GET /v1/models/<name>`, `GET /v1/models/<name>/metadata`,
`POST /v1/models/<name>[/versions/<v>]:predict` (with `Content-Type:
application/json`). The newest version of each model is served; a new version
exported meanwhile is loaded, warmed up and swapped in without a restart; a
broken one is refused (logged) and retried with back-off while the previous
one keeps serving; a deleted one is unloaded. Concurrent requests are batched
on the server.

Under overload the server refuses rather than queues: each model queues at
most `--max_queued_requests` requests (the next gets 503 with `Retry-After`),
a request that waited `--request_timeout_ms` without starting gets 504, and a
request larger than `--max_batch_size` rows is split so it never holds the
batch slot. A connection must send its request head within
`--header_timeout_s` and its body within `--body_timeout_s` (408), at most
`--max_connections` are open (503), and SIGTERM stops accepting, finishes the
requests in flight and exits within `--graceful_shutdown_s`.

A search index exported with an approximate index (`apps.search.index
--approximate`) answers `serving_default` and `search` through it (same
request and response; its `/metadata` names the index under
`approximate_index`); `--noapproximate_search` answers exactly instead, as
stock TF Serving, which ignores the index, always does.

With `--prefer_tflite_model` (as TF Serving's), a version whose directory holds
`--tflite_file` (`model.tflite`, or `model.dynamic.tflite` / `model.int8.tflite`:
`python -m apps.export_litert`) is served from it through the LiteRT interpreter,
behind the same API: its signatures are the file's (`serve_token_ids`, token ids
in); versions without the file are served from their SavedModel.

Binds to 127.0.0.1 (this machine only) unless `--host` says otherwise; on a
loopback address only requests for localhost, 127.0.0.1 or [::1] are answered
(DNS-rebinding protection). What the demo page shows of each model comes from
its export's metadata, read by `apps.serve.app_views` (the server itself knows
no app).
"""

import logging
import pathlib
import sys

from absl import app, flags

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
STATIC_DIR = pathlib.Path(__file__).resolve().parent / "static"

flags.DEFINE_string("model_base_path", str(REPO_ROOT / "saved_models"),
                    "Directory with one directory per model (<name>/<version>/saved_model.pb).")
flags.DEFINE_string("host", "127.0.0.1", "Address to listen on (0.0.0.0: every interface).")
flags.DEFINE_integer("port", 8501, "Port of the REST API and the demo page.", lower_bound=0,
                     upper_bound=65535)
flags.DEFINE_float("poll_interval_s", 1.0, "Seconds between checks for new versions "
                   "(0: never).", lower_bound=0.0)
flags.DEFINE_integer("max_load_retries", 5, "Times a version that failed to load is tried "
                     "again while its files stay the same.", lower_bound=0)
flags.DEFINE_float("load_retry_interval_s", 1.0, "Seconds before the first retry of a "
                   "version that failed to load; doubles after each failure.", lower_bound=0.0)
flags.DEFINE_bool("enable_batching", True, "Batch concurrent requests on the server.")
flags.DEFINE_integer("max_batch_size", 32, "Most rows in one batched model call (a larger "
                     "request is split).", lower_bound=1)
flags.DEFINE_float("batch_timeout_ms", 2.0, "Longest a request waits for others to batch "
                   "with.", lower_bound=0.0)
flags.DEFINE_integer("max_concurrent_batches", 1, "Model calls of one signature running at "
                     "once.", lower_bound=1)
flags.DEFINE_integer("max_queued_requests", 64, "Most requests waiting per model; the next "
                     "is refused at once with 503 and Retry-After (0: no bound).",
                     lower_bound=0)
flags.DEFINE_float("request_timeout_ms", 10000.0, "A request that waited this long without "
                   "starting is answered 504 and not run (0: no deadline).", lower_bound=0.0)
flags.DEFINE_integer("max_connections", 1024, "Most open connections; the next is answered "
                     "503 and closed.", lower_bound=1)
flags.DEFINE_float("header_timeout_s", 10.0, "Seconds a connection has to send a request's "
                   "head (408 and closed after).", lower_bound=0.001)
flags.DEFINE_float("body_timeout_s", 30.0, "Seconds a connection has to send a request's "
                   "body after its head (408 and closed after).", lower_bound=0.001)
flags.DEFINE_float("keep_alive_timeout_s", 30.0, "Seconds an idle connection is kept after a "
                   "response.", lower_bound=0.001)
flags.DEFINE_float("graceful_shutdown_s", 10.0, "On SIGTERM or Ctrl-C, the longest the "
                   "server waits for the requests in flight before exiting.", lower_bound=0.0)
flags.DEFINE_integer("max_body_bytes", 1 << 20, "Largest request body accepted (413 beyond).",
                     lower_bound=1)
flags.DEFINE_integer("max_text_chars", 5000, "Longest text accepted in a string input (413 "
                     "beyond; 0: no limit).", lower_bound=0)
flags.DEFINE_integer("max_rows", 256, "Most rows (texts) in one request.", lower_bound=1)
flags.DEFINE_integer("event_loop_nice", 10, "Added to the HTTP event loop thread's nice value: "
                     "under overload the model's threads get the CPU before the refusals "
                     "(0: same priority).", lower_bound=0, upper_bound=19)
flags.DEFINE_bool("warm_up", True, "Replay each version's warm-up requests before serving it.")
flags.DEFINE_bool("approximate_search", True, "Answer a search index built with --approximate "
                  "(apps.search.index) through its approximate index; false: exactly, as TF "
                  "Serving does.")
flags.DEFINE_bool("prefer_tflite_model", False, "Serve a version from its LiteRT file "
                  "(--tflite_file) when it has one, as TF Serving's flag does.")
flags.DEFINE_string("tflite_file", "model.tflite", "The LiteRT file of a version that "
                    "--prefer_tflite_model serves (model.tflite, model.dynamic.tflite, "
                    "model.int8.tflite).")
flags.DEFINE_integer("tflite_num_threads", None, "CPU threads of each LiteRT call (default: "
                     "LiteRT's).", lower_bound=1)
flags.DEFINE_bool("demo_page", True, "Serve the demo page at /.")
flags.DEFINE_bool("access_log", True, "Log one line per request.")
FLAGS = flags.FLAGS


def raise_open_files_limit(needed):
    """Raises this process's soft limit on open files to `needed` (at most the hard
    limit), so that `--max_connections` can be reached; warns if it cannot."""
    try:
        # deferred: POSIX only; elsewhere the limit is left as it is
        import resource
    except ImportError:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < needed:
            logging.warning("Only %d files may be open (the hard limit); --max_connections="
                            "%d will not be reached.", target, FLAGS.max_connections)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # deferred: the server loads TensorFlow (seconds); `--help` and usage errors answer at once
    from apps.serve.app_views import describe
    # deferred: as above
    from bertlab.serving.http_protocol import ConnectionLimits
    # deferred: as above
    from bertlab.serving.model_registry import BatchingOptions, ModelRegistry
    # deferred: as above
    from bertlab.serving.litert_servable import LiteRTOptions
    # deferred: as above
    from bertlab.serving.rest_codec import Limits
    # deferred: as above
    from bertlab.serving.rest_server import BackgroundServer, create_app

    try:
        litert = (LiteRTOptions(FLAGS.tflite_file, FLAGS.tflite_num_threads)
                  if FLAGS.prefer_tflite_model else None)
        registry = ModelRegistry(
            FLAGS.model_base_path, poll_interval_s=FLAGS.poll_interval_s,
            batching=BatchingOptions(FLAGS.enable_batching, FLAGS.max_batch_size,
                                     FLAGS.batch_timeout_ms / 1000.0,
                                     FLAGS.max_concurrent_batches, FLAGS.max_queued_requests,
                                     FLAGS.request_timeout_ms / 1000.0),
            warm_up=FLAGS.warm_up, max_load_retries=FLAGS.max_load_retries,
            load_retry_interval_s=FLAGS.load_retry_interval_s,
            approximate_search=FLAGS.approximate_search, litert=litert)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    raise_open_files_limit(FLAGS.max_connections + 256)  # + the models' files, the logs
    registry.start()
    if not registry.names():
        logging.warning("No exported model under %s yet; waiting for one to appear.",
                        FLAGS.model_base_path)
    application = create_app(registry, str(STATIC_DIR) if FLAGS.demo_page else None,
                             max_body_bytes=FLAGS.max_body_bytes,
                             limits=Limits(FLAGS.max_rows, FLAGS.max_text_chars),
                             describe=describe)
    try:
        server = BackgroundServer(
            application, FLAGS.host, FLAGS.port, log_level="info",
            access_log=FLAGS.access_log,
            limits=ConnectionLimits(FLAGS.max_connections, FLAGS.header_timeout_s,
                                    FLAGS.body_timeout_s, FLAGS.keep_alive_timeout_s),
            graceful_shutdown_s=FLAGS.graceful_shutdown_s, event_loop_nice=FLAGS.event_loop_nice)
    except OSError as e:
        print(f"error: cannot listen on {FLAGS.host}:{FLAGS.port}: {e}", file=sys.stderr)
        sys.exit(1)
    logging.info("Serving %s on %s (demo page at %s/)", ", ".join(registry.names()) or
                 "nothing yet", server.url, server.url)
    try:
        server.run_forever()
    finally:
        registry.stop()


if __name__ == "__main__":
    app.run(main)
