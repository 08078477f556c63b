"""Digitisation: pages → preprocessing → OCR → layout → field extraction → validation.

The public surface is small: read a document's words, extract a form (one file in
this process, or many files over a pool of processes), and the validators that
caseworker corrections share. Everything else is an implementation detail.
"""

from ocr.engines import OcrEngine, engine_for
from ocr.pipeline import extract_files, extract_form, extract_path, read_words
from ocr.reading import OcrOptions
from ocr.validators import Normalised, normalise

__all__ = [
    "Normalised",
    "OcrEngine",
    "OcrOptions",
    "engine_for",
    "extract_files",
    "extract_form",
    "extract_path",
    "normalise",
    "read_words",
]
