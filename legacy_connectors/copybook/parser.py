"""COBOL copybook parser: data description entries into a tree of items.

Reads the reference format (sequence area in columns 1-6, indicator in column 7, code in
8-72, columns 73-80 ignored) and, when a copybook plainly is not in that format (code in
columns 1-6), free format. Level 88 (condition names) and 66 (RENAMES) take no storage
and are read and dropped, as a compiler does; VALUE, SYNC, JUSTIFIED, BLANK WHEN ZERO,
INDEXED BY and KEY IS phrases are read and ignored (they do not move bytes in a record).
Any other word is an error that names its line and column.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from domain.errors import BadInputError


class CopybookSyntaxError(BadInputError):
    """A copybook that does not parse; the message names the line and column."""

    def __init__(self, message: str, *, path: str, line: int, column: int) -> None:
        self.line = line
        self.column = column
        super().__init__(message, where=f"{path}, line {line}, column {column}")


class Usage(Enum):
    DISPLAY = "DISPLAY"
    BINARY = "BINARY"  # COMP, COMP-4, COMPUTATIONAL, BINARY: limited by the PIC's digits
    NATIVE_BINARY = "COMP-5"  # the whole binary range, whatever the PIC says
    PACKED = "COMP-3"
    FLOAT = "COMP-1"
    DOUBLE = "COMP-2"


_USAGES = {
    "DISPLAY": Usage.DISPLAY,
    "COMP": Usage.BINARY,
    "COMP-0": Usage.BINARY,
    "COMP-4": Usage.BINARY,
    "COMPUTATIONAL": Usage.BINARY,
    "COMPUTATIONAL-0": Usage.BINARY,
    "COMPUTATIONAL-4": Usage.BINARY,
    "BINARY": Usage.BINARY,
    "COMP-5": Usage.NATIVE_BINARY,
    "COMPUTATIONAL-5": Usage.NATIVE_BINARY,
    "COMP-3": Usage.PACKED,
    "COMPUTATIONAL-3": Usage.PACKED,
    "PACKED-DECIMAL": Usage.PACKED,
    "COMP-1": Usage.FLOAT,
    "COMPUTATIONAL-1": Usage.FLOAT,
    "COMP-2": Usage.DOUBLE,
    "COMPUTATIONAL-2": Usage.DOUBLE,
}


@dataclass
class Item:
    """One data description entry (level 01-49 or 77) with its subordinate items."""

    level: int
    name: str  # "FILLER" when the entry has no name
    line: int
    column: int
    picture: str | None = None
    usage: Usage | None = None  # None: inherited from the group, else DISPLAY
    sign_leading: bool = False
    sign_separate: bool = False
    occurs: int | None = None  # the maximum
    occurs_min: int | None = None
    depending_on: str | None = None
    redefines: str | None = None
    children: list[Item] = field(default_factory=list)

    @property
    def is_group(self) -> bool:
        return bool(self.children) or (
            self.picture is None and self.usage not in (Usage.FLOAT, Usage.DOUBLE)
        )


@dataclass(frozen=True)
class _Token:
    text: str
    line: int
    column: int


_LEVEL = re.compile(r"^\d{1,2}$")
# Words that end an entry's clauses we skip over (VALUE literals, KEY IS names...).
_CLAUSE_WORDS = frozenset(
    {
        "PIC",
        "PICTURE",
        "USAGE",
        "REDEFINES",
        "OCCURS",
        "SIGN",
        "LEADING",
        "TRAILING",
        "VALUE",
        "VALUES",
        "SYNC",
        "SYNCHRONIZED",
        "JUST",
        "JUSTIFIED",
        "BLANK",
        "GLOBAL",
        "EXTERNAL",
        "INDEXED",
        "ASCENDING",
        "DESCENDING",
        "DEPENDING",
        *_USAGES,
    }
)


def _code_lines(text: str) -> list[tuple[int, int, str]]:
    """(line number, column of the first kept character, code) per line, comments removed."""
    raw = text.replace("\x1a", " ").splitlines()
    lines = [line.expandtabs(8) for line in raw]
    # Reference format unless some code line starts in the sequence area with a letter
    # or a level number followed by a space (a copybook typed without columns 1-6).
    free = False
    for line in lines:
        head = line[:7]
        if not line.strip() or line.lstrip().startswith("*"):
            continue
        if len(line) > 6 and line[6] in "*/":
            continue
        stripped = head.strip()
        if stripped and not stripped.isdigit():
            free = True
            break
        if re.match(r"^\s*\d{1,2}\s", line) and line.index(line.strip()[0]) < 6:
            free = True
            break
    out: list[tuple[int, int, str]] = []
    for number, line in enumerate(lines, start=1):
        if free:
            if line.lstrip().startswith("*"):
                continue
            out.append((number, 1, line))
            continue
        if len(line) > 6 and line[6] in "*/":
            continue
        if len(line) > 6 and line[6] == "D":  # debugging line: not compiled by default
            continue
        out.append((number, 8, line[7:72]))
    return out


def _tokens(text: str, path: str) -> list[_Token]:
    tokens: list[_Token] = []
    for number, first_column, code in _code_lines(text):
        i = 0
        n = len(code)
        while i < n:
            ch = code[i]
            if ch in " ,;\t":
                i += 1
                continue
            start = i
            if ch in "'\"":
                end = code.find(ch, i + 1)
                if end < 0:
                    raise CopybookSyntaxError(
                        "unterminated literal", path=path, line=number, column=first_column + i
                    )
                tokens.append(_Token(code[i : end + 1], number, first_column + start))
                i = end + 1
                continue
            while i < n and code[i] not in " \t;" and not (code[i] == "," and _ends(code, i)):
                i += 1
            word = code[start:i]
            if word.endswith(".") and (i >= n or code[i] in " \t"):
                if len(word) > 1:
                    tokens.append(_Token(word[:-1], number, first_column + start))
                tokens.append(_Token(".", number, first_column + i - 1))
            else:
                tokens.append(_Token(word, number, first_column + start))
    return tokens


def _ends(code: str, i: int) -> bool:
    return i + 1 >= len(code) or code[i + 1] in " \t"


def parse_copybook(text: str, *, path: str = "copybook") -> list[Item]:
    """Parse a copybook's text into its record (01 or 77 level) items.

    Args:
        text: the copybook's source text.
        path: the file name the errors name.

    Returns:
        The top-level records, each with its subordinate items.

    Raises:
        CopybookSyntaxError: with the line and column of the first thing that does not parse.
    """
    tokens = _tokens(text, path)
    records: list[Item] = []
    stack: list[Item] = []
    pos = 0

    def fail(message: str, token: _Token) -> CopybookSyntaxError:
        return CopybookSyntaxError(message, path=path, line=token.line, column=token.column)

    while pos < len(tokens):
        token = tokens[pos]
        if token.text == ".":
            pos += 1
            continue
        if not _LEVEL.match(token.text):
            raise fail(f"expected a level number, found {token.text!r}", token)
        level = int(token.text)
        if not (1 <= level <= 49 or level in (66, 77, 88)):
            raise fail(f"level number {level} is not 01-49, 66, 77 or 88", token)
        pos += 1
        if level in (66, 88):
            # Condition names and RENAMES describe no storage of their own.
            while pos < len(tokens) and tokens[pos].text != ".":
                pos += 1
            if pos >= len(tokens):
                raise fail(f"level {level} entry is not ended by a period", token)
            continue
        name = "FILLER"
        if (
            pos < len(tokens)
            and tokens[pos].text not in (".",)
            and (tokens[pos].text.upper() not in _CLAUSE_WORDS)
        ):
            name = tokens[pos].text.upper()
            if not re.match(r"^[A-Z0-9][A-Z0-9_-]*$", name) or name.isdigit():
                raise fail(f"{tokens[pos].text!r} is not a data name", tokens[pos])
            pos += 1
        item = Item(level=level, name=name, line=token.line, column=token.column)
        pos = _clauses(tokens, pos, item, fail)
        if level in (1, 77):
            records.append(item)
            stack = [item]
            continue
        while stack and stack[-1].level >= level:
            stack.pop()
        if not stack:
            raise fail(f"level {level:02d} item {name} is not inside an 01 record", token)
        parent = stack[-1]
        if parent.picture is not None:
            raise fail(f"{parent.name} has a PICTURE, so it cannot hold {name}", token)
        parent.children.append(item)
        stack.append(item)
    if not records:
        raise CopybookSyntaxError("no 01 record in the copybook", path=path, line=1, column=1)
    for record in records:
        _check(record, path)
    return records


def _clauses(tokens: list[_Token], pos: int, item: Item, fail: object) -> int:
    """Read an entry's clauses up to and including its period; returns the next position."""
    assert callable(fail)

    def peek(offset: int = 0) -> _Token | None:
        return tokens[pos + offset] if pos + offset < len(tokens) else None

    def word(offset: int = 0) -> str:
        tok = peek(offset)
        return tok.text.upper() if tok else ""

    while True:
        tok = peek()
        if tok is None:
            # A missing period after the last entry: compilers warn, and so do we not fail.
            return pos
        w = tok.text.upper()
        if w == ".":
            return pos + 1
        if _LEVEL.match(w) and item.level and pos > 0:
            raise fail(f"expected a period before level number {w}", tok)
        if w in ("PIC", "PICTURE"):
            pos += 1
            if word() == "IS":
                pos += 1
            pic = peek()
            if pic is None or pic.text == ".":
                raise fail("PICTURE without a picture string", tok)
            item.picture = _check_picture(pic, fail)
            pos += 1
        elif w == "USAGE":
            pos += 1
            if word() == "IS":
                pos += 1
            usage = peek()
            if usage is None or usage.text.upper() not in _USAGES:
                raise fail("USAGE names no usage this reader knows", usage or tok)
            item.usage = _USAGES[usage.text.upper()]
            pos += 1
        elif w in _USAGES:
            item.usage = _USAGES[w]
            pos += 1
        elif w == "REDEFINES":
            name = peek(1)
            if name is None or name.text == ".":
                raise fail("REDEFINES without a data name", tok)
            item.redefines = name.text.upper()
            pos += 2
        elif w == "OCCURS":
            pos += 1
            low = peek()
            item.occurs = _count(low, "OCCURS", fail, tok)
            assert low is not None
            pos += 1
            if word() == "TO":
                high = peek(1)
                item.occurs_min, item.occurs = item.occurs, _count(high, "OCCURS ... TO", fail, tok)
                if item.occurs < item.occurs_min:
                    raise fail(
                        f"OCCURS {item.occurs_min} TO {item.occurs}: the maximum is below the "
                        "minimum",
                        low,
                    )
                pos += 2
            if word() == "TIMES":
                pos += 1
            if word() == "DEPENDING":
                pos += 1
                if word() == "ON":
                    pos += 1
                name = peek()
                if name is None or name.text == ".":
                    raise fail("DEPENDING ON without a data name", tok)
                item.depending_on = name.text.upper()
                pos += 1
            if item.occurs < 1 and item.depending_on is None:
                raise fail("OCCURS 0 TIMES holds nothing", low)
        elif w in ("SIGN", "LEADING", "TRAILING"):
            if w == "SIGN":
                pos += 1
                if word() == "IS":
                    pos += 1
            side = word()
            if side not in ("LEADING", "TRAILING"):
                raise fail("SIGN must be LEADING or TRAILING", peek() or tok)
            item.sign_leading = side == "LEADING"
            pos += 1
            if word() == "SEPARATE":
                item.sign_separate = True
                pos += 1
                if word() == "CHARACTER":
                    pos += 1
        elif w in ("VALUE", "VALUES"):
            # Initial values do not describe the data in a file: skip to the period.
            pos += 1
            while peek() is not None and word() != ".":
                pos += 1
        elif w in ("SYNC", "SYNCHRONIZED", "JUST", "JUSTIFIED"):
            pos += 1
            if word() in ("LEFT", "RIGHT"):
                pos += 1
        elif w == "BLANK":
            pos += 1
            if word() == "WHEN":
                pos += 1
            if word() not in ("ZERO", "ZEROS", "ZEROES"):
                raise fail("BLANK WHEN needs ZERO", peek() or tok)
            pos += 1
        elif w in ("GLOBAL", "EXTERNAL"):
            pos += 1
        elif w in ("INDEXED", "ASCENDING", "DESCENDING"):
            pos += 1
            while word() not in (".", "") and word() not in _CLAUSE_WORDS - {
                "INDEXED",
                "ASCENDING",
                "DESCENDING",
            }:
                pos += 1
        else:
            raise fail(f"unexpected {tok.text!r} in the entry for {item.name}", tok)


_PIC_CHARS = re.compile(r"^(?:[XA9SVPZB0/,.+\-*$N]|CR|DB|\(\d+\))+$")
_REPEAT = re.compile(r"\((\d+)\)")

MAX_ITEM_BYTES = 16 << 20
"""The largest elementary item this reader lays out. COBOL allows larger, but no record
format a mainframe file is exported in holds one, and a typo (``X(999999999)``) would
otherwise have a worker build a gigabyte of picture string."""
MAX_OCCURS = 999_999_999


def _check_picture(token: _Token, fail: object) -> str:
    assert callable(fail)
    pic = token.text.upper()
    if not _PIC_CHARS.match(pic):
        raise fail(f"picture string {token.text[:40]!r} is not valid", token)
    if pic.count("(") != pic.count(")"):
        raise fail(f"picture string {token.text[:40]!r} has unbalanced parentheses", token)
    repeats = [m.group(1) for m in _REPEAT.finditer(pic)]
    if any(len(r.lstrip("0")) > 9 or int(r) == 0 for r in repeats):
        raise fail(
            f"picture string {token.text[:40]!r} repeats a symbol 0 or too many times", token
        )
    length = len(_REPEAT.sub("", pic)) + sum(int(r) - 1 for r in repeats)
    if length > MAX_ITEM_BYTES:
        raise fail(
            f"picture string {token.text[:40]!r} describes {length:,} positions, over the "
            f"{MAX_ITEM_BYTES:,} this reader takes in one item",
            token,
        )
    return pic


def _count(token: _Token | None, what: str, fail: object, at: _Token) -> int:
    """An OCCURS count: digits only, at most ``MAX_OCCURS``."""
    assert callable(fail)
    if token is None or not token.text.isdigit() or not token.text.isascii():
        raise fail(f"{what} needs a number", token or at)
    if len(token.text.lstrip("0")) > 9:
        raise fail(f"{what} {token.text[:20]} is over {MAX_OCCURS:,}", token)
    return int(token.text)


def expand_picture(pic: str) -> str:
    """``9(3)V99`` -> ``999V99``."""
    return re.sub(r"(.)\((\d+)\)", lambda m: m.group(1) * int(m.group(2)), pic)


def _check(item: Item, path: str) -> None:
    if item.picture is not None and item.children:
        raise CopybookSyntaxError(
            f"{item.name} has both a PICTURE and subordinate items",
            path=path,
            line=item.line,
            column=item.column,
        )
    if (
        not item.children
        and item.picture is None
        and item.usage
        not in (
            Usage.FLOAT,
            Usage.DOUBLE,
        )
    ):
        raise CopybookSyntaxError(
            f"{item.name} has neither a PICTURE nor subordinate items",
            path=path,
            line=item.line,
            column=item.column,
        )
    for child in item.children:
        _check(child, path)
