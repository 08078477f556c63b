"""The migration plan format (DESIGN.md, "Migration plan format"), as pydantic models.

``load_plan(path)`` reads a plan file and validates it. Every problem is reported with
the file, the line and the field (``electoral.yaml, line 14, tables[0].key: ...``), since
engineers write these files by hand. Paths in a file source (csv, dbf, access, copybook)
are resolved relative to the plan file.

A run does not read the engineer's file: ``migrate run`` stores the plan in the engine
database and the run carries a reference to that version (``plan:<sha256>``), which
``load_plan`` hands to the loader a worker registered with ``use_stored_plans`` (the
engine database lives above this package).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from domain.errors import PlanError
from domain.migration import DEFAULT_HEARTBEAT_TIMEOUT_S

_TRANSFORM = re.compile(
    r"^(strip|upper|lower|title|int|ebcdic-packed|date:.+|decimal:\d+|null_if:.*|map:.+"
    r"|[A-Za-z_][\w.]*:[A-Za-z_]\w*)$"
)


class _Model(BaseModel):
    # A misspelt option must fail loudly rather than be ignored.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SystemPlan(_Model):
    """The legacy system being retired, and what it costs."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str
    department: str | None = None
    annual_run_cost_gbp: float = Field(default=0, ge=0)
    migration_cost_gbp: float = Field(default=0, ge=0)
    risk_score: int | None = Field(default=None, ge=0, le=30)


class SqlSourceConfig(_Model):
    """A database reached through SQLAlchemy: ``mysql+pymysql://``, ``postgresql+psycopg://``,
    ``sqlite:///``, or any other dialect installed."""

    kind: Literal["sql"]
    url: str
    db_schema: str | None = Field(default=None, alias="schema")
    connect_timeout_s: int = Field(default=10, gt=0)
    change_stream: Literal["auto", "on", "off"] = "auto"
    """Keep the copy in step through the database's change stream (MariaDB/MySQL binlog,
    PostgreSQL logical decoding): ``auto`` uses it when the server is ready for it and
    falls back to ``updated_at`` and re-diffs when not; ``on`` refuses to start without
    it; ``off`` never uses it."""

    def resolved(self, base: Path) -> SqlSourceConfig:
        """The config with a relative SQLite file resolved against ``base``."""
        prefix = "sqlite:///"
        rest = self.url[len(prefix) :]
        if self.url.startswith(prefix) and rest and not rest.startswith(("/", ":memory:")):
            return self.model_copy(update={"url": prefix + str((base / rest).resolve())})
        return self


class _FileSourceConfig(_Model):
    quarantine_bad_records: bool = False
    """Set a record that does not decode aside (counted in ReadStats.skipped, with its
    record number, byte offset and reason) instead of failing the read."""

    @model_validator(mode="after")
    def _paths_hold_no_nul(self) -> Self:
        for name, value in self:
            if isinstance(value, Path) and "\0" in str(value):
                raise ValueError(f"{name}: a file path cannot hold a NUL character")
        return self

    def resolved(self, base: Path) -> Any:
        """The config with every relative path made absolute against ``base``."""
        update = {
            name: (base / value).resolve()
            for name, value in self
            if isinstance(value, Path) and not value.is_absolute()
        }
        return self.model_copy(update=update)


class CopybookSourceConfig(_FileSourceConfig):
    """Mainframe files described by a COBOL copybook (EBCDIC)."""

    kind: Literal["copybook"]
    copybook: Path
    data: Path
    encoding: str = "cp037"
    record_format: Literal["F", "FB", "V", "VB"] = "F"
    rdw_counts_header: bool = True
    segment_field: str | None = None
    segments: dict[str, str] = Field(default_factory=dict)
    redefines: dict[str, str] = Field(default_factory=dict)


class FixedWidthField(_Model):
    """One column of a fixed-width text file: 1-based start column and width."""

    name: str
    start: int = Field(ge=1)
    length: int = Field(ge=1)


class CsvSourceConfig(_FileSourceConfig):
    """Delimited or fixed-width text exports: one file, or a folder of them (a table each)."""

    kind: Literal["csv"]
    path: Path
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    """None: sniffed from the start of each file."""
    quotechar: str = Field(default='"', min_length=1, max_length=1)
    encoding: str = "utf-8"
    """Any code page Python knows; a UTF-8 byte-order mark is dropped."""
    header: bool | None = None
    """Whether the first line names the columns; default yes for delimited, no for fixed-width."""
    column_names: list[str] | None = None
    """Column names for files without a header row."""
    layout: list[FixedWidthField] | None = None
    """Given: the files are fixed-width text with these columns."""
    empty_as_null: bool = True

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        return _check_encoding(value)

    @model_validator(mode="after")
    def _names_without_header(self) -> CsvSourceConfig:
        if self.header is False and self.layout is None and not self.column_names:
            raise ValueError("a file without a header needs column_names (or a layout)")
        return self


class DbfSourceConfig(_FileSourceConfig):
    """dBase III/IV, FoxPro and Visual FoxPro tables: one .dbf file, or a folder of them."""

    kind: Literal["dbf"]
    path: Path
    encoding: str | None = None
    """None: the code page the file's header declares (its language driver byte)."""
    ignore_missing_memo: bool = False
    """Read memo columns as null when the .dbt/.fpt file is missing, instead of failing."""

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        return None if value is None else _check_encoding(value)


class AccessSourceConfig(_FileSourceConfig):
    """A Microsoft Access database (.mdb, Jet 3/4; .accdb), read with mdbtools."""

    kind: Literal["access"]
    path: Path


SourceConfig = Annotated[
    SqlSourceConfig | CopybookSourceConfig | CsvSourceConfig | DbfSourceConfig | AccessSourceConfig,
    Field(discriminator="kind"),
]


class TargetPlan(_Model):
    """Where the modern copy lives."""

    url: str
    db_schema: str | None = Field(default=None, alias="schema")


class ColumnMapping(_Model):
    """A source column's target name and transform."""

    to: str
    transform: str | None = None
    inverse: str | None = None
    """How a modern value goes back to legacy after the switch (reverse replication), for
    a transform that has no inverse of its own (``upper``, ``module:function``): a
    transform, or ``keep`` to leave legacy's value as it is."""

    @field_validator("transform")
    @classmethod
    def _known_transform(cls, value: str | None) -> str | None:
        if value is not None and not _TRANSFORM.match(value):
            raise ValueError(
                f"unknown transform {value!r}: use strip, upper, lower, title, int, date:FMT, "
                "decimal:N, null_if:A|B, map:A=B|C=D, ebcdic-packed, or module:function"
            )
        return value

    @field_validator("inverse")
    @classmethod
    def _known_inverse(cls, value: str | None) -> str | None:
        if value is not None and value != "keep" and not _TRANSFORM.match(value):
            raise ValueError(f"unknown inverse {value!r}: use keep, or a transform")
        return value


class TablePlan(_Model):
    """One table to copy and reconcile."""

    source: str
    target: str
    key: list[str] | None = Field(default=None, min_length=1)
    """None: the key the source declares (a primary key, or a file's record order)."""
    columns: dict[str, str | ColumnMapping] = Field(default_factory=dict)
    where: str | None = None
    tolerance: dict[str, float] = Field(default_factory=dict)
    updated_at: str | None = None
    """A source column holding each row's last change: catch-up re-copies rows changed
    since the copy began by it (otherwise catch-up re-diffs)."""
    parallel: int = Field(default=1, ge=1, le=64)
    """Copy the table as this many key ranges at once, each by its own activities (on any
    worker). The key's range is split evenly, so it takes a single integer key; a table
    keyed otherwise is copied as one range."""

    def column_mapping(self, source_column: str) -> ColumnMapping:
        """Where a source column goes: as mapped, or under its lower-cased name."""
        mapped = self.columns.get(source_column)
        if mapped is None:
            return ColumnMapping(to=source_column.lower())
        if isinstance(mapped, str):
            return ColumnMapping(to=mapped)
        return mapped


class GatesPlan(_Model):
    """What each cutover stage must show before the next."""

    max_error_rate: float = Field(default=0.01, ge=0, le=1)
    max_p95_ms: float = Field(default=800, gt=0)
    max_mismatch_rate: float = Field(default=0.001, ge=0, le=1)
    min_requests: int = Field(default=200, ge=0)
    soak_minutes: float = Field(default=30, ge=0)
    max_lag_s: float = Field(default=60, gt=0)
    """With a change stream: how far (seconds) modern may be behind legacy's writes when
    a stage is judged; further behind, the stage fails (modern answers stale data)."""


_STICKY_KEY = re.compile(
    r"^(header:[A-Za-z0-9!#$%&'*+.^_`|~-]+|cookie:[^\s;=,]+|path:[1-9]\d*"
    r"|path:/[^\s{}]*\{[A-Za-z_]\w*\}[^\s{}]*)$"
)
_IGNORE_PATH = re.compile(r"^(\$\.?)?([^.\[\]]+|\[(\*|\d+)\])(\.?([^.\[\]]+|\[(\*|\d+)\]))*$")
_HOST_PORT = re.compile(r"^[A-Za-z0-9.\-]+:\d{1,5}$|^\[[0-9A-Fa-f:]+\]:\d{1,5}$")


class BuiltinRouterOptions(_Model):
    """The built-in proxy (``switchover router PLAN``): how it follows the live setting,
    reports its figures, and how ``apply`` knows it took a new setting."""

    proxy_urls: list[str] = Field(default_factory=list)
    """Proxies ``apply`` asks (``GET /_switchover/setting``) until each serves the new
    setting. Empty: ``apply`` waits until a proxy acknowledges it in the engine database."""
    poll_s: float = Field(default=1.0, gt=0, le=60)
    """How often a proxy reads the live setting from the engine database."""
    flush_s: float = Field(default=5.0, gt=0, le=300)
    """How often a proxy stores the figures it gathered."""
    apply_timeout_s: float = Field(default=30.0, gt=0)
    """How long ``apply`` waits for the proxies to take a new setting."""
    upstream_timeout_s: float = Field(default=30.0, gt=0)
    """A request the chosen side has not answered by then gets 504 and counts as an error."""
    connect_timeout_s: float = Field(default=5.0, gt=0)
    max_connections: int = Field(default=200, gt=0)
    """Connections the proxy keeps open to each side at most."""
    max_compare_bytes: int = Field(default=1_048_576, gt=0)
    """Shadowed answers larger than this are not compared (nor counted as compared)."""
    hold_max_s: float = Field(default=10.0, gt=0, le=300)
    """The write hold at the switch of the system of record lasts at most this long: held
    writes then go on to the old system of record and the switch is tried again."""


class NginxRouterOptions(_Model):
    """An NGINX in front of both services. Switchover owns one file, ``include_file``,
    which the engineer includes in the ``http`` block of ``config``: a server listening on
    ``listen``, the upstreams with their weights, and the JSON access log."""

    config: Path
    """The main configuration, checked with ``nginx -t`` before every reload."""
    include_file: Path
    listen: str = Field(pattern=_HOST_PORT.pattern)
    """``host:port`` the server block Switchover writes listens on."""
    access_log: Path
    """Where that server logs each request as JSON (the router's figures come from it)."""
    pid_file: Path
    """The master process's pid file: a reload is a HUP to that process."""
    nginx_bin: str = "nginx"
    prefix: Path | None = None
    """NGINX's prefix folder (``-p``), when the configuration uses relative paths."""
    verify_timeout_s: float = Field(default=10.0, gt=0)
    """How long to wait for the reloaded NGINX to serve the new setting."""
    upstream_timeout_s: float = Field(default=30.0, gt=0)

    @field_validator("config", "include_file", "access_log", "pid_file", "prefix")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_absolute():
            raise ValueError(f"{value} must be an absolute path")
        return value


class AlbRouterOptions(_Model):
    """An AWS Application Load Balancer whose listener forwards to two target groups."""

    listener_arn: str = Field(pattern=r"^arn:aws[\w-]*:elasticloadbalancing:")
    legacy_target_group_arn: str = Field(pattern=r"^arn:aws[\w-]*:elasticloadbalancing:")
    modern_target_group_arn: str = Field(pattern=r"^arn:aws[\w-]*:elasticloadbalancing:")
    region: str = "eu-west-2"
    endpoint_url: str | None = None
    """An AWS-compatible endpoint instead of AWS's own (tests, LocalStack)."""
    stickiness_seconds: int = Field(default=3600, ge=1, le=604_800)
    """With a sticky key: how long the load balancer keeps a client on one target group.
    ALB offers stickiness by duration only (its own cookie), not by a header's value."""
    metric_period_s: int = Field(default=60, ge=60)
    """CloudWatch period the figures are read in; ALB publishes per minute."""

    @property
    def load_balancer_dimension(self) -> str:
        """CloudWatch's ``LoadBalancer`` dimension: ``app/<name>/<id>`` from the listener."""
        tail = self.listener_arn.split(":", 5)[-1]  # listener/app/<name>/<id>/<listener-id>
        parts = tail.split("/")
        return "/".join(parts[1:4])


class CutoverPlan(_Model):
    """Weighted stages from legacy to modern, gated."""

    router: Literal["builtin", "nginx", "aws-alb"] = "builtin"
    legacy_url: str
    modern_url: str
    stages: list[int] = Field(default_factory=lambda: [5, 25, 50, 100], min_length=1)
    sticky_key: str | None = None
    """What keeps a citizen on one side: ``header:X-Citizen-Id``, ``cookie:NAME``,
    ``path:N`` (the Nth segment of the path, from 1) or ``path:/claimants/{id}``."""
    shadow: bool = True
    shadow_ignore: list[str] = Field(default_factory=list)
    """JSON paths the shadow comparison leaves out: ``generated_at``, ``meta.request_id``,
    ``items[*].etag`` (``[*]`` is every item of a list, ``[0]`` one)."""
    health_path: str = Field(default="/", pattern=r"^/")
    """Path a side must answer (below 500) to count as healthy."""
    gates: GatesPlan = Field(default_factory=GatesPlan)
    on_gate_failure: Literal["rollback", "freeze"] = "rollback"
    approval: Literal["required", "auto"] = "required"
    catch_up_every_s: float = Field(default=60, gt=0)
    """During shadow and every stage, re-copy rows legacy changed this often: modern
    answers reads of data whose writes still go to legacy, so it must not lag."""
    final_soak_minutes: float = Field(default=0, ge=0)
    """After modern becomes the system of record, keep legacy current from modern's writes
    (reverse replication) this long before legacy is frozen: a ``rollback`` meanwhile
    switches back and loses nothing. 0: freeze at once, with no way back."""
    builtin: BuiltinRouterOptions = Field(default_factory=BuiltinRouterOptions)
    nginx: NginxRouterOptions | None = None
    alb: AlbRouterOptions | None = None

    @field_validator("stages")
    @classmethod
    def _rising_to_100(cls, stages: list[int]) -> list[int]:
        if any(not 0 < s <= 100 for s in stages) or stages != sorted(set(stages)):
            raise ValueError("stages must be rising percentages between 1 and 100")
        if stages[-1] != 100:
            raise ValueError("the last stage must be 100")
        return stages

    @field_validator("sticky_key")
    @classmethod
    def _known_sticky_key(cls, value: str | None) -> str | None:
        if value is not None and not _STICKY_KEY.match(value):
            raise ValueError(
                f"unknown sticky key {value!r}: use header:NAME, cookie:NAME, path:N "
                "(a path segment, from 1) or path:/a/{name}/b"
            )
        return value

    @field_validator("shadow_ignore")
    @classmethod
    def _json_paths(cls, paths: list[str]) -> list[str]:
        for path in paths:
            if not _IGNORE_PATH.match(path):
                raise ValueError(
                    f"not a JSON path {path!r}: write keys with dots and list items as [*] "
                    "or [N], like items[*].etag"
                )
        return paths

    @field_validator("legacy_url", "modern_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http:// or https:// address")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _router_options(self) -> CutoverPlan:
        if self.router == "nginx" and self.nginx is None:
            raise ValueError("router nginx needs an nginx section (config, include_file, ...)")
        if self.router == "aws-alb" and self.alb is None:
            raise ValueError("router aws-alb needs an alb section (listener_arn, ...)")
        return self


class DecommissionPlan(_Model):
    """Freeze, archive and retire."""

    freeze_sql: list[str] = Field(default_factory=list)
    """Statements that make a sql source read-only, run in order on a writable connection.
    A retried freeze runs them again, so write them to be repeatable
    (``CREATE TRIGGER IF NOT EXISTS``, ``CREATE OR REPLACE TRIGGER``)."""
    freeze_check: str | None = None
    """A write that must fail once the source is frozen, tried in a transaction that is
    rolled back. Default: ``UPDATE`` of one column of one row of the first plan table
    that has a row, set to itself."""
    archive: bool = True
    checklist: list[str] = Field(default_factory=list)


_EVERY_WORDS = {"hourly": "0 * * * *", "nightly": "30 2 * * *", "daily": "30 2 * * *",
                "weekly": "30 2 * * 0"}  # fmt: skip
_INTERVAL = re.compile(r"^(\d+)\s*(m|min|h|d)$")
_INTERVAL_SECONDS = {"m": 60, "min": 60, "h": 3600, "d": 86_400}
_CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z]+$")


class ReconcilePlan(_Model):
    """Reconciliation on a schedule (after cutover, until the system is retired), and the
    budgets of each scheduled run."""

    every: str | None = None
    """How often: ``hourly``, ``nightly`` (02:30 UTC), ``daily``, ``weekly``, an interval
    (``30m``, ``6h``, ``1d``) or a cron string (``0 3 * * 1-5``, UTC). None: no schedule."""
    max_minutes: float = Field(default=60, gt=0)
    """A scheduled run that takes longer fails with that reason (each table is given
    what is left of it)."""
    max_differences: int = Field(default=0, ge=0)
    """Differences (missing, extra, changed, open quarantined records) a scheduled run
    may find in all and still pass; one more fails it, and the diff stops there."""

    @field_validator("every")
    @classmethod
    def _known_every(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = " ".join(value.split())
        if value in _EVERY_WORDS or _INTERVAL.match(value):
            if (match := _INTERVAL.match(value)) and int(match.group(1)) == 0:
                raise ValueError("an interval must be longer than 0")
            return value
        fields = value.split(" ")
        if len(fields) == 5 and all(_CRON_FIELD.match(f) for f in fields):
            return value
        raise ValueError(
            f"unknown schedule {value!r}: use hourly, nightly, daily, weekly, an interval "
            "like 30m, 6h or 1d, or a cron string like '0 3 * * *'"
        )

    def interval_s(self) -> int | None:
        """The schedule as an interval in seconds, when ``every`` is one."""
        match = _INTERVAL.match(self.every or "")
        return int(match.group(1)) * _INTERVAL_SECONDS[match.group(2)] if match else None

    def cron(self) -> str | None:
        """The schedule as a cron string (UTC), when ``every`` is not an interval."""
        if self.every is None or self.interval_s() is not None:
            return None
        return _EVERY_WORDS.get(self.every, self.every)


class MigrationPlan(_Model):
    """A whole migration plan file."""

    system: SystemPlan
    source: SourceConfig
    target: TargetPlan
    tables: list[TablePlan] = Field(min_length=1)
    batch_rows: int = Field(default=10_000, gt=0)
    heartbeat_timeout_s: float = Field(default=DEFAULT_HEARTBEAT_TIMEOUT_S, gt=0, le=3600)
    """Seconds a copy may go without reporting progress before its worker counts as dead
    and another worker resumes the copy from the last key it reported. A copy reports
    after every load of ``batch_rows``: raise this if one load takes longer."""
    cutover: CutoverPlan | None = None
    decommission: DecommissionPlan = Field(default_factory=DecommissionPlan)
    reconcile: ReconcilePlan = Field(default_factory=ReconcilePlan)

    def table(self, name: str) -> TablePlan:
        """The table plan whose source or target is ``name``.

        Raises:
            PlanError: when the plan has no such table.
        """
        for table in self.tables:
            if name in (table.source, table.target):
                return table
        known = ", ".join(t.source for t in self.tables)
        raise PlanError(f"the plan has no table {name!r}; it has {known}")


def _check_encoding(value: str) -> str:
    import codecs

    try:
        codecs.lookup(value)
    except LookupError:
        raise ValueError(f"unknown encoding {value!r}") from None
    return value


# --- loading, with line numbers ---------------------------------------------------------

_Path = tuple[str | int, ...]


def _build(loader: yaml.SafeLoader, node: yaml.Node, path: _Path, lines: dict[_Path, int]) -> Any:
    """Turn a composed YAML node into Python data, noting the line of every key and item."""
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key_node, yaml.CollectionNode):
                raise PlanError(f"line {key_node.start_mark.line + 1}: a key must be a plain value")
            if key in out:
                raise PlanError(f"line {key_node.start_mark.line + 1}: {key!r} is given twice")
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _build(loader, value_node, (*path, key), lines)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            items.append(_build(loader, item, (*path, index), lines))
        return items
    return loader.construct_object(node, deep=True)


def _where(
    data: Any, loc: tuple[str | int, ...], lines: dict[_Path, int]
) -> tuple[int | None, str]:
    """The line and dotted field name of a pydantic error location.

    A discriminated union adds its tag (``csv``) to the location; parts that are not in
    the data are left out of the name.
    """
    path: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, list) and isinstance(part, int) and part < len(node):  # noqa: SIM114
            node = node[part]
            path.append(part)
        elif isinstance(node, dict) and part in node:
            node = node[part]
            path.append(part)
        elif isinstance(node, dict) and part not in node and part == loc[-1]:
            path.append(part)  # a missing or unknown field: name it at its parent's line
    line = None
    for end in range(len(path), 0, -1):
        line = lines.get(tuple(path[:end]))
        if line is not None:
            break
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return line, name or "plan"


def parse_plan(text: str, *, filename: str = "plan", base: Path | None = None) -> MigrationPlan:
    """Validate a plan given as YAML text.

    Args:
        text: the plan's YAML.
        filename: named in error messages.
        base: folder that relative source paths are resolved against (default: as given).

    Raises:
        PlanError: naming the file, line and field of every problem.
    """
    lines: dict[_Path, int] = {}
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)  # its reader refuses control characters at once
        node = loader.get_single_node()
        data = {} if node is None else _build(loader, node, (), lines)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        at = f", line {mark.line + 1}" if mark else ""
        raise PlanError(f"not valid YAML: {e.problem or e}", where=f"{filename}{at}") from e
    except yaml.YAMLError as e:  # a control character: the reader's error has no mark
        raise PlanError(f"not valid YAML: {e}", where=filename) from e
    except (ValueError, RecursionError) as e:  # an integer of thousands of digits; deep nesting
        what = "nested too deeply" if isinstance(e, RecursionError) else str(e)
        raise PlanError(f"not a plan Switchover can read: {what}", where=filename) from e
    except PlanError as e:
        raise PlanError(e.message, where=filename) from e
    finally:
        if loader is not None:
            loader.dispose()
    if not isinstance(data, dict):
        raise PlanError(
            "a plan is a mapping with system, source, target and tables", where=filename
        )
    try:
        plan = MigrationPlan.model_validate(data)
    except ValidationError as e:
        problems = []
        for error in e.errors():
            line, name = _where(data, tuple(error["loc"]), lines)
            at = f"line {line}, " if line else ""
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{at}{name}: {message}")
        raise PlanError("; ".join(problems), where=filename) from e
    if base is not None:
        plan = plan.model_copy(update={"source": plan.source.resolved(base)})
    return plan


PLAN_REF_PREFIX = "plan:"
"""How a stored plan version is named where a plan's path could be: ``plan:<sha256>``."""

StoredPlanLoader = Callable[[str], MigrationPlan]
_stored_plans: StoredPlanLoader | None = None


def use_stored_plans(loader: StoredPlanLoader | None) -> None:
    """Let ``load_plan`` read stored versions (``plan:<sha256>``) with ``loader``.

    A worker registers the engine database's loader when it builds its activities.
    """
    global _stored_plans
    _stored_plans = loader


def is_plan_ref(value: Path | str) -> bool:
    """Whether ``value`` names a stored plan version rather than a file."""
    return isinstance(value, str) and value.startswith(PLAN_REF_PREFIX)


def load_plan(path: Path | str) -> MigrationPlan:
    """Read and validate a migration plan file, or load a stored plan version.

    Args:
        path: the plan's YAML file, or a stored version's reference (``plan:<sha256>``).

    Returns:
        The plan, with file-source paths made absolute relative to the plan file.

    Raises:
        PlanError: the file is missing, not YAML, or not a valid plan; the message names
            the file, line and field; a stored version that this process cannot read,
            or whose files changed since it was stored.
    """
    if is_plan_ref(path):
        if _stored_plans is None:
            raise PlanError(f"this process cannot read stored plans ({path}): no engine "
                            "database was given to it")  # fmt: skip
        return _stored_plans(str(path))
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PlanError(f"cannot read the plan: {e}", where=str(path)) from e
    return parse_plan(text, filename=str(path), base=path.resolve().parent)
