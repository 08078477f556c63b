"""The migration plan format: examples load; mistakes name file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.migration_plan import (
    CsvSourceConfig,
    DbfSourceConfig,
    MigrationPlan,
    SqlSourceConfig,
    load_plan,
    parse_plan,
)
from domain.errors import PlanError

PLANS = Path(__file__).resolve().parents[2] / "config" / "plans"

MINIMAL = """\
system:
  id: legacy-x
  name: X
source:
  kind: csv
  path: exports/
  delimiter: ";"
  encoding: cp1252
  quarantine_bad_records: true
target:
  url: sqlite:///modern.db
tables:
  - source: electors
    target: electors
    key: [ID]
"""


@pytest.mark.parametrize("path", sorted(PLANS.glob("*.yaml")), ids=lambda p: p.name)
def test_example_plans_load(path: Path) -> None:
    plan = load_plan(path)
    assert isinstance(plan, MigrationPlan)
    if isinstance(plan.source, DbfSourceConfig):
        assert plan.source.path.is_absolute()


def test_chinook_plan() -> None:
    plan = load_plan(PLANS / "chinook-mariadb.yaml")
    assert isinstance(plan.source, SqlSourceConfig)
    assert plan.table("Invoice").tolerance == {"total": 0.01}
    assert plan.table("customers").column_mapping("LastName").transform == "strip"
    assert plan.table("Customer").column_mapping("City").to == "city"
    assert plan.cutover is not None
    assert plan.cutover.stages == [5, 25, 50, 100]


def test_paths_resolve_against_the_plan_file(tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(MINIMAL)
    plan = load_plan(tmp_path / "plan.yaml")
    assert isinstance(plan.source, CsvSourceConfig)
    assert plan.source.path == (tmp_path / "exports").resolve()
    assert plan.source.quarantine_bad_records


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (("  kind: csv", "  kind: paper"), "line 4, source"),
        (('  delimiter: ";"', '  delimter: ";"'), "line 7, source.delimter"),
        (("    key: [ID]", "    key: []"), "line 15, tables[0].key"),
        (("  encoding: cp1252", "  encoding: klingon"), "line 8, source.encoding"),
        (("  name: X\n", ""), "line 1, system.name"),
    ],
)
def test_errors_name_file_line_and_field(change: tuple[str, str], where: str) -> None:
    text = MINIMAL.replace(*change)
    with pytest.raises(PlanError) as caught:
        parse_plan(text, filename="x.yaml")
    assert str(caught.value).startswith("x.yaml: ")
    assert where in str(caught.value)


def test_bad_yaml_and_duplicates() -> None:
    with pytest.raises(PlanError, match=r"y\.yaml, line 3: not valid YAML"):
        parse_plan("system:\n  id: [unclosed\n", filename="y.yaml")
    with pytest.raises(PlanError, match="line 3: 'id' is given twice"):
        parse_plan("system:\n  id: a\n  id: b\n", filename="y.yaml")


def test_unknown_transform() -> None:
    text = MINIMAL + "    columns:\n      SURNAME: {to: surname, transform: shout}\n"
    with pytest.raises(
        PlanError, match=r"line 17, tables\[0\]\.columns\.SURNAME.*unknown transform"
    ):
        parse_plan(text, filename="z.yaml")


# --- cutover: router options ------------------------------------------------------------

CUTOVER = """\
cutover:
  router: {router}
  legacy_url: http://127.0.0.1:9001/
  modern_url: http://127.0.0.1:9002
  sticky_key: {sticky}
  shadow_ignore: [fetched_at, "items[*].etag"]
{extra}"""

NGINX = """\
  nginx:
    config: /etc/nginx/nginx.conf
    include_file: /etc/nginx/conf.d/switchover.conf
    listen: 127.0.0.1:8080
    access_log: /var/log/nginx/switchover.json.log
    pid_file: /run/nginx.pid
"""

ALB = """\
  alb:
    listener_arn: arn:aws:elasticloadbalancing:eu-west-2:123456789012:listener/app/x/1/2
    legacy_target_group_arn: arn:aws:elasticloadbalancing:eu-west-2:123456789012:targetgroup/l/1
    modern_target_group_arn: arn:aws:elasticloadbalancing:eu-west-2:123456789012:targetgroup/m/2
"""


def _cutover(router: str = "builtin", sticky: str = "header:X-Citizen-Id", extra: str = "") -> str:
    return MINIMAL + CUTOVER.format(router=router, sticky=sticky, extra=extra)


def test_router_options_load() -> None:
    builtin = parse_plan(_cutover(extra="  builtin: {poll_s: 0.5, proxy_urls: [http://p:8080]}\n"))
    assert builtin.cutover is not None
    assert builtin.cutover.legacy_url == "http://127.0.0.1:9001"  # trailing slash dropped
    assert builtin.cutover.builtin.poll_s == 0.5
    assert builtin.cutover.builtin.flush_s == 5.0
    assert builtin.cutover.shadow_ignore == ["fetched_at", "items[*].etag"]
    nginx = parse_plan(_cutover("nginx", extra=NGINX))
    assert nginx.cutover is not None
    assert nginx.cutover.nginx is not None
    assert nginx.cutover.nginx.listen == "127.0.0.1:8080"
    alb = parse_plan(_cutover("aws-alb", "cookie:session", extra=ALB))
    assert alb.cutover is not None
    assert alb.cutover.alb is not None
    assert alb.cutover.alb.load_balancer_dimension == "app/x/1"


@pytest.mark.parametrize("sticky", ["header:X-Citizen-Id", "cookie:cid", "path:2",
                                    "path:/claimants/{id}"])  # fmt: skip
def test_sticky_keys_the_routers_understand(sticky: str) -> None:
    plan = parse_plan(_cutover(sticky=sticky))
    assert plan.cutover is not None
    assert plan.cutover.sticky_key == sticky


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (_cutover(sticky="query:id"), "cutover.sticky_key: unknown sticky key"),
        (_cutover(sticky="path:0"), "cutover.sticky_key"),
        (_cutover("nginx"), "router nginx needs an nginx section"),
        (_cutover("aws-alb"), "router aws-alb needs an alb section"),
        (_cutover("nginx", extra=NGINX.replace("/run/nginx.pid", "nginx.pid")),
         "line 27, cutover.nginx.pid_file: nginx.pid must be an absolute path"),
        (_cutover("nginx", extra=NGINX.replace("listen: 127.0.0.1:8080", "listen: eight")),
         "cutover.nginx.listen"),
        (_cutover("aws-alb", extra=ALB.replace("listener_arn: arn:aws", "listener_arn: nope")),
         "cutover.alb.listener_arn"),
        (_cutover(extra="  builtin: {pol_s: 1}\n"), "cutover.builtin.pol_s"),
        (_cutover().replace("[fetched_at,", "[a..b,"), "not a JSON path"),
        (_cutover().replace("http://127.0.0.1:9002", "127.0.0.1:9002"), "cutover.modern_url"),
    ],
)  # fmt: skip
def test_router_option_mistakes_are_named(text: str, where: str) -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan(text, filename="r.yaml")
    assert where in str(caught.value)
