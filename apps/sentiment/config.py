"""The sentiment app's config: the YAML files in `configs/sentiment/`, read into the
classification app's config (`apps.classify.config.ClassifyConfig`)."""

from apps.classify.config import REPO_ROOT, ClassifyConfig

APP_NAME = "sentiment"
SentimentConfig = ClassifyConfig

__all__ = ["APP_NAME", "REPO_ROOT", "SentimentConfig"]
