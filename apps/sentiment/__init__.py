"""Sentiment classification: fine-tune, evaluate and query a BERT classifier on raw text.

    python -m apps.sentiment.train --config=configs/sentiment/default.yaml
    python -m apps.sentiment.evaluate --model_dir=saved_models/sentiment/1 --data=FILE
    python -m apps.sentiment.predict --model_dir=saved_models/sentiment/1 "a fine film"
"""
