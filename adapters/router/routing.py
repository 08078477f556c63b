"""Which side a request goes to: the rules every router follows.

Reads (GET, HEAD, OPTIONS, TRACE) are split by the setting's share. Everything else is a
write and goes to the system of record only: PUT too, because "idempotent" in HTTP means
a repeat does no more harm, not that it changes nothing, and a write that reached the
side that is not the system of record would be lost or diverge.

With a sticky key the split is a pure function of the key's value: the first 8 bytes of
its sha256, modulo 100, below the modern share. A citizen therefore stays on one side
during a stage, and when the share rises only citizens move from legacy to modern,
never back.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Literal

import httpx

from config.migration_plan import CutoverPlan
from domain.cutover import RouterHealth, RouterSetting, Side

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
SHADOWED_METHODS = frozenset({"GET", "HEAD"})


def is_write(method: str) -> bool:
    """Whether a request may change state, and so belongs to the system of record."""
    return method.upper() not in READ_METHODS


def bucket_of(value: str) -> int:
    """A sticky value's place in 0..99, the same in every process and every release."""
    digest = hashlib.sha256(value.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 100


def side_for_bucket(bucket: int, modern_percent: int) -> Side:
    return Side.MODERN if bucket < modern_percent else Side.LEGACY


@dataclass(frozen=True)
class StickyKey:
    """Where a request carries the value that keeps a citizen on one side.

    ``kind`` is ``header``, ``cookie`` or ``path``. A path key is a segment number (from 1)
    or a template such as ``/claimants/{id}`` whose one named segment is the value.
    """

    kind: Literal["header", "cookie", "path"]
    name: str
    segment: int | None = None
    template: tuple[str, ...] | None = None

    @classmethod
    def parse(cls, spec: str) -> StickyKey:
        """Read a plan's ``sticky_key`` (already validated by the plan's schema)."""
        kind, _, rest = spec.partition(":")
        if kind == "header":
            return cls("header", rest.lower())
        if kind == "cookie":
            return cls("cookie", rest)
        if kind == "path" and rest.isdigit():
            return cls("path", rest, segment=int(rest))
        if kind == "path":
            parts = tuple(rest.strip("/").split("/"))
            named = [i for i, part in enumerate(parts) if re.fullmatch(r"\{\w+\}", part)]
            if len(named) != 1:
                raise ValueError(f"sticky key {spec!r} needs exactly one {{name}} segment")
            return cls("path", parts[named[0]][1:-1], segment=named[0] + 1, template=parts)
        raise ValueError(f"unknown sticky key {spec!r}")

    def value(self, path: str, headers: dict[str, str]) -> str | None:
        """The key's value in one request, or None when the request does not carry it.

        Args:
            path: the request's path, without the query.
            headers: the request's headers, names lower-cased.
        """
        if self.kind == "header":
            return headers.get(self.name) or None
        if self.kind == "cookie":
            raw = headers.get("cookie")
            if not raw:
                return None
            try:
                jar = SimpleCookie(raw)
            except CookieError:
                return None
            morsel = jar.get(self.name)
            return morsel.value if morsel is not None and morsel.value else None
        segments = path.strip("/").split("/")
        assert self.segment is not None
        if self.template is not None:
            if len(segments) < len(self.template):
                return None
            for expected, actual in zip(self.template, segments, strict=False):
                if not expected.startswith("{") and expected != actual:
                    return None
        if len(segments) < self.segment:
            return None
        return segments[self.segment - 1] or None

    def path_regex(self) -> str:
        """A PCRE with one group ``k`` capturing the value from a path (for NGINX)."""
        if self.template is None:
            assert self.segment is not None
            return rf"^/(?:[^/]+/){{{self.segment - 1}}}(?<k>[^/?]+)"
        parts = [
            "(?<k>[^/?]+)" if part.startswith("{") else re.escape(part) for part in self.template
        ]
        return "^/" + "/".join(parts) + "(?:/|$)"


def choose_side(
    setting: RouterSetting, method: str, sticky_value: str | None, random_bucket: int
) -> Side:
    """The side one request goes to.

    Args:
        setting: the live setting.
        method: the request's HTTP method.
        sticky_value: the sticky key's value in the request, if any.
        random_bucket: 0..99, used when there is no sticky value.
    """
    if is_write(method):
        return setting.system_of_record
    bucket = bucket_of(sticky_value) if sticky_value is not None else random_bucket
    return side_for_bucket(bucket, setting.modern_percent)


def probe_sides(client: httpx.Client, plan: CutoverPlan) -> RouterHealth:
    """Ask each side's health path directly: healthy is any answer below 500."""
    problems: list[str] = []
    healthy: dict[Side, bool] = {}
    for side, base in ((Side.LEGACY, plan.legacy_url), (Side.MODERN, plan.modern_url)):
        try:
            status = client.get(base + plan.health_path).status_code
        except httpx.HTTPError as e:
            healthy[side] = False
            problems.append(f"{side.value}: {type(e).__name__}")
            continue
        healthy[side] = status < 500
        if status >= 500:
            problems.append(f"{side.value}: {status}")
    return RouterHealth(
        legacy=healthy[Side.LEGACY], modern=healthy[Side.MODERN], detail="; ".join(problems) or None
    )
