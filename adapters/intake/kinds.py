"""What kind of document a file is, told by its first bytes (magic), never by its name."""

from __future__ import annotations

DOCUMENT_KINDS: dict[str, str] = {
    "application/pdf": "PDF",
    "image/tiff": "TIFF",
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/gif": "GIF",
    "image/bmp": "BMP",
    "image/webp": "WebP",
    "image/heic": "HEIC",
}
"""Media types we digitise, with the names people know them by."""

SNIFF_BYTES = 1024
"""How many leading bytes :func:`sniff` needs (a PDF may have junk before its header)."""

_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1")


def sniff(head: bytes) -> str | None:
    """The media type of a document whose file starts with ``head``, or None when the
    bytes are not one of :data:`DOCUMENT_KINDS` (whatever the file is called).

    Args:
        head: at least the first :data:`SNIFF_BYTES` bytes of the file (fewer for a
            shorter file).
    """
    if b"%PDF-" in head[:SNIFF_BYTES]:
        return "application/pdf"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "image/tiff"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"BM") and len(head) >= 14:
        return "image/bmp"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "image/heic"
    return None


def kinds_named() -> str:
    """The kinds we take, for a message to a person: 'PDF, TIFF, PNG, ... or HEIC'."""
    names = list(dict.fromkeys(DOCUMENT_KINDS.values()))
    return ", ".join(names[:-1]) + " or " + names[-1]
