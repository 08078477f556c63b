"""Decoding records: one exact field-by-field decoder, and a compiled fast path.

Values, and the rules this reader keeps (documented for plan writers):

* Text (PIC X/A) is decoded strictly with the declared code page; trailing padding
  (spaces, and the NULs of LOW-VALUES) is removed, everything else is kept as decoded,
  leading spaces and control characters included.
* Numbers come out as ``int`` (no decimal places, or P positions scaling them up) or
  ``Decimal`` with exactly the declared scale; COMP-1/COMP-2 as ``float``.
* A numeric field that is all spaces or all low-values holds no value: ``None``.
* A numeric field that holds anything else that is not a valid number (a letter in a
  zoned field, a nibble that is not a digit, a sign where the PIC has none, a binary
  value wider than its PIC outside COMP-5) makes the record bad: an error, or the record
  is set aside when the plan allows quarantine. The one exception is a field in a
  REDEFINES view decoded alongside its other views: there a view that does not decode
  gives ``None``.

The fast path is Python source generated per layout (precomputed slices, one ``struct``
for the binary fields, a whole batch decoded with the code page and turned into hex at
once). It only ever returns a row when every field took the plain path; anything unusual
sends the record to the exact decoder, which is the one that decides.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from legacy_connectors.copybook.codepages import CodePage
from legacy_connectors.copybook.layout import Field, FieldType

FieldDecoder = Callable[[bytes], Any]

PADDING = " \x00"
"""Trailing characters text fields lose: COBOL pads with spaces, and files initialised
with LOW-VALUES pad with NULs; anything else, NULs inside text included, is kept."""


class FieldInvalid(Exception):
    """A field's bytes are not a value of its type; ``index`` is the bad byte's position."""

    def __init__(self, reason: str, index: int = 0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.index = index


class RecordError(Exception):
    """A record that does not decode; ``offset`` is the bad byte's offset in the record."""

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset


class Alphabet:
    """Where a code page keeps the characters numbers are written with."""

    def __init__(self, cp: CodePage) -> None:
        self.digit: dict[int, int] = {}
        self.over: dict[int, tuple[bool, int]] = {}  # sign position byte -> (negative, digit)
        self.over_chars: dict[str, tuple[bool, int]] = {}
        for d in range(10):
            b = cp.byte_of(str(d))
            if b is not None:
                self.digit[b] = d
                self.over[b] = (False, d)
        if cp.is_ebcdic:
            # Zoned decimal: the sign is the zone nibble of the sign digit; IBM takes
            # A, C, E, F as plus and B, D as minus.
            for d in range(10):
                for zone, negative in ((0xC0, False), (0xD0, True), (0xA0, False), (0xB0, True)):
                    self.over[zone | d] = (negative, d)
                self.over[0xE0 | d] = (False, d)
        else:
            for d, char in enumerate("{ABCDEFGHI"):
                self._over_char(cp, char, False, d)
            for d, char in enumerate("}JKLMNOPQR"):
                self._over_char(cp, char, True, d)
        for b, sign in self.over.items():
            char = cp.table[b]
            self.over_chars.setdefault(char, sign)
        self.space = cp.byte_of(" ")
        self.plus = cp.byte_of("+")
        self.minus = cp.byte_of("-")

    def _over_char(self, cp: CodePage, char: str, negative: bool, digit: int) -> None:
        b = cp.byte_of(char)
        if b is not None:
            self.over[b] = (negative, digit)


def _scaled(sign: str, digits: str, scale: int) -> int | Decimal:
    if scale == 0:
        return int(sign + digits)
    if scale < 0:
        return int(sign + digits) * 10 ** (-scale)
    value = Decimal(f"{digits}E-{scale}")
    return value.copy_negate() if sign and value else value


def _blank(raw: bytes, space: int | None) -> bool:
    return not raw.strip(b"\x00") or (space is not None and not raw.strip(bytes([space])))


def field_decoder(
    ft: FieldType, cp: CodePage, alphabet: Alphabet, *, ibm_float: bool = False
) -> FieldDecoder:
    """The exact decoder of one field type: bytes -> value, ``None``, or FieldInvalid."""
    decode_text = cp.decoder()
    space = alphabet.space

    def text(raw: bytes) -> str:
        try:
            return decode_text(raw).rstrip(PADDING)
        except UnicodeDecodeError as e:
            raise FieldInvalid(
                f"byte 0x{raw[e.start]:02X} has no character in {cp.name}", e.start
            ) from e

    if ft.kind == "text":
        return text

    if ft.kind == "display":

        def display(raw: bytes) -> int | Decimal | None:
            if _blank(raw, space):
                return None
            negative = False
            body = raw
            first = 0
            if ft.sign_separate:
                at = 0 if ft.sign_leading else len(raw) - 1
                if raw[at] == alphabet.minus:
                    negative = True
                elif raw[at] != alphabet.plus:
                    raise FieldInvalid("the separate sign is neither + nor -", at)
                body = raw[1:] if ft.sign_leading else raw[:-1]
                first = 1 if ft.sign_leading else 0
            digits = []
            last = len(body) - 1
            seen = False
            for i, b in enumerate(body):
                d = alphabet.digit.get(b)
                if d is None and ft.signed and not ft.sign_separate:
                    at_sign = i == (0 if ft.sign_leading else last)
                    if at_sign and b in alphabet.over:
                        negative, d = alphabet.over[b]
                if d is None:
                    if b == space and not seen and i < last:
                        continue  # a right-justified number typed with leading spaces
                    raise FieldInvalid("not a digit in a numeric field", first + i)
                seen = True
                digits.append(str(d))
            return _scaled("-" if negative else "", "".join(digits), ft.scale)

        return display

    if ft.kind == "packed":
        extra = 2 * ft.size - 1 - ft.digits

        def packed(raw: bytes) -> int | Decimal | None:
            if not raw.strip(b"\x00"):
                return None
            h = raw.hex()
            for i, ch in enumerate(h[:-1]):
                if not ch.isdigit():
                    raise FieldInvalid(
                        f"packed-decimal nibble 0x{ch.upper()} is not a digit", i // 2
                    )
            sign = h[-1]
            if sign in "acef":
                negative = False
            elif sign in "bd":
                negative = True
            else:
                raise FieldInvalid(
                    f"packed-decimal sign nibble 0x{sign.upper()} is not a sign", len(raw) - 1
                )
            if negative and not ft.signed:
                raise FieldInvalid("a negative packed value in an unsigned field", len(raw) - 1)
            if extra and h[:extra].strip("0"):
                raise FieldInvalid("more digits than the PICTURE holds", 0)
            return _scaled("-" if negative else "", h[:-1], ft.scale)

        return packed

    if ft.kind == "binary":
        limit = 10**ft.digits

        def binary(raw: bytes) -> int | Decimal:
            value = int.from_bytes(raw, "big", signed=ft.signed)
            if not ft.native and not -limit < value < limit:
                raise FieldInvalid("a binary value wider than its PICTURE", 0)
            if ft.scale == 0:
                return value
            if ft.scale < 0:
                return value * 10 ** (-ft.scale)
            return Decimal(f"{value}E-{ft.scale}")

        return binary

    if ft.kind in ("float", "double"):
        fmt = struct.Struct(">f" if ft.kind == "float" else ">d")

        def floating(raw: bytes) -> float:
            if ibm_float:
                return _ibm_float(raw)
            value: float = fmt.unpack(raw)[0]
            if math.isnan(value) or math.isinf(value):
                raise FieldInvalid("not a finite floating-point number", 0)
            return value

        return floating

    pic = ft.picture
    over_chars = alphabet.over_chars

    def edited(raw: bytes) -> int | Decimal | None:
        s = text(raw).strip(" ")
        if not s:
            if "Z" in pic or "*" in pic:
                return _scaled("", "0", ft.scale)
            return None
        negative = False
        if "S" in pic and s[-1] not in "0123456789" and s[-1] in over_chars:
            negative, d = over_chars[s[-1]]
            s = s[:-1] + str(d)
        for mark in ("CR", "DB", "-"):
            if s.endswith(mark) or s.startswith(mark):
                negative = True
                s = s[len(mark) :] if s.startswith(mark) else s[: -len(mark)]
                break
        s = s.strip("+").replace(",", "").replace("$", "").replace("*", "").replace("/", "")
        s = s.strip(" ")
        whole, _, fraction = s.partition(".") if "." in pic else (s, "", "")
        if "V" in pic and "." not in pic:
            whole, fraction = s[: len(s) - ft.scale], s[len(s) - ft.scale :]
        if not (whole + fraction).isdigit() or not (whole + fraction).isascii():
            raise FieldInvalid("not a number in an edited numeric field", 0)
        if len(fraction) > ft.scale:
            raise FieldInvalid("more decimals than the PICTURE holds", 0)
        fraction = fraction.ljust(ft.scale, "0")
        return _scaled("-" if negative else "", (whole or "0") + fraction, ft.scale)

    return edited


def _ibm_float(raw: bytes) -> float:
    """IBM hexadecimal floating point (the z/OS default for COMP-1/COMP-2)."""
    bits = int.from_bytes(raw, "big")
    width = len(raw) * 8
    sign = -1.0 if bits >> (width - 1) else 1.0
    exponent = (bits >> (width - 8)) & 0x7F
    fraction = bits & ((1 << (width - 8)) - 1)
    return sign * math.ldexp(fraction, 4 * (exponent - 64) - (width - 8))


class RecordDecoder:
    """Decodes records of one table (a record layout with its chosen views)."""

    def __init__(
        self,
        fields: Sequence[Field],
        cp: CodePage,
        *,
        record_number: str,
        odo_ranges: dict[str, tuple[int, int]],
        ibm_float: bool = False,
    ) -> None:
        self.fields = list(fields)
        self.cp = cp
        self.record_number = record_number
        self.alphabet = Alphabet(cp)
        self.decoders = [
            field_decoder(f.type, cp, self.alphabet, ibm_float=ibm_float) for f in self.fields
        ]
        self.odo_ranges = odo_ranges
        self.has_odo = any(f.present_if or f.shifts for f in self.fields)
        self.ibm_float = ibm_float
        # Where a count lives: the first field of that COBOL name outside any array.
        self._count_field: dict[str, int] = {}
        for name in odo_ranges:
            for i, f in enumerate(self.fields):
                if f.name == name and not f.present_if:
                    self._count_field[name] = i
                    break
        # Each REDEFINES area decoded with all its views needs at least its shortest view.
        view_end: dict[tuple[str, str], int] = {}
        for f in self.fields:
            if f.optional and f.views:
                key = f.views[-1]
                view_end[key] = max(view_end.get(key, 0), f.end)
        area_min: dict[str, int] = {}
        for (area, _), end in view_end.items():
            area_min[area] = min(area_min.get(area, end), end)
        self.min_length = max(
            [
                *area_min.values(),
                *(f.end for f in self.fields if not f.optional and not f.present_if),
                0,
            ]
        )
        self.max_end = max([f.end for f in self.fields] or [0])

    def decode(self, rec: bytes, number: int) -> dict[str, Any]:
        """The exact decode of one record.

        Raises:
            RecordError: the record is too short, or a field does not decode.
        """
        if len(rec) < self.min_length:
            raise RecordError(
                f"the record is {len(rec)} bytes, shorter than the {self.min_length} its "
                "copybook says",
                len(rec),
            )
        row: dict[str, Any] = {self.record_number: number}
        values: list[Any] = []
        counts: dict[str, int] = {}
        for f, decode in zip(self.fields, self.decoders, strict=True):
            absent = False
            for name, occurrence in f.present_if:
                if self._count(name, values, counts) < occurrence:
                    absent = True
                    break
            if absent:
                values.append(None)
                row[f.column] = None
                continue
            offset = f.offset
            for shift in f.shifts:
                offset += (
                    self._count(shift.count_column, values, counts) - shift.maximum
                ) * shift.size
            end = offset + f.type.size
            if end > len(rec):
                if f.optional:
                    values.append(None)
                    row[f.column] = None
                    continue
                raise RecordError(
                    f"the record is {len(rec)} bytes, shorter than its copybook says: "
                    f"{f.column} needs bytes {offset}-{end - 1}",
                    len(rec),
                )
            try:
                value = decode(rec[offset:end])
            except FieldInvalid as e:
                if not f.optional:
                    raise RecordError(f"{f.column}: {e.reason}", offset + e.index) from e
                value = None
            values.append(value)
            row[f.column] = value
        return row

    def _count(self, name: str, values: list[Any], counts: dict[str, int]) -> int:
        if name in counts:
            return counts[name]
        index = self._count_field.get(name)
        if index is None or index >= len(values):
            raise RecordError(f"the OCCURS DEPENDING ON count {name} is not before its array", 0)
        value = values[index]
        low, high = self.odo_ranges[name]
        f = self.fields[index]
        if not isinstance(value, int) or not low <= value <= high:
            raise RecordError(
                f"{name}: the OCCURS DEPENDING ON count is not between {low} and {high}",
                f.offset,
            )
        counts[name] = value
        return value

    # --- the compiled fast path --------------------------------------------------------

    def compile_batch(self) -> Callable[..., list[dict[str, Any]]] | None:
        """A generated function that decodes a batch of same-length records.

        Signature: ``batch(buf, text, hexed, count, reclen, first_number, slow)`` where
        ``text`` is ``buf`` decoded with the code page (or None), ``hexed`` is
        ``buf.hex()`` (or None) and ``slow(k)`` decodes record ``k`` exactly (a row, or
        None when the record is set aside or belongs to another table). None when this
        layout has no fast path (OCCURS DEPENDING ON).
        """
        if self.has_odo:
            return None
        total = self.cp.total
        ns: dict[str, Any] = {"D": Decimal, "_Slow": _Slow}
        lines: list[str] = []
        names: list[str] = []
        # Binary and floating fields that do not overlap share one struct call.
        groups: list[list[tuple[int, Field]]] = []
        for i, f in sorted(enumerate(self.fields), key=lambda p: p[1].offset):
            if f.type.kind in ("binary", "float", "double") and _struct_code(
                f.type, self.ibm_float
            ):
                if groups and groups[-1][-1][1].end <= f.offset:
                    groups[-1].append((i, f))
                else:
                    groups.append([(i, f)])
        in_group: dict[int, tuple[int, int]] = {}
        for g, group in enumerate(groups):
            fmt = ">"
            pos = group[0][1].offset
            for slot, (i, f) in enumerate(group):
                gap = f.offset - pos
                fmt += (f"{gap}x" if gap else "") + _struct_code(f.type, self.ibm_float)
                pos = f.end
                in_group[i] = (g, slot)
            ns[f"S{g}"] = struct.Struct(fmt).unpack_from
        for g, group in enumerate(groups):
            vars_ = ", ".join(f"v{i}" for i, _ in group)
            lines.append(f"{vars_}, = S{g}(buf, B + {group[0][1].offset})")
        for i, f in enumerate(self.fields):
            ns[f"F{i}"] = self.decoders[i]
            lines.extend(self._field_code(i, f, in_group, total, ns))
            names.append(f"{f.column!r}: v{i}")
        rn = self.record_number
        body = "\n".join("            " + line for line in lines)
        row = ", ".join([f"{rn!r}: N0 + k", *names])
        source = (
            "def batch(buf, T, HX, n, reclen, N0, slow):\n"
            "    out = []\n"
            "    append = out.append\n"
            "    for k in range(n):\n"
            "        B = k * reclen\n"
            "        H = 2 * B\n"
            "        try:\n"
            f"{body}\n"
            f"            append({{{row}}})\n"
            "        except Exception:\n"
            "            r = slow(k)\n"
            "            if r is not None:\n"
            "                append(r)\n"
            "    return out\n"
        )
        exec(compile(source, "<copybook-batch>", "exec"), ns)  # noqa: S102 - our own source
        fn: Callable[..., list[dict[str, Any]]] = ns["batch"]
        return fn

    @property
    def needs_hex(self) -> bool:
        return any(f.type.kind == "packed" for f in self.fields)

    def _field_code(
        self,
        i: int,
        f: Field,
        in_group: dict[int, tuple[int, int]],
        total: bool,
        ns: dict[str, Any],
    ) -> list[str]:
        ft = f.type
        o, n = f.offset, ft.size
        sl = f"B + {o}:B + {o + n}"
        v = f"v{i}"
        if i in in_group:
            if ft.kind == "binary":
                out = []
                if not ft.native:
                    limit = 10**ft.digits
                    out.append(f"if not -{limit} < {v} < {limit}: raise _Slow")
                if ft.scale > 0:
                    out.append(f"{v} = D(f'{{{v}}}E-{ft.scale}')")
                elif ft.scale < 0:
                    out.append(f"{v} = {v} * {10 ** (-ft.scale)}")
                return out
            ns["INF"] = float("inf")
            return [f"if {v} != {v} or {v} in (INF, -INF): raise _Slow"]
        if ft.kind == "text" and total:
            return [f"{v} = T[{sl}].rstrip(' \\x00')"]
        if ft.kind == "display" and total and not ft.sign_separate and not ft.sign_leading:
            if not ft.signed:
                out = [
                    f"{v} = T[{sl}]",
                    f"if not ({v}.isdigit() and {v}.isascii()): raise _Slow",
                ]
                sign = ""
                digits = v
            else:
                ns["OV"] = {
                    c: ("-" if neg else "", str(d))
                    for c, (neg, d) in self.alphabet.over_chars.items()
                }
                out = [
                    f"t = T[{sl}]",
                    "h = t[:-1]",
                    "sg, dg = OV[t[-1]]",
                    "if h and not (h.isdigit() and h.isascii()): raise _Slow",
                    "if sg and not (h + dg).strip('0'): sg = ''",
                ]
                sign = "sg"
                digits = "h + dg"
            out.append(f"{v} = {_value_code(sign, digits, ft.scale)}")
            return out
        if ft.kind == "packed":
            extra = 2 * n - 1 - ft.digits
            out = [
                f"h = HX[H + {2 * o}:H + {2 * (o + n)}]",
                "d = h[:-1]",
                "s = h[-1]",
                "if not d.isdigit(): raise _Slow",
            ]
            if extra:
                out.append(f"if d[:{extra}] != '{'0' * extra}': raise _Slow")
            if ft.signed:
                out.append("if s == 'c' or s == 'f': sg = ''")
                out.append("elif s == 'd': sg = '-' if d.strip('0') else ''")
                out.append("else: raise _Slow")
            else:
                out.append("if s != 'f' and s != 'c': raise _Slow")
            out.append(f"{v} = {_value_code('sg' if ft.signed else repr(''), 'd', ft.scale)}")
            return out
        return [f"{v} = F{i}(buf[{sl}])"]


def _value_code(sign: str, digits: str, scale: int) -> str:
    sign_part = f"{sign} + " if sign and sign != "''" else ""
    if scale == 0:
        return f"int({sign_part}{digits})"
    if scale < 0:
        return f"int({sign_part}{digits}) * {10 ** (-scale)}"
    # Built from text so that no context precision can round it.
    return f"D({sign_part}{digits} + 'E-{scale}')"


def _struct_code(ft: FieldType, ibm_float: bool) -> str:
    if ft.kind == "float":
        return "" if ibm_float else "f"
    if ft.kind == "double":
        return "" if ibm_float else "d"
    codes = {2: "h", 4: "i", 8: "q"}
    code = codes.get(ft.size, "")
    return code if ft.signed else code.upper()


class _Slow(Exception):
    """Raised by generated code: this record needs the exact decoder."""
