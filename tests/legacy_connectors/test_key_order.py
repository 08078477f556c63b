"""The external sort every file source shares, and text files read by key in any order."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

import legacy_connectors.key_order
from domain.errors import LegacyReadError
from legacy_connectors import RECORD_NUMBER
from legacy_connectors.key_order import KeySort, RepeatedKey, key_of_order, key_order
from legacy_connectors.text_files import TextFileSource


@pytest.mark.parametrize("seed", range(6))
def test_sorts_any_order_with_or_without_spilling(seed: int) -> None:
    rng = random.Random(seed)
    keys = rng.sample(range(10**6), rng.randrange(1, 3000))
    keyed = [(k, None if k % 7 == 0 else f"{k:x}") for k in keys]  # a None sorts last
    with KeySort(run_rows=rng.choice([1, 13, 500, 10**6])) as sort:
        for number, key in enumerate(keyed, start=1):
            sort.add(key_order(key), number, {"payload": key}, size=rng.randrange(100))
        merged = list(sort.merged())
    assert [key_of_order(o) for o, _n, _p in merged] == sorted(
        keyed, key=lambda k: (k[0], k[1] is None, k[1] or "")
    )
    assert all(p == {"payload": key_of_order(o)} for o, _n, p in merged)
    assert sorted(n for _o, n, _p in merged) == list(range(1, len(keyed) + 1))


def test_spills_by_bytes_too() -> None:
    with KeySort(run_rows=10**6, run_bytes=1000) as sort:
        for number in range(1, 101):
            sort.add(key_order((-number,)), number, b"x" * 100, size=100)
        assert sort.spilled == 10
        assert [n for _o, n, _p in sort.merged()] == list(range(100, 0, -1))


def test_a_repeated_key_names_the_earlier_record_first() -> None:
    with KeySort(run_rows=2) as sort:
        for number, key in enumerate([5, 3, 9, 3, 1], start=1):
            sort.add(key_order((key,)), number, None)
        with pytest.raises(RepeatedKey) as e:
            list(sort.merged())
    assert (e.value.first[1], e.value.second[1]) == (2, 4)


def csv_file(tmp_path: Path, seed: int, rows: int) -> tuple[TextFileSource, list[int]]:
    rng = random.Random(seed)
    ids = rng.sample(range(1, 10 * rows), rows)
    lines = ["id,name"] + [f"{i:08d},name {i}" for i in ids]
    (tmp_path / "people.csv").write_text("\n".join(lines) + "\n")
    return TextFileSource(tmp_path / "people.csv"), sorted(ids)


@pytest.mark.parametrize("seed", range(3))
def test_csv_ranges_read_by_key_in_any_order(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(legacy_connectors.key_order, "SORT_RUN_ROWS", 41)
    source, ids = csv_file(tmp_path, seed, 700)
    everything = [r for b in source.read("people", ["id"]) for r in b]
    assert [int(r["id"]) for r in everything] == ids
    cuts = [f"{ids[i]:08d}" for i in sorted(random.Random(seed).sample(range(700), 5))]
    ranged = []
    after = None
    for upto in [*cuts, None]:
        ranged += [
            r
            for b in source.read(
                "people",
                ["id"],
                after=None if after is None else (after,),
                upto=None if upto is None else (upto,),
            )
            for r in b
        ]
        after = upto
    assert ranged == everything
    by_number = [
        r for b in source.read("people", [RECORD_NUMBER], after=(10,), upto=(20,)) for r in b
    ]
    assert [r[RECORD_NUMBER] for r in by_number] == list(range(11, 21))


def test_csv_repeated_key_is_reported_by_lookup_and_read(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("id,name\n3,a\n1,b\n3,c\n")
    source = TextFileSource(tmp_path / "p.csv")
    with pytest.raises(LegacyReadError, match="record 3: key id repeats: record 1 has"):
        list(source.read("p", ["id"]))
    with pytest.raises(LegacyReadError, match="record 3: key id repeats: record 1 has"):
        source.lookup("p", ["id"], [("3",)])
    assert source.lookup("p", ["id"], [("1",)]) == {("1",): {"id": "1", "name": "b"}}
