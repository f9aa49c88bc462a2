"""Fixtures shared by the BERT tokenizer and preprocessor tests: the checkpoint's own
reference tokenizer, and real texts in several scripts to compare on."""

import json

import pytest


@pytest.fixture(scope="module")
def reference(minilm_dir):
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer.from_file(f"{minilm_dir}/tokenizer.json")
    tok.no_truncation()
    tok.no_padding()
    return tok


@pytest.fixture(scope="module")
def real_texts(data_dir):
    sst2 = [l.split("\t")[0] for l in
            (data_dir / "sst2" / "dev.tsv").read_text("utf-8").splitlines()[1:201]]
    zh = [l.split("\t", 1)[1] for l in
          (data_dir / "chnsenticorp" / "train.tsv").read_text("utf-8").splitlines()[1:101]]
    tatoeba = (data_dir / "tatoeba_zh_en" / "valid.tsv").read_text("utf-8").splitlines()[:100]
    en, zh2 = zip(*[(l.split("\t")[0], l.split("\t")[1]) for l in tatoeba])
    sci = [" ".join(json.loads(l)["source"])[:600] for l in
           (data_dir / "scitldr" / "dev.jsonl").read_text("utf-8").splitlines()[:40]]
    handmade = ["Héllo  WÖRLD!! naïve café, 3.14 — “quoted” … Ångström ﬁ ligature",
                "ｆｕｌｌｗｉｄｔｈ（テスト）", "tab\tand\u00a0nbsp\u3000ideographic space",
                "zero\u200bwidth soft\u00adhyphen", "", "   ", "a" * 150 + " word",
                "Crème brûlée costs $3,000.50 (approx.) in 2024!"]
    return sst2 + zh + list(en) + list(zh2) + sci + handmade
