"""Semantic search: index a corpus with a sentence embedder, query the index.

    python -m apps.search.index --corpus=docs.jsonl --export_dir=saved_models/search
    python -m apps.search.query --model_dir=saved_models/search --k=5 "who wrote it?"
    python -m apps.search.train [--config=configs/search/default.yaml]   # fine-tune the embedder
    python -m apps.search.evaluate --data=../shared/data/stsbenchmark/sts-dev.csv
"""
