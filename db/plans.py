"""Stored plan versions: what ``migrate run`` ran, read back by every activity of the run.

``store_plan`` keeps a plan file's content with the fingerprints of the files its source
reads; the run then carries ``plan:<version>`` instead of a path. ``StoredPlans`` reads a
version back on a worker (once per version: it is cached by its hash) and checks the
files on every read:

- a copybook travels with the plan (its content is stored) and is written out, named by
  its sha256, on a worker that does not have it at the plan's path;
- a data file stays where it is (it may be gigabytes): it must be at the same path on
  every worker, and one that changed since the plan was stored is refused with an error
  naming it, rather than copied half old, half new.
"""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from config.migration_plan import PLAN_REF_PREFIX, MigrationPlan, parse_plan, use_stored_plans
from db.models import PlanVersion
from db.session import insert_or_ignore, session_scope
from db.types import utcnow
from domain.errors import NotFoundError, PlanError

CARRIED = ("copybook",)
"""Source fields whose files travel with the plan: small, and read whole at every open."""
_CHUNK = 1 << 20


@dataclass(frozen=True)
class PlanFile:
    """A file the plan's source reads, as it was when the plan was stored.

    Attributes:
        field: the source option that names it (``copybook``, ``data``, ``path``).
        path: where it was, absolute.
        sha256: its content's hash.
        size: its length in bytes.
        mtime_ns: its modification time (a worker whose copy has the same size and time
            is not made to hash it again).
        content: base64 of the content, for a file that travels with the plan.
    """

    field: str
    path: str
    sha256: str
    size: int
    mtime_ns: int
    content: str | None = None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _source_files(plan: MigrationPlan) -> Iterator[tuple[str, Path]]:
    """Each file the source names; for a folder, each file in it."""
    for name, value in plan.source:
        if not isinstance(value, Path):
            continue
        if value.is_dir():
            for child in sorted(value.iterdir()):
                if child.is_file() and not child.name.startswith("."):
                    yield name, child
        else:
            yield name, value


def fingerprint(plan: MigrationPlan) -> list[PlanFile]:
    """The files the plan's source reads, hashed; copybooks with their content.

    Raises:
        PlanError: a file the plan names cannot be read.
    """
    files = []
    for name, path in _source_files(plan):
        try:
            stat = path.stat()
            content = path.read_bytes() if name in CARRIED else None
            sha = hashlib.sha256(content).hexdigest() if content is not None else file_sha256(path)
        except OSError as e:
            raise PlanError(f"cannot read the plan's {name} file {path}: {e.strerror}") from e
        carried = base64.b64encode(content).decode() if content is not None else None
        files.append(PlanFile(name, str(path), sha, stat.st_size, stat.st_mtime_ns, carried))
    return files


def _version(content: bytes, base_dir: str, files: list[PlanFile]) -> str:
    identity = {"plan": hashlib.sha256(content).hexdigest(), "base": base_dir,
                "files": [[f.field, f.path, f.sha256] for f in files]}  # fmt: skip
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def plan_ref(version: str) -> str:
    """The reference a run carries for a stored version."""
    return f"{PLAN_REF_PREFIX}{version}"


def version_of(ref: str) -> str:
    """The version a reference names.

    Raises:
        PlanError: ``ref`` is not a stored plan's reference.
    """
    version = ref.removeprefix(PLAN_REF_PREFIX)
    if not ref.startswith(PLAN_REF_PREFIX) or len(version) != 64:
        raise PlanError(f"not a stored plan's reference: {ref!r}")
    return version


def store_plan(session: Session, plan_file: Path) -> PlanVersion:
    """Keep a plan file's content and the fingerprints of its files; the same content,
    folder and files are one version, however often they are run.

    Raises:
        PlanError: the plan does not load, or a file it names cannot be read.
    """
    plan_file = plan_file.resolve()
    try:
        raw = plan_file.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PlanError(f"cannot read the plan: {e}", where=str(plan_file)) from e
    base = str(plan_file.parent)
    plan = parse_plan(text, filename=str(plan_file), base=plan_file.parent)
    files = fingerprint(plan)
    version = _version(raw, base, files)
    session.execute(
        insert_or_ignore(session, PlanVersion.__table__)
        .values(version=version, system_id=plan.system.id,
                plan_sha256=hashlib.sha256(raw).hexdigest(), content=text,
                filename=str(plan_file), base_dir=base,
                files=[asdict(f) for f in files], created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["version"])
    )  # fmt: skip
    return session.scalars(select(PlanVersion).where(PlanVersion.version == version)).one()


def get_plan_version(session: Session, version: str) -> PlanVersion:
    """A stored version.

    Raises:
        NotFoundError: no such version is stored.
    """
    found = session.scalars(select(PlanVersion).where(PlanVersion.version == version)).first()
    if found is None:
        raise NotFoundError(f"no stored plan version {version[:12]}")
    return found


@dataclass(frozen=True)
class _Loaded:
    plan: MigrationPlan
    files: tuple[PlanFile, ...]


class StoredPlans:
    """Reads stored plan versions on a worker: each version parsed once, its files
    checked at every read (a ``stat``; a hash only when size or time differ).

    Args:
        database_url: the engine database.
        cache_dir: where copybooks are written out, named by their sha256.
    """

    def __init__(self, database_url: str, cache_dir: Path) -> None:
        self.database_url = database_url
        self.cache_dir = cache_dir
        self._plans: dict[str, _Loaded] = {}
        self._hashes: dict[tuple[str, int, int], str] = {}
        self._lock = threading.Lock()

    def load(self, ref: str) -> MigrationPlan:
        """The plan a run's reference names, its files checked.

        Raises:
            PlanError: no such version, or a data file that is missing or changed since
                the version was stored (the message names the file).
        """
        version = version_of(ref)
        with self._lock:
            loaded = self._plans.get(version)
        if loaded is None:
            loaded = self._read(version)
            with self._lock:
                self._plans[version] = loaded
        for file in loaded.files:
            if file.content is None:
                self._check(version, file)
        return loaded.plan

    def _read(self, version: str) -> _Loaded:
        try:
            with session_scope(self.database_url) as session:
                row = get_plan_version(session, version)
                content, base, filename = row.content, row.base_dir, row.filename
                files = tuple(PlanFile(**f) for f in row.files)
        except NotFoundError as e:
            raise PlanError(f"{e.message}: the run's plan is not in this engine database "
                            f"({self.database_url.split('@')[-1]})") from e  # fmt: skip
        plan = parse_plan(content, filename=f"{filename} (version {version[:12]})",
                          base=Path(base))  # fmt: skip
        update: dict[str, Any] = {}
        for file in files:
            if file.content is not None:
                update[file.field] = self._carried(file)
        if update:
            plan = plan.model_copy(update={"source": plan.source.model_copy(update=update)})
        return _Loaded(plan, files)

    def _carried(self, file: PlanFile) -> Path:
        """The file at the plan's path when it is the same; else written out by hash."""
        path = Path(file.path)
        try:
            if path.stat().st_size == file.size and file_sha256(path) == file.sha256:
                return path
        except OSError:
            pass
        out = self.cache_dir / f"{file.sha256}{path.suffix}"
        if not out.exists():
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            partial = out.with_suffix(out.suffix + f".{threading.get_ident()}.part")
            partial.write_bytes(base64.b64decode(file.content or ""))
            partial.replace(out)
        return out

    def _check(self, version: str, file: PlanFile) -> None:
        path = Path(file.path)
        try:
            stat = path.stat()
        except OSError as e:
            raise PlanError(
                f"the plan's {file.field} file {path} is not on this worker ({e.strerror}): "
                "every worker needs it at that path"
            ) from e
        if (stat.st_size, stat.st_mtime_ns) == (file.size, file.mtime_ns):
            return
        seen = (str(path), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            sha = self._hashes.get(seen)
        if sha is None:
            sha = file_sha256(path)
            with self._lock:
                self._hashes[seen] = sha
        if sha != file.sha256:
            raise PlanError(
                f"the plan's {file.field} file {path} changed since the run stored its plan "
                f"(version {version[:12]}; sha256 was {file.sha256[:12]}, is {sha[:12]}): "
                "run the plan again with --new-version to copy the new file"
            )


_served: dict[str, StoredPlans] = {}


def serve_stored_plans(database_url: str, cache_dir: Path | None = None) -> StoredPlans:
    """Make ``config.migration_plan.load_plan`` read stored versions from this engine
    database, in this process (every activity that loads a run's plan, the cutover's too).

    Args:
        database_url: the engine database.
        cache_dir: where copybooks are written out (default: a folder in the temp dir).
    """
    plans = _served.get(database_url)
    if plans is None:
        folder = cache_dir or Path(tempfile.gettempdir()) / "switchover-plans"
        plans = _served[database_url] = StoredPlans(database_url, folder)
    use_stored_plans(plans.load)
    return plans


__all__ = [
    "PlanFile",
    "StoredPlans",
    "file_sha256",
    "fingerprint",
    "get_plan_version",
    "plan_ref",
    "serve_stored_plans",
    "store_plan",
    "version_of",
]
