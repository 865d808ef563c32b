"""Classifiers: the Hugging Face teacher, the compact students (by name), tokenizer and artifacts."""

from fedrobust.models import students  # noqa: F401  (registers the students)
from fedrobust.models.base import ClassifierOutput, TextClassifier
from fedrobust.models.io import load_model, save_model
from fedrobust.models.registry import STUDENTS, build_student
from fedrobust.models.teacher import HFTeacher
from fedrobust.models.tokenizer import WordPieceTokenizer

__all__ = [
    "STUDENTS",
    "ClassifierOutput",
    "HFTeacher",
    "TextClassifier",
    "WordPieceTokenizer",
    "build_student",
    "load_model",
    "save_model",
]
