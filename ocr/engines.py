"""OCR engines behind one interface, and the one place Tesseract's failures become ours.

Two engines read with Tesseract:

* ``TesseractCliEngine`` runs the ``tesseract`` program through pytesseract, giving it
  a file at the right DPI (a PIL image reaches it without its DPI, and costs more).
* ``TesserocrEngine`` runs Tesseract inside this process through tesserocr: no process
  start and no image file per call, which matters for the many small field crops.

A second engine, ``RapidOcrEngine``, reads with PP-OCRv6 small (rapidocr, whose wheel
carries the ONNX models: nothing is downloaded). It reads handwriting that Tesseract,
trained on print, misses, at about four times Tesseract's cost per crop, so fields ask
it only where Tesseract is unsure or the writing looks handwritten, and vote.

Tesseract parallelises with OpenMP, which on a busy machine makes one page 4× slower;
we run pages in parallel processes instead, so ``OMP_THREAD_LIMIT=1`` is set here,
before any Tesseract starts (subprocesses inherit it, and tesserocr is imported later).
"""

from __future__ import annotations

import os

os.environ["OMP_THREAD_LIMIT"] = "1"

import math
import re
import shutil
import subprocess
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import IntEnum
from functools import cache, cached_property
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
from PIL import Image

from domain.errors import OcrEngineError
from ocr.ctc import CharFrames

GrayImage = np.ndarray[Any, np.dtype[np.uint8]]
PixelBox = tuple[int, int, int, int]
"""x0, y0, x1, y1 in pixels."""

LANGUAGE = "eng"
TIMEOUT_SECONDS = 120

_TESSDATA_CANDIDATES = [
    "/usr/share/tesseract-ocr/5/tessdata",
    "/usr/share/tesseract-ocr/4.00/tessdata",
    "/usr/share/tessdata",
    "/usr/local/share/tessdata",
    "/opt/homebrew/share/tessdata",
]


class PageSegMode(IntEnum):
    """Tesseract's page segmentation modes that we use."""

    AUTO = 3
    SINGLE_BLOCK = 6
    SINGLE_LINE = 7
    SINGLE_WORD = 8
    SPARSE = 11


@dataclass(frozen=True)
class OcrWord:
    """A word as an engine read it: text, confidence 0..1, box in pixels.

    ``weakest_char`` is the lowest confidence of its characters when the engine gives
    them: Tesseract marks down whole words that are not in its dictionary (postcodes,
    dates), while its per-character confidences show a real misreading.
    """

    text: str
    confidence: float
    box: PixelBox
    weakest_char: float | None = None


@dataclass(frozen=True)
class Orientation:
    """How far to turn a page clockwise to make it upright, and how sure OSD is."""

    rotate: int
    confidence: float


class OcrEngine(ABC):
    """Reads words from a grayscale image. Engines are picked by name (``engine_for``)."""

    name: ClassVar[str]

    @abstractmethod
    def read(
        self, image: GrayImage, *, dpi: int, mode: PageSegMode = PageSegMode.AUTO
    ) -> list[OcrWord]:
        """The words of an image.

        Args:
            image: 8-bit grayscale pixels.
            dpi: the image's resolution; Tesseract sizes its expectations by it.
            mode: how Tesseract should segment the image.

        Raises:
            OcrEngineError: Tesseract is missing, crashed or timed out.
        """

    @abstractmethod
    def orientation(self, image: GrayImage, *, dpi: int) -> Orientation:
        """Which way up the text is (Tesseract OSD).

        Raises:
            OcrEngineError: Tesseract is missing, crashed or timed out.
        """

    def char_frames(
        self, image: GrayImage, mode: PageSegMode = PageSegMode.SINGLE_LINE
    ) -> CharFrames | None:
        """Per-frame character probabilities of one line (``ocr.ctc``), from an engine
        whose recogniser gives them; None from one that does not (Tesseract)."""
        return None


@contextmanager
def tesseract_failures(what: str) -> Iterator[None]:
    """Turn whatever Tesseract raises into ``OcrEngineError``: the one place that does."""
    try:
        yield
    except OcrEngineError:
        raise
    except Exception as e:  # pytesseract and tesserocr raise plain and varied types
        raise OcrEngineError(f"Tesseract failed while {what}: {type(e).__name__}: {e}") from e


@cache
def tessdata_dir() -> str:
    """The folder holding ``eng.traineddata``: TESSDATA_PREFIX, what the CLI reports, or a
    usual place.

    Raises:
        OcrEngineError: no folder holds the English model.
    """
    candidates: list[str] = []
    if prefix := os.environ.get("TESSDATA_PREFIX"):
        candidates += [prefix, str(Path(prefix) / "tessdata")]
    if binary := shutil.which("tesseract"):
        try:
            listing = subprocess.run(
                [binary, "--list-langs"], capture_output=True, text=True, timeout=30, check=False
            )
            if found := re.search(r'"([^"]+)"', listing.stdout + listing.stderr):
                candidates.append(found.group(1))
        except (OSError, subprocess.SubprocessError):
            pass
    candidates += _TESSDATA_CANDIDATES
    for folder in candidates:
        if (Path(folder) / f"{LANGUAGE}.traineddata").is_file():
            return folder.rstrip("/") + "/"
    raise OcrEngineError(f"no Tesseract language data ({LANGUAGE}.traineddata) found")


class TesseractCliEngine(OcrEngine):
    """The ``tesseract`` program through pytesseract, one process per call."""

    name = "tesseract"

    def read(
        self, image: GrayImage, *, dpi: int, mode: PageSegMode = PageSegMode.AUTO
    ) -> list[OcrWord]:
        import pytesseract

        with _image_file(image, dpi) as path, tesseract_failures("reading a page"):
            data = pytesseract.image_to_data(
                path,
                lang=LANGUAGE,
                config=f"--psm {int(mode)} --dpi {dpi}",
                output_type=pytesseract.Output.DICT,
                timeout=TIMEOUT_SECONDS,
            )
        words = []
        for text, conf, left, top, width, height in zip(
            data["text"],
            data["conf"],
            data["left"],
            data["top"],
            data["width"],
            data["height"],
            strict=True,
        ):
            text = str(text).strip()
            if text and float(conf) >= 0:
                box = (int(left), int(top), int(left) + int(width), int(top) + int(height))
                words.append(OcrWord(text, float(conf) / 100.0, box))
        return words

    def orientation(self, image: GrayImage, *, dpi: int) -> Orientation:
        import pytesseract

        with _image_file(image, dpi) as path, tesseract_failures("detecting orientation"):
            try:
                report = pytesseract.image_to_osd(
                    path, config=f"--psm 0 --dpi {dpi}", timeout=TIMEOUT_SECONDS
                )
            except pytesseract.TesseractError:
                # OSD refuses pages with too few characters: nothing to turn.
                return Orientation(0, 0.0)
        rotate = re.search(r"Rotate:\s*(\d+)", report)
        confidence = re.search(r"Orientation confidence:\s*([\d.]+)", report)
        return Orientation(
            int(rotate.group(1)) if rotate else 0,
            float(confidence.group(1)) if confidence else 0.0,
        )


class TesserocrEngine(OcrEngine):
    """Tesseract in this process through tesserocr; one instance per process (not
    thread-safe)."""

    name = "tesserocr"

    def __init__(self) -> None:
        with tesseract_failures("starting"):
            import tesserocr

            self._tesserocr = tesserocr
            self._api = tesserocr.PyTessBaseAPI(path=tessdata_dir(), lang=LANGUAGE)
        self._osd_api: Any = None

    def read(
        self, image: GrayImage, *, dpi: int, mode: PageSegMode = PageSegMode.AUTO
    ) -> list[OcrWord]:
        api = self._api
        image = np.ascontiguousarray(image)
        height, width = image.shape[:2]
        with tesseract_failures("reading an image"):
            api.SetPageSegMode(int(mode))
            api.SetImageBytes(image.tobytes(), width, height, 1, width)
            api.SetSourceResolution(dpi)
            api.Recognize()
            words = self._words(api.GetIterator())
            api.Clear()
        return words

    def _words(self, iterator: Any) -> list[OcrWord]:
        # Walk symbol by symbol, starting a word at each word boundary, so each word
        # carries its weakest character's confidence.
        ril = self._tesserocr.RIL
        words: list[OcrWord] = []
        if iterator is None:
            return words
        text, confidence, box = "", 0.0, None
        chars: list[float] = []
        iterator.Begin()
        while True:
            if iterator.IsAtBeginningOf(ril.WORD):
                if text and box:
                    words.append(OcrWord(text, confidence, box, min(chars, default=None)))
                text = (iterator.GetUTF8Text(ril.WORD) or "").strip()
                confidence = iterator.Confidence(ril.WORD) / 100.0
                box, chars = iterator.BoundingBox(ril.WORD), []
            chars.append(iterator.Confidence(ril.SYMBOL) / 100.0)
            if not iterator.Next(ril.SYMBOL):
                break
        if text and box:
            words.append(OcrWord(text, confidence, box, min(chars, default=None)))
        return words

    def orientation(self, image: GrayImage, *, dpi: int) -> Orientation:
        tesserocr = self._tesserocr
        image = np.ascontiguousarray(image)
        height, width = image.shape[:2]
        with tesseract_failures("detecting orientation"):
            if self._osd_api is None:
                self._osd_api = tesserocr.PyTessBaseAPI(
                    path=tessdata_dir(), lang="osd", psm=tesserocr.PSM.OSD_ONLY
                )
            api = self._osd_api
            api.SetImageBytes(image.tobytes(), width, height, 1, width)
            api.SetSourceResolution(dpi)
            found = api.DetectOrientationScript()
            api.Clear()
        if not found:
            return Orientation(0, 0.0)
        # tesserocr reports how the text is turned; turning back undoes it.
        return Orientation((360 - int(found["orient_deg"])) % 360, float(found["orient_conf"]))


class RapidOcrEngine(OcrEngine):
    """PP-OCRv6 small through rapidocr, on the CPU with one thread (pages run in
    parallel processes). One instance per process.

    A single line (``SINGLE_LINE``/``SINGLE_WORD``) is recognised whole, without text
    detection: a field crop is one line already, and detection would cost more than
    the reading. The recogniser is then run straight on onnxruntime
    (``_LineRecogniser``): rapidocr's own pipeline takes a second to import, which a
    pool process would pay before its first crop. Other modes detect lines first,
    through rapidocr, and each line is split into its words (the recogniser's spaces),
    each with its own box. The confidence is the recogniser's mean character
    probability over the line or word; it has no orientation detection of its own.

    PP-OCRv6 replaced PP-OCRv4 (rapidocr-onnxruntime) here: on the same handwritten
    specimens, with the same weighing, it read 83.8% of fields exactly where PP-OCRv4
    read 77.4% (``bench/handwriting.py``), and it knows the pound sign.
    """

    name = "rapidocr"
    # Detection works on a copy whose longer side is at most this (pixels): a page at
    # 300 dpi needs no more to find its lines.
    _DETECTION_SIDE = 1280

    def __init__(self) -> None:
        # The models load on first use (a second or so): a process that reads only
        # typed pages may never need them.
        self._loaded: Any = None

    @property
    def _ocr(self) -> Any:
        if self._loaded is None:
            with _rapidocr_failures("starting"):
                from rapidocr import RapidOCR

                self._loaded = RapidOCR(
                    params={
                        # Its own logger would otherwise announce the models it loads.
                        "Global.log_level": "error",
                        "EngineConfig.onnxruntime.intra_op_num_threads": 1,
                        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
                        "Det.limit_type": "max",
                        "Det.limit_side_len": self._DETECTION_SIDE,
                    }
                )
        return self._loaded

    def read(
        self, image: GrayImage, *, dpi: int, mode: PageSegMode = PageSegMode.AUTO
    ) -> list[OcrWord]:
        height, width = image.shape[:2]
        if height == 0 or width == 0:
            return []
        if mode in (PageSegMode.SINGLE_LINE, PageSegMode.SINGLE_WORD):
            frames = self.char_frames(image, mode)
            text, confidence = frames.greedy() if frames is not None else ("", 0.0)
            text = text.strip()
            return [OcrWord(text, confidence, (0, 0, width, height))] if text else []
        with _rapidocr_failures("reading an image"):
            found = self._ocr(
                _colour(image), use_det=True, use_cls=False, use_rec=True, return_word_box=True
            )
        if found.boxes is None:  # no line found
            return []
        # Each line split into its words, each with its own box and confidence; a line
        # whose words the recogniser could not place stays whole.
        lines = found.word_results or [()] * len(found.txts)
        words = []
        for corners, text, score, line in zip(
            found.boxes, found.txts, found.scores, lines, strict=True
        ):
            for word_text, word_score, word_corners in line or [(text, score, corners)]:
                if str(word_text).strip():
                    words.append(
                        OcrWord(
                            str(word_text).strip(),
                            _probability(word_score),
                            _bounding(word_corners, width, height),
                        )
                    )
        return words

    def orientation(self, image: GrayImage, *, dpi: int) -> Orientation:
        return Orientation(0, 0.0)

    def char_frames(
        self, image: GrayImage, mode: PageSegMode = PageSegMode.SINGLE_LINE
    ) -> CharFrames | None:
        """The recogniser's per-frame character probabilities for one line of text
        (``ocr.ctc``), for scoring other readings and reading under a field's alphabet.

        In a single-line mode the whole image is the line; otherwise the line is found
        first, and None is returned when there is not exactly one (or the image is empty).
        """
        height, width = image.shape[:2]
        if height == 0 or width == 0:
            return None
        colour = _colour(image)
        with _rapidocr_failures("reading an image"):
            if mode not in (PageSegMode.SINGLE_LINE, PageSegMode.SINGLE_WORD):
                lines = self._ocr(colour, use_det=True, use_cls=False, use_rec=False).boxes
                if lines is None or len(lines) != 1:
                    return None
                xs = [float(p[0]) for p in lines[0]]
                ys = [float(p[1]) for p in lines[0]]
                pad = max(2, round(0.1 * (max(ys) - min(ys))))
                x0, x1 = max(0, round(min(xs)) - pad), min(width, round(max(xs)) + pad)
                y0, y1 = max(0, round(min(ys)) - pad), min(height, round(max(ys)) + pad)
                if x1 - x0 < 2 or y1 - y0 < 2:
                    return None
                colour = np.ascontiguousarray(colour[y0:y1, x0:x1])
            return self._recogniser.frames(colour)

    @cached_property
    def _recogniser(self) -> _LineRecogniser:
        with _rapidocr_failures("starting"):
            return _LineRecogniser()


class _LineRecogniser:
    """PP-OCRv6 small's text recogniser, from rapidocr's wheel, run with onnxruntime on
    one thread: an image of one line in, its frames out. Prepared as rapidocr prepares
    a line (height 48, width to scale but at least 320, values in -1..1, padded with 0),
    so its readings are rapidocr's."""

    _MODEL = "PP-OCRv6_rec_small.onnx"
    _HEIGHT = 48
    _MIN_WIDTH = 320

    def __init__(self) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        model = resources.files("rapidocr") / "models" / self._MODEL
        self._session = onnxruntime.InferenceSession(
            str(model), options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name
        # The model carries its characters; CTC's blank comes first and a space last.
        characters = self._session.get_modelmeta().custom_metadata_map["character"]
        self.alphabet = ("<blank>", *characters.splitlines(), " ")

    def frames(self, colour: np.ndarray[Any, np.dtype[np.uint8]]) -> CharFrames:
        height, width = colour.shape[:2]
        padded = int(self._HEIGHT * max(self._MIN_WIDTH / self._HEIGHT, width / height))
        scaled = min(math.ceil(self._HEIGHT * width / height), padded)
        line = cv2.resize(colour, (scaled, self._HEIGHT)).astype(np.float32)
        batch = np.zeros((1, 3, self._HEIGHT, padded), np.float32)
        batch[0, :, :, :scaled] = line.transpose(2, 0, 1) / 127.5 - 1.0
        (probabilities,) = self._session.run(None, {self._input: batch})[0]
        # The frames span the padded width; the line's own columns are scaled to part.
        step = padded / len(probabilities) * width / scaled
        return CharFrames(np.asarray(probabilities, np.float32), self.alphabet, step)


def _bounding(corners: Any, width: int, height: int) -> PixelBox:
    xs = [round(float(p[0])) for p in corners]
    ys = [round(float(p[1])) for p in corners]
    return max(0, min(xs)), max(0, min(ys)), min(width, max(xs)), min(height, max(ys))


def _colour(image: GrayImage) -> np.ndarray[Any, np.dtype[np.uint8]]:
    return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2))


def _probability(score: object) -> float:
    return float(np.clip(float(score), 0.0, 1.0))  # type: ignore[arg-type]


@contextmanager
def _rapidocr_failures(what: str) -> Iterator[None]:
    try:
        yield
    except OcrEngineError:
        raise
    except Exception as e:  # onnxruntime raises its own varied types
        raise OcrEngineError(f"RapidOCR failed while {what}: {type(e).__name__}: {e}") from e


_ENGINES: dict[str, type[OcrEngine]] = {
    TesseractCliEngine.name: TesseractCliEngine,
    TesserocrEngine.name: TesserocrEngine,
    RapidOcrEngine.name: RapidOcrEngine,
}


@cache
def engine_for(name: str) -> OcrEngine:
    """The engine of that name (``tesseract``, ``tesserocr`` or ``rapidocr``), one per
    process.

    Raises:
        OcrEngineError: no engine has that name, or it cannot start.
    """
    try:
        engine_class = _ENGINES[name]
    except KeyError:
        known = ", ".join(sorted(_ENGINES))
        raise OcrEngineError(f"unknown OCR engine {name!r} (known: {known})") from None
    return engine_class()


@contextmanager
def _image_file(image: GrayImage, dpi: int) -> Iterator[str]:
    # PNG at the lowest compression: Tesseract decodes it fast and it carries the DPI.
    with tempfile.NamedTemporaryFile(suffix=".png", prefix="switchover-ocr-") as f:
        Image.fromarray(image).save(f, format="PNG", dpi=(dpi, dpi), compress_level=1)
        f.flush()
        yield f.name
