"""Hypothesis strategies: real seeds damaged (bytes flipped, truncated, spliced), and
structure-aware inputs (copybook text from PIC, OCCURS, REDEFINES and levels; YAML trees
of the template and plan schemas with wrong values in them).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence
from typing import Any

import yaml
from hypothesis import strategies as st

# Values that sit on the edges of what readers check: lengths, signs, counts, flags.
_EDGE_BYTES = (0x00, 0x01, 0x0F, 0x40, 0x7F, 0x80, 0xC0, 0xF0, 0xFF)


def _position(size: int) -> st.SearchStrategy[int]:
    """Somewhere in ``size`` bytes, often in the first 64 (headers, descriptor words)."""
    top = max(size, 1)
    return st.one_of(st.integers(0, min(63, top)), st.integers(0, top))


@st.composite
def _edit(draw: st.DrawFn, data: bytes, pool: Sequence[bytes]) -> bytes:
    kind = draw(st.sampled_from(["flip", "set", "truncate", "delete", "insert", "splice",
                                 "repeat", "int"]))  # fmt: skip
    n = len(data)
    at = draw(_position(n))
    if kind == "flip" and n:
        at = min(at, n - 1)
        return data[:at] + bytes([data[at] ^ (1 << draw(st.integers(0, 7)))]) + data[at + 1 :]
    if kind == "set" and n:
        at = min(at, n - 1)
        value = draw(st.one_of(st.sampled_from(_EDGE_BYTES), st.integers(0, 255)))
        return data[:at] + bytes([value]) + data[at + 1 :]
    if kind == "truncate":
        return data[:at]
    if kind == "delete":
        return data[:at] + data[at + draw(st.integers(1, 64)) :]
    if kind == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=32)) + data[at:]
    if kind == "splice" and pool:
        other = draw(st.sampled_from(list(pool)))
        start = draw(st.integers(0, max(len(other) - 1, 0)))
        piece = other[start : start + draw(st.integers(1, 512))]
        end = at + draw(st.integers(0, 512))
        return data[:at] + piece + data[end:]
    if kind == "repeat" and n:
        piece = data[at : at + draw(st.integers(1, 256))]
        return data[:at] + piece * draw(st.integers(2, 4)) + data[at:]
    if kind == "int" and n >= 2:
        # A length or count field overwritten with an edge value, big- or little-endian.
        width = draw(st.sampled_from([2, 4]))
        at = min(at, max(n - width, 0))
        value = draw(
            st.sampled_from([0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 2**31 - 1, 2**32 - 1])
        )
        order = draw(st.sampled_from(["big", "little"]))
        raw = (value % (1 << (8 * width))).to_bytes(width, order)
        return data[:at] + raw + data[at + width :]
    return data


@st.composite
def mutated(draw: st.DrawFn, seed: bytes, pool: Sequence[bytes] = (), edits: int = 4) -> bytes:
    """``seed`` with 1 to ``edits`` random edits; ``pool`` gives material to splice in."""
    data = seed
    for _ in range(draw(st.integers(1, edits))):
        data = draw(_edit(data, pool))
    return data


# --- text ------------------------------------------------------------------------------

_COPYBOOK_WORDS = [
    "PIC", "PICTURE", "IS", "X(10)", "9(4)", "S9(5)V99", "9(37)", "S9(18)", "X(0)", "9(0)",
    "PPP9(5)", "9(5)PPP", "Z(8)-", "+9(8)", "9(6).99-", "N(4)", "G(2)", "X(999999999)",
    "COMP", "COMP-1", "COMP-2", "COMP-3", "COMP-4", "COMP-5", "BINARY", "PACKED-DECIMAL",
    "USAGE", "DISPLAY", "OCCURS", "0", "1", "5", "TO", "TIMES", "DEPENDING", "ON",
    "REDEFINES", "SIGN", "LEADING", "TRAILING", "SEPARATE", "CHARACTER", "VALUE", "SPACES",
    "ZERO", "SYNC", "JUSTIFIED", "RIGHT", "BLANK", "WHEN", "INDEXED", "BY", "KEY", "FILLER",
    "01", "05", "10", "49", "66", "77", "88", "99", ".", "'", '"', "*", "\t", "RENAMES",
    "THRU", "9(2147483648)", "X(", ")", "V", "S", "CR", "DB", "COMP-3.", "X.", "99999",
]  # fmt: skip


@st.composite
def mutated_text(draw: st.DrawFn, seed: str, words: Sequence[str] = ()) -> str:
    """``seed`` edited by lines and words (and, now and then, as bytes)."""
    lines = seed.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["drop", "copy", "swap", "word", "insert", "indent",
                                     "number", "bytes"]))  # fmt: skip
        if not lines:
            lines = [""]
        i = draw(st.integers(0, len(lines) - 1))
        if kind == "drop":
            del lines[i]
        elif kind == "copy":
            lines.insert(draw(st.integers(0, len(lines))), lines[i])
        elif kind == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind in ("word", "insert", "number"):
            parts = lines[i].split(" ")
            k = draw(st.integers(0, max(len(parts) - 1, 0)))
            if kind == "number":
                word = str(draw(st.sampled_from([0, 1, 2, 9, 10, 49, 99, 1000, 10**6, 10**9])))
            else:
                word = draw(st.sampled_from(list(words)) | st.text(max_size=8))
            if kind == "word" and parts:
                parts[k] = word
            else:
                parts.insert(k, word)
            lines[i] = " ".join(parts)
        elif kind == "indent":
            lines[i] = " " * draw(st.integers(0, 12)) + lines[i].lstrip()
        else:
            raw = draw(mutated(lines[i].encode("utf-8"), edits=2))
            lines[i] = raw.decode("utf-8", errors="replace")
    if draw(st.booleans()):
        return "\n".join(lines)
    cut = draw(st.integers(0, len(seed)))
    return "\n".join(lines)[: max(cut, 1)]


def mutated_copybook(seed: str) -> st.SearchStrategy[str]:
    return mutated_text(seed, _COPYBOOK_WORDS)


# --- structure-aware copybooks ---------------------------------------------------------

_TEXT_PICTURES = st.one_of(
    st.builds(lambda n: f"X({n})", st.integers(1, 40)),
    st.builds(lambda n: f"A({n})", st.integers(1, 10)),
)
_NUMERIC_PICTURES = st.one_of(
    st.builds(lambda s, n, m: f"{s}9({n})" + (f"V9({m})" if m else ""),
              st.sampled_from(["", "S"]), st.integers(1, 30), st.integers(0, 6)),
    st.sampled_from(["PPP9(5)", "9(5)PPP", "SV9(3)", "S9(4)", "9(9)", "S9(18)", "9(38)"]),
)  # fmt: skip
_EDITED_PICTURES = st.sampled_from(
    ["Z(8)-", "+9(8)", "9(6).99-", "ZZ9.99", "$$$,$$9.99", "***9", "9(4)CR", "S9(3)DB",
     "99/99/99", "B9B9", "X(3)B"]
)  # fmt: skip
_USAGES = st.sampled_from(["COMP", "COMP-3", "COMP-5", "BINARY", "COMP-4", "PACKED-DECIMAL",
                           "USAGE IS DISPLAY"])  # fmt: skip
_SIGNS = st.sampled_from(["SIGN LEADING SEPARATE", "SIGN TRAILING SEPARATE", "SIGN IS LEADING",
                          "SIGN TRAILING"])  # fmt: skip


@st.composite
def _elementary(draw: st.DrawFn) -> list[str]:
    """The clauses of an elementary item, mostly ones that go together."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return [draw(st.sampled_from(["COMP-1", "COMP-2"]))]
    if kind <= 3:
        return [f"PIC {draw(_TEXT_PICTURES)}"]
    if kind == 4:
        return [f"PIC {draw(_EDITED_PICTURES)}"]
    clauses = [f"PIC {draw(_NUMERIC_PICTURES)}"]
    if draw(st.integers(0, 2)):
        clauses.append(draw(_USAGES))
    elif draw(st.booleans()):
        clauses.append(draw(_SIGNS))
    if draw(st.integers(0, 15)) == 0:  # now and then a clause that does not fit
        clauses.append(draw(st.sampled_from(["COMP-3", "SIGN LEADING SEPARATE", "COMP-1"])))
    return clauses


@st.composite
def copybook_text(draw: st.DrawFn) -> str:
    """A copybook built from its grammar: levels, PICTURE and USAGE, SIGN, OCCURS (and
    DEPENDING ON a count declared before), REDEFINES of an earlier sibling, FILLER, 88s.
    Each clause goes on a line of its own, within the reference format's columns."""
    lines: list[str] = []
    counter = iter(range(1, 10_000))
    counts: list[str] = []

    def name() -> str:
        base = draw(st.sampled_from(["FLD", "AMT", "NAME", "KEY", "CNT", "FILLER"]))
        return "FILLER" if base == "FILLER" and draw(st.booleans()) else f"{base}-{next(counter)}"

    def item(level: int, depth: int, siblings: list[str], in_array: bool) -> None:
        own = name()
        clauses: list[str] = []
        if siblings and draw(st.integers(0, 5)) == 0:
            clauses.append(f"REDEFINES {draw(st.sampled_from(siblings))}")
        occurs = draw(st.integers(0, 6))
        if occurs == 1:
            clauses.append(f"OCCURS {draw(st.integers(1, 5))} TIMES")
        elif occurs == 2 and counts:
            low = draw(st.integers(0, 2))
            clauses.append(f"OCCURS {low} TO {low + draw(st.integers(1, 4))}")
            clauses.append(f"DEPENDING ON {draw(st.sampled_from(counts))}")
        lines.append(f"           {level:02d}  {own}")
        group = depth < 3 and draw(st.integers(0, 3)) == 0
        if not group:
            clauses.extend(draw(_elementary()))
        lines.extend(f"               {clause}" for clause in clauses)
        lines[-1] += "."
        if group:
            children: list[str] = []
            step = draw(st.sampled_from([1, 5]))
            for _ in range(draw(st.integers(1, 4))):
                item(level + step, depth + 1, children, in_array or bool(occurs))
        elif draw(st.integers(0, 6)) == 0:
            lines.append("               88  IS-SET  VALUE 'Y'.")
        if (
            not group
            and not occurs
            and not in_array
            and own != "FILLER"
            and any(c.startswith("PIC") and "9(" in c and "V" not in c for c in clauses)
        ):
            counts.append(own)  # fmt: skip
        siblings.append(own)

    for _ in range(draw(st.integers(1, 2))):
        lines.append(f"       01  REC-{next(counter)}.")
        counts.clear()  # a count lies in the record of its array
        top: list[str] = []
        for _ in range(draw(st.integers(1, 6))):
            item(5, 0, top, False)
    return "\n".join(lines) + "\n"


# --- YAML trees of the template and plan schemas ---------------------------------------

ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["", "\x00", "../../etc/passwd", "a\x00b", "{x}", "*", "9" * 400,
                     "sqlite:///:memory:", "x" * 3000, "1970-01-01", "\u202e", "[", "~"]),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)  # fmt: skip


def _perturb(draw: st.DrawFn, value: Any, depth: int = 0) -> Any:
    """A schema-shaped value with some parts replaced, dropped, or given unknown keys."""
    roll = draw(st.integers(0, 11))
    if roll == 0 or depth > 6:
        return draw(ODD_VALUES)
    if isinstance(value, dict):
        out = {}
        for key, inner in value.items():
            if draw(st.integers(0, 9)) == 0:
                continue
            out[key] = _perturb(draw, inner, depth + 1)
        if draw(st.integers(0, 9)) == 0:
            out[draw(st.text(min_size=1, max_size=8))] = draw(ODD_VALUES)
        return out
    if isinstance(value, list):
        items = [_perturb(draw, v, depth + 1) for v in value]
        if items and draw(st.integers(0, 5)) == 0:
            items.append(items[draw(st.integers(0, len(items) - 1))])
        return items
    return value


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@functools.cache
def _tree(text: str) -> Any:
    return yaml.load(text, Loader=_LOADER)


@st.composite
def schema_tree(draw: st.DrawFn, seeds: Sequence[str]) -> str:
    """A seed's YAML tree with values swapped for odd ones, keys dropped and added."""
    tree = copy.deepcopy(_tree(draw(st.sampled_from(list(seeds)))))
    return yaml.dump(_perturb(draw, tree), Dumper=_DUMPER, allow_unicode=True, sort_keys=False)


# Bytes a mainframe record is mostly made of: EBCDIC digits and letters, spaces, packed
# signs, low-values; now and then anything.
_RECORD_BYTES = st.one_of(
    st.sampled_from([*range(0xF0, 0xFA), 0x40, 0x0C, 0x0D, 0x0F, 0x00, 0xC1, 0xD1, 0xE2]),
    st.integers(0, 255),
)
record_data = st.lists(_RECORD_BYTES, max_size=1500).map(bytes)
"""Data for a generated copybook: EBCDIC-like bytes, so that some records decode."""
