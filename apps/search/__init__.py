"""Semantic search: index a corpus with a sentence embedder, query the index.

    python -m apps.search.index --corpus=docs.jsonl --export_dir=saved_models/search
    python -m apps.search.query --model_dir=saved_models/search --k=5 "who wrote it?"
"""
