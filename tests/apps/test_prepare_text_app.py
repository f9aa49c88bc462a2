"""`apps.pretrain.prepare_text` on gzip-compressed WikiExtractor text: whole articles held out,
sentences split, the corpus streamed."""

import gzip

from bertlab.pretraining import corpus
from tests.apps.app_process import run_apps


def _article(i):
    return (f"标题{i}\n第{i}篇文章的第一句。第二句！\n历史.\n"
            f"Article {i} has a Western sentence. And a second one?\n")


def test_prepare_text_holds_out_whole_articles(tmp_path):
    # Ten articles in two gzip files (6 + 4).
    for name, numbers in (("zh_000.txt.gz", range(6)), ("zh_001.txt.gz", range(6, 10))):
        text = "\n".join(_article(i) for i in numbers)
        (tmp_path / name).write_bytes(gzip.compress(text.encode("utf-8")))
    out = tmp_path / "out"
    ok, too_many = run_apps([
        ("apps.pretrain.prepare_text", [f"--input={tmp_path}/zh_*.txt.gz",
                                        "--input_format=wikiextractor", f"--output_dir={out}",
                                        "--validation_documents=3"]),
        ("apps.pretrain.prepare_text", [f"--input={tmp_path}/zh_*.txt.gz",
                                        "--input_format=wikiextractor",
                                        f"--output_dir={tmp_path}/none",
                                        "--validation_documents=10"]),
    ], expect_ok=False)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "train: 7 documents, 28 sentences" in ok.stdout
    assert "validation: 3 documents, 12 sentences" in ok.stdout
    train = list(corpus.read_documents([str(out / "train.txt")]))
    validation = list(corpus.read_documents([str(out / "validation.txt")]))
    # Every 10/3-th article, from the middle of each stretch: articles 1, 5 and 8.
    assert [d[0] for d in validation] == ["第1篇文章的第一句。", "第5篇文章的第一句。",
                                          "第8篇文章的第一句。"]
    assert validation[0] == ["第1篇文章的第一句。", "第二句！", "Article 1 has a Western sentence.",
                             "And a second one?"]
    assert sorted(d[0] for d in train + validation) == sorted(
        f"第{i}篇文章的第一句。" for i in range(10))
    assert not [p for p in out.iterdir() if ".tmp" in p.name]
    assert too_many.returncode != 0
    assert "--validation_documents=10 leaves no training text (10 documents)" in too_many.stderr
