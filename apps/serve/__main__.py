"""Serves every exported app with TF Serving's REST API, and the demo page at `/`.

    python -m apps.serve [--model_base_path=saved_models] [--port=8501] [--host=127.0.0.1]
        [--max_batch_size=32] [--batch_timeout_ms=2] [--poll_interval_s=1]

Clients written for `tensorflow_model_server --rest_api_port=8501` work
unchanged: `GET /v1/models/<name>`, `GET /v1/models/<name>/metadata`,
`POST /v1/models/<name>[/versions/<v>]:predict`. The newest version of each
model is served; a new version exported meanwhile is loaded, warmed up and
swapped in without a restart; a broken one is refused (logged) while the
previous one keeps serving. Concurrent requests are batched on the server.
Binds to 127.0.0.1 (this machine only) unless `--host` says otherwise.
What the demo page shows of each model comes from its export's metadata,
read by `apps.serve.app_views` (the server itself knows no app).
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
flags.DEFINE_bool("enable_batching", True, "Batch concurrent requests on the server.")
flags.DEFINE_integer("max_batch_size", 32, "Most rows in one batched model call.", lower_bound=1)
flags.DEFINE_float("batch_timeout_ms", 2.0, "Longest a request waits for others to batch "
                   "with.", lower_bound=0.0)
flags.DEFINE_integer("max_body_bytes", 1 << 20, "Largest request body accepted (413 beyond).",
                     lower_bound=1)
flags.DEFINE_integer("max_text_chars", 5000, "Longest text accepted in a string input (413 "
                     "beyond; 0: no limit).", lower_bound=0)
flags.DEFINE_integer("max_rows", 256, "Most rows (texts) in one request.", lower_bound=1)
flags.DEFINE_bool("warm_up", True, "Replay each version's warm-up requests before serving it.")
flags.DEFINE_bool("demo_page", True, "Serve the demo page at /.")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # deferred: the server loads TensorFlow (seconds); `--help` and usage errors answer at once
    from apps.serve.app_views import describe
    # deferred: as above
    from bertlab.serving.model_registry import BatchingOptions, ModelRegistry
    # deferred: as above
    from bertlab.serving.rest_codec import Limits
    # deferred: as above
    from bertlab.serving.rest_server import BackgroundServer, create_app

    try:
        registry = ModelRegistry(
            FLAGS.model_base_path, poll_interval_s=FLAGS.poll_interval_s,
            batching=BatchingOptions(FLAGS.enable_batching, FLAGS.max_batch_size,
                                     FLAGS.batch_timeout_ms / 1000.0),
            warm_up=FLAGS.warm_up)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    registry.start()
    if not registry.names():
        logging.warning("No exported model under %s yet; waiting for one to appear.",
                        FLAGS.model_base_path)
    application = create_app(registry, str(STATIC_DIR) if FLAGS.demo_page else None,
                             max_body_bytes=FLAGS.max_body_bytes,
                             limits=Limits(FLAGS.max_rows, FLAGS.max_text_chars),
                             describe=describe)
    try:
        server = BackgroundServer(application, FLAGS.host, FLAGS.port, log_level="info",
                                  access_log=True)
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
