"""A local server over the session's small real exports (`exports`, `model_base_path`:
tests/conftest.py)."""

import contextlib

import pytest

from tests.conftest import REPO_ROOT

STATIC_DIR = REPO_ROOT / "apps" / "serve" / "static"


@contextlib.contextmanager
def serving(model_base_path):
    """A started registry (no polling: these models do not change; warm-up replayed) and
    server with the page, as `python -m apps.serve` runs them (the page's app views
    included); stopped on exit."""
    from apps.serve.app_views import describe
    from bertlab.serving.model_registry import ModelRegistry
    from bertlab.serving.rest_server import BackgroundServer, create_app

    registry = ModelRegistry(model_base_path, poll_interval_s=0).start()
    background = BackgroundServer(create_app(registry, str(STATIC_DIR),
                                             describe=describe)).start()
    background.registry = registry
    try:
        yield background
    finally:
        background.stop()
        registry.stop()


@pytest.fixture(scope="session")
def server(model_base_path):
    """`serving(model_base_path)` for the session."""
    with serving(model_base_path) as background:
        yield background
