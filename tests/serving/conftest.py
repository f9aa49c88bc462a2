"""Session-wide small real exports of the four apps, and a local server over them."""

import pathlib

import pytest

from tests.conftest import REPO_ROOT

STATIC_DIR = REPO_ROOT / "apps" / "serve" / "static"


@pytest.fixture(scope="session")
def exports(tmp_path_factory, minilm_dir, data_dir):
    """`{name: version directory}` of sentiment, ner, translation, translation_de_en and
    summarization, all under one model base path (`.parent.parent` of each)."""
    from tests.serving.exports import build_exports

    root = tmp_path_factory.mktemp("saved_models")
    paths = build_exports(root, minilm_dir, str(data_dir))
    return {name: pathlib.Path(path) for name, path in paths.items()}


@pytest.fixture(scope="session")
def model_base_path(exports):
    return exports["sentiment"].parent.parent


@pytest.fixture(scope="session")
def server(model_base_path):
    """A started registry (no polling: these models do not change) and server with the page,
    as `python -m apps.serve` runs them (the page's app views included)."""
    from apps.serve.app_views import describe
    from bertlab.serving.model_registry import ModelRegistry
    from bertlab.serving.rest_server import BackgroundServer, create_app

    registry = ModelRegistry(model_base_path, poll_interval_s=0).start()
    background = BackgroundServer(create_app(registry, str(STATIC_DIR),
                                             describe=describe)).start()
    background.registry = registry
    yield background
    background.stop()
    registry.stop()
