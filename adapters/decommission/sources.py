"""The legacy source as decommissioning sees it: opened for reading, and, for file
sources, the files on disk that make it up (archived byte for byte, frozen by mode)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.errors import PlanError
from legacy_connectors import LegacySource, open_source

MEMO_SUFFIXES = (".dbt", ".fpt")
"""dBase and FoxPro memo files: part of a table though not named by the plan."""


@dataclass(frozen=True)
class SourceFile:
    """One file of a file source: its name in the archive and where it is."""

    name: str  # unique within the source: a path relative to the plan's folder or file
    path: Path


def open_legacy_source(config: Any) -> LegacySource:
    """Open the plan's legacy source for reading, every table, no plan filters.

    A copybook source is built from its config's fields by name, since its opener takes
    keyword arguments only.
    """
    if getattr(config, "kind", None) == "copybook":
        from legacy_connectors.copybook import open_copybook_source

        options = config.model_dump(exclude={"kind"})
        source = open_copybook_source(**options)
        source.open()
        return source
    return open_source(config)


def source_files(config: Any) -> list[SourceFile]:
    """Every file a file source is made of, in a stable order; [] for a sql source.

    copybook: the copybook and the data file. csv, dbf: the file, or every file in the
    folder (and below it: a folder of exports is archived whole). dbf: a file's memo
    file beside it too. access: the database file.

    Raises:
        PlanError: a file the plan names does not exist.
    """
    kind = getattr(config, "kind", None)
    if kind == "sql":
        return []
    if kind == "copybook":
        paths = [Path(config.copybook), Path(config.data)]
        for path in paths:
            _must_exist(path)
        return _named(paths)
    if kind in ("csv", "dbf", "access"):
        root = Path(config.path)
        _must_exist(root)
        if root.is_dir():
            found = sorted(p for p in root.rglob("*") if p.is_file())
            return [SourceFile(p.relative_to(root).as_posix(), p) for p in found]
        paths = [root]
        if kind == "dbf":
            paths += sorted(
                p
                for p in root.parent.iterdir()
                if p.is_file() and p.stem == root.stem and p.suffix.lower() in MEMO_SUFFIXES
            )
        return _named(paths)
    raise PlanError(f"unknown source kind {kind!r}")


def _must_exist(path: Path) -> None:
    if not path.exists():
        raise PlanError(f"no such file or folder: {path}")


def _named(paths: list[Path]) -> list[SourceFile]:
    # By file name; two files of one name (in different folders) are told apart by number.
    out: list[SourceFile] = []
    seen: set[str] = set()
    for index, path in enumerate(paths, start=1):
        name = path.name if path.name not in seen else f"{index}-{path.name}"
        seen.add(name)
        out.append(SourceFile(name, path))
    return out
