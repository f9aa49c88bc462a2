"""The apps' Chinese configs train from the committed bertlab-zh-mini, as a user runs it:
`python -m apps.<app>.train --config=configs/<app>/<chinese>.yaml` on a few examples of its real
data, with the config's own encoder (no --init: the config names bertlab-zh-mini), to an export.
Each Chinese config naming it is checked by `test_chinese_configs_name_bertlab_zh_mini`."""

import json
import os

import pytest

from bertlab.pretrained import ZH_MINI
from tests.apps.app_process import run_apps
from tests.conftest import REPO_ROOT

FEW = ["--set=task.data.max_train_examples=48", "--set=task.data.max_validation_examples=16",
       "--set=schedule.epochs=1", "--set=trainer.global_batch_size=16"]
QA = [*FEW, "--set=task.sequence_length=128", "--set=task.max_query_length=32",
      "--set=task.doc_stride=64"]
# app module, config, extra flags
RUNS = {
    "sentiment": ("apps.sentiment.train", "sentiment/chnsenticorp",
                  [*FEW, "--set=task.sequence_length=64"]),
    "classify": ("apps.classify.train", "classify/thucnews_titles", FEW),
    # the tags of 48 messages are not all of dev's: no report split
    "ner": ("apps.ner.train", "ner/weibo", [*FEW, "--set=task.sequence_length=128",
                                            "--set=task.data.report=\"\""]),
    "qa": ("apps.qa.train", "qa/cmrc2018", QA),     # drcd.yaml: the same app and encoder
    "search": ("apps.search.train", "search/chinese_stsb",
               [*FEW, "--set=task.sequence_length=32", "--set=task.data.report=\"\""]),
    "summarization": ("apps.summarization.train", "summarization/csl_ts", [
        "--set=data.train_limit=8", "--set=data.validation_limit=3",
        "--set=task.max_source_length=32", "--set=task.max_target_length=12",
        "--set=task.model.bert_decoder_layers=1", "--set=trainer.train_steps=2",
        "--set=trainer.global_batch_size=4", "--set=trainer.steps_per_loop=2",
        "--set=trainer.log_interval=2", "--set=trainer.checkpoint_interval=2",
        "--set=optimizer.warmup_steps=1", "--set=selection.num_checkpoints=1",
        "--set=selection.average_last=0", "--set=decoding.max_length=4",
        "--set=decoding.method=greedy", "--export_max_length=6"]),
}


# Each run is a fresh process with an export (~25 s of CPU, two side by side): CI's 15 minutes
# hold one of them (a clean-clone suite with all six took 16:26 on 2026-12-08; they passed).
# BERTLAB_CHINESE_APPS=all (or names of RUNS, comma-separated) runs more.
_WANTED = os.environ.get("BERTLAB_CHINESE_APPS", "sentiment")
SELECTED = [name for name in RUNS if _WANTED == "all" or name in _WANTED.split(",")]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir):
    tmp = tmp_path_factory.mktemp("zh")
    results = run_apps([
        (module, [f"--config=configs/{config}.yaml", f"--data_dir={data_dir}",
                  f"--model_dir={tmp}/{name}/run", f"--export_dir={tmp}/{name}/export", *extra])
        for name, (module, config, extra) in RUNS.items() if name in SELECTED], expect_ok=False)
    return tmp, dict(zip(SELECTED, results))


@pytest.mark.parametrize("name", SELECTED)
def test_chinese_config_fine_tunes_bertlab_zh_mini_to_an_export(runs, name):
    tmp, results = runs
    result = results[name]
    assert result.returncode == 0, result.stderr[-4000:]
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    export = tmp / name / "export" / "1"
    assert printed["export"]["path"] == str(export)
    metadata = json.loads((export / "assets.extra" / "bertlab_export.json").read_text())
    assert (metadata.get("init") or metadata.get("init_from_bert")) == ZH_MINI, metadata


@pytest.mark.parametrize("app, config", [
    ("sentiment", "chnsenticorp"), ("ner", "weibo"), ("classify", "thucnews_titles"),
    ("qa", "cmrc2018"), ("qa", "drcd"), ("search", "chinese_stsb"), ("summarization", "csl_ts")])
def test_chinese_configs_name_bertlab_zh_mini(app, config):
    import yaml

    with open(REPO_ROOT / "configs" / app / f"{config}.yaml", encoding="utf-8") as f:
        task = yaml.safe_load(f)["task"]
    init = task["model"]["init_from_bert"] if app == "summarization" else task["encoder"]["init"]
    assert init == ZH_MINI
