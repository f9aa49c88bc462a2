"""Text classification: fine-tune, evaluate and query a BERT classifier on raw text or text pairs.

    python -m apps.classify.train --config=configs/classify/ag_news.yaml
    python -m apps.classify.evaluate --config=configs/classify/ag_news.yaml \
        --model_dir=saved_models/ag_news
    python -m apps.classify.predict --model_dir=saved_models/ag_news "Stocks fall on rate fears"

`apps.sentiment` is this app with the sentiment configs (`configs/sentiment/`).
"""
