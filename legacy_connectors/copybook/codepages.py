"""EBCDIC code pages: Python's own codecs, plus the IBM pages Python lacks.

Python ships cp037, cp273, cp500, cp875, cp1026, cp1140 and others; it lacks cp1047 (z/OS
Unix, C), cp1141 (Germany/Austria with the euro) and cp1142-cp1149 (the other euro
pages). Each of those is one of Python's pages with a few bytes moved, as IBM's CDRA
tables define them, so they are built here from their base page and the differences.
Text is decoded strictly: a byte the page does not define is an error, never a guess.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable
from dataclasses import dataclass

from domain.errors import PlanError

# cp1047 differs from cp037 only in where six characters sit.
_CP1047_FROM_CP037 = {
    0xAD: "[",
    0xBD: "]",
    0x5F: "^",
    0xB0: "¬",
    0xBA: "Ý",
    0xBB: "¨",
}
_EURO = {0x9F: "€"}
# The euro pages (IBM CCSIDs 1140-1149) are the country pages with the euro sign at
# 0x9F in place of the currency sign.
_DERIVED: dict[str, tuple[str, dict[int, str]]] = {
    "cp1047": ("cp037", _CP1047_FROM_CP037),
    "cp1141": ("cp273", _EURO),
    "cp1142": ("cp277", _EURO),
    "cp1143": ("cp278", _EURO),
    "cp1144": ("cp280", _EURO),
    "cp1145": ("cp284", _EURO),
    "cp1146": ("cp285", _EURO),
    "cp1147": ("cp297", _EURO),
    "cp1148": ("cp500", _EURO),
    "cp1149": ("cp871", _EURO),
}
_UNDEFINED = "\ufffe"


@dataclass(frozen=True)
class CodePage:
    """A single-byte code page: a 256-entry table and a strict decoder."""

    name: str
    table: str  # character of each byte; U+FFFE where the page defines none

    @property
    def total(self) -> bool:
        """True when every byte has a character (then a whole record decodes at once)."""
        return _UNDEFINED not in self.table

    @property
    def is_ebcdic(self) -> bool:
        return self.table[0xF0] == "0" and self.table[0x40] == " "

    def decoder(self) -> Callable[[bytes], str]:
        """A fast strict decoder: raises UnicodeDecodeError on an undefined byte."""
        table = self.table
        charmap = codecs.charmap_decode

        def decode(data: bytes) -> str:
            return charmap(data, "strict", table)[0]

        return decode

    def byte_of(self, char: str) -> int | None:
        index = self.table.find(char)
        return None if index < 0 else index


def code_page(name: str) -> CodePage:
    """The code page of that name (``cp037``, ``cp1047``, ``IBM-1141``, ``cp500``...).

    Raises:
        PlanError: when neither Python nor this module knows the page, or it is not a
            single-byte page.
    """
    key = name.lower().replace("ibm-", "cp").replace("ibm", "cp").replace("_", "")
    if key.startswith("cp0") and key != "cp037":
        key = "cp" + key[2:].lstrip("0").rjust(3, "0")
    if key in _DERIVED:
        base, changes = _DERIVED[key]
        table = list(_table(base, name))
        for byte, char in changes.items():
            table[byte] = char
        return CodePage(key, "".join(table))
    return CodePage(key, _table(key, name))


def _table(key: str, name: str) -> str:
    try:
        codecs.lookup(key)
    except LookupError as e:
        raise PlanError(f"unknown code page {name!r}") from e
    chars = []
    for byte in range(256):
        try:
            text = bytes([byte]).decode(key)
        except UnicodeDecodeError:
            text = _UNDEFINED
        if len(text) != 1:
            raise PlanError(f"code page {name!r} is not a single-byte code page")
        chars.append(text)
    return "".join(chars)
