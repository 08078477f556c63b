"""Routing rules and shadow comparison, as pure functions (the proxy and NGINX tests show
them at work over HTTP)."""

from __future__ import annotations

import pytest

from adapters.router.routing import StickyKey, bucket_of, choose_side, is_write
from adapters.router.shadow import parse_ignore_path, same_answer
from domain.cutover import RouterSetting, Side


@pytest.mark.parametrize(
    ("method", "write"),
    [("GET", False), ("HEAD", False), ("OPTIONS", False), ("POST", True), ("PUT", True),
     ("PATCH", True), ("DELETE", True), ("PROPFIND", True)],
)  # fmt: skip
def test_writes_are_every_method_but_the_reads(method: str, write: bool) -> None:
    assert is_write(method) is write


def test_writes_go_to_the_system_of_record_whatever_the_share() -> None:
    for record in Side:
        for percent in (0, 50, 100):
            setting = RouterSetting(modern_percent=percent, system_of_record=record)
            for bucket in (0, 99):
                assert choose_side(setting, "POST", "citizen-1", bucket) is record
                assert choose_side(setting, "PUT", None, bucket) is record


def test_a_rising_share_only_moves_citizens_to_modern() -> None:
    citizens = [f"c{i}" for i in range(5000)]
    before: set[str] = set()
    for percent in (0, 5, 25, 50, 100):
        setting = RouterSetting(modern_percent=percent)
        modern = {c for c in citizens if choose_side(setting, "GET", c, 0) is Side.MODERN}
        assert before <= modern
        assert abs(len(modern) / len(citizens) - percent / 100) < 0.03
        before = modern
    assert bucket_of("c1") == bucket_of("c1")


def test_without_a_sticky_value_the_draw_decides() -> None:
    setting = RouterSetting(modern_percent=25)
    assert choose_side(setting, "GET", None, 24) is Side.MODERN
    assert choose_side(setting, "GET", None, 25) is Side.LEGACY


@pytest.mark.parametrize(
    ("spec", "path", "headers", "value"),
    [
        ("header:X-Citizen-Id", "/a", {"x-citizen-id": "C1"}, "C1"),
        ("header:X-Citizen-Id", "/a", {}, None),
        ("cookie:citizen", "/a", {"cookie": "theme=dark; citizen=C2"}, "C2"),
        ("cookie:citizen", "/a", {"cookie": "theme=dark"}, None),
        ("path:2", "/claimants/C3/history", {}, "C3"),
        ("path:2", "/claimants", {}, None),
        ("path:/claimants/{id}", "/claimants/C4/history", {}, "C4"),
        ("path:/claimants/{id}", "/payments/C4", {}, None),
    ],
)
def test_sticky_values_are_found_where_the_plan_says(
    spec: str, path: str, headers: dict[str, str], value: str | None
) -> None:
    assert StickyKey.parse(spec).value(path, headers) == value


def test_shadow_comparison_ignores_the_plans_paths_and_number_spelling() -> None:
    ignore = [parse_ignore_path(p) for p in ("fetched_at", "$.items[*].etag", "meta.ids[0]")]
    legacy = b'{"a": 1.50, "fetched_at": 1, "items": [{"n": 1, "etag": "x"}], '
    legacy += b'"meta": {"ids": [7, 8]}}'
    modern = b'{"items": [{"etag": "y", "n": 1.0}], "a": 1.5, "fetched_at": 2, '
    modern += b'"meta": {"ids": [9, 8]}}'
    assert same_answer((200, legacy), (200, modern), ignore)
    assert not same_answer((200, legacy), (200, modern), [])
    assert not same_answer((200, legacy), (500, legacy), ignore)
    assert not same_answer((200, b'{"a": 1}'), (200, b'{"a": 2}'), ignore)
    assert same_answer((200, b"plain text"), (200, b"plain text"), ignore)
    assert not same_answer((200, b"plain text"), (200, b"plain text!"), ignore)
