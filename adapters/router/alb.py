"""The AWS Application Load Balancer router: weighted target groups on a listener.

``apply`` sets the listener's default action to one ``forward`` over the legacy and
modern target groups, weighted by the setting (weights 0..100; at 0 % or 100 % the other
group stays listed with weight 0, so the listener keeps both), and checks with
``describe_listeners`` that the weights took.

What ALB cannot do, said plainly:

- stickiness by a citizen's header or path: ALB keeps a client on one target group only
  by its own cookie, for a duration (``alb.stickiness_seconds``). With a sticky key in
  the plan that group stickiness is turned on; a citizen without the cookie (a new
  device) may land on the other side.
- routing writes by method to the system of record: a plain weighted forward does not
  look at the method. Before modern is the system of record, put a listener rule for
  write methods forwarding to legacy alone (``http-request-method`` condition); this
  router manages the default action only.
- shadowing: ALB does not mirror traffic, so there are no comparison figures.

Figures come from CloudWatch (``AWS/ApplicationELB``): ``RequestCount``,
``HTTPCode_Target_5XX_Count`` and ``TargetResponseTime`` per target group. CloudWatch
gives chosen percentiles, not our histogram: each period's p50/p95/p99/p100 are placed
in the histogram with the period's sample count split 50/45/4/1 %. (A server that gives
no percentiles, such as moto, gets every sample at the period's maximum.)
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from config.log import get_logger
from config.migration_plan import AlbRouterOptions, MigrationPlan
from domain.cutover import (
    RouterHealth,
    RouterMetrics,
    RouterSetting,
    Side,
    SideMetrics,
    empty_histogram,
    latency_bucket,
)
from domain.errors import RouterError

if TYPE_CHECKING:
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client

log = get_logger(__name__)

_HEALTHY = {"healthy"}
# How a period's requests are spread over its percentiles (p50, p95, p99, p100).
_SPREAD = (("p50", 0.50), ("p95", 0.45), ("p99", 0.04), ("p100", 0.01))


class AlbRouter:
    """Moves a system's traffic by the weights of its ALB listener's forward action."""

    name = "aws-alb"

    def __init__(self, plan: MigrationPlan) -> None:
        if plan.cutover is None or plan.cutover.alb is None:
            raise RouterError(
                "the plan has no cutover.alb section", where=f"plan for {plan.system.id}"
            )
        self.options: AlbRouterOptions = plan.cutover.alb
        self.sticky = plan.cutover.sticky_key is not None
        self.system_id = plan.system.id
        config = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=10)
        session = boto3.session.Session(region_name=self.options.region)
        self.elb: ElasticLoadBalancingv2Client = session.client(
            "elbv2", endpoint_url=self.options.endpoint_url, config=config
        )
        self.cloudwatch: Any = session.client(
            "cloudwatch", endpoint_url=self.options.endpoint_url, config=config
        )
        self.groups = {
            Side.LEGACY: self.options.legacy_target_group_arn,
            Side.MODERN: self.options.modern_target_group_arn,
        }

    def _failed(self, action: str, error: Exception) -> RouterError:
        if isinstance(error, ClientError):
            code = error.response.get("Error", {}).get("Code", "?")
            text = error.response.get("Error", {}).get("Message", "")
            detail = f"{code}: {text}"
        else:
            detail = str(error)
        return RouterError(f"{action} failed: {detail}", where=self.options.listener_arn)

    def apply(self, setting: RouterSetting) -> None:
        """Set the listener's weights and check that the load balancer reports them.

        Raises:
            RouterError: AWS refused the change or reports other weights afterwards.
        """
        wanted = self._weights(setting)
        # AWS refuses an unknown group itself, but not every AWS-compatible server does,
        # and a plan's typo is better named before the listener is touched.
        try:
            self.elb.describe_target_groups(TargetGroupArns=list(self.groups.values()))
        except (ClientError, BotoCoreError) as e:
            raise self._failed("describe_target_groups (the plan's target groups)", e) from e
        forward: Any = {
            "TargetGroups": [
                {"TargetGroupArn": self.groups[side], "Weight": weight}
                for side, weight in wanted.items()
            ],
            "TargetGroupStickinessConfig": (
                {"Enabled": True, "DurationSeconds": self.options.stickiness_seconds}
                if self.sticky
                else {"Enabled": False}
            ),
        }
        try:
            self.elb.modify_listener(
                ListenerArn=self.options.listener_arn,
                DefaultActions=[{"Type": "forward", "ForwardConfig": forward}],
            )
        except (ClientError, BotoCoreError) as e:
            raise self._failed("modify_listener", e) from e
        seen = self._listener_weights()
        if seen != wanted:
            raise RouterError(
                f"the listener reports weights {_show(seen)} after setting {_show(wanted)}",
                where=self.options.listener_arn,
            )
        log.info("alb weights set", system=self.system_id, modern_percent=setting.modern_percent)

    @staticmethod
    def _weights(setting: RouterSetting) -> dict[Side, int]:
        return {Side.LEGACY: 100 - setting.modern_percent, Side.MODERN: setting.modern_percent}

    def _listener_weights(self) -> dict[Side, int]:
        try:
            described = self.elb.describe_listeners(ListenerArns=[self.options.listener_arn])
        except (ClientError, BotoCoreError) as e:
            raise self._failed("describe_listeners", e) from e
        listeners = described.get("Listeners", [])
        if not listeners:
            raise RouterError("the listener does not exist", where=self.options.listener_arn)
        weights = {Side.LEGACY: 0, Side.MODERN: 0}
        sides = {arn: side for side, arn in self.groups.items()}
        for action in listeners[0].get("DefaultActions", []):
            if action.get("Type") != "forward":
                continue
            groups = action.get("ForwardConfig", {}).get("TargetGroups") or []
            if not groups and action.get("TargetGroupArn"):
                groups = [{"TargetGroupArn": action["TargetGroupArn"], "Weight": 1}]
            for group in groups:
                side = sides.get(group.get("TargetGroupArn", ""))
                if side is None:
                    raise RouterError(
                        f"the listener forwards to a target group of neither side: "
                        f"{group.get('TargetGroupArn')}",
                        where=self.options.listener_arn,
                    )
                weights[side] += int(group.get("Weight", 1))
        return weights

    def current(self) -> RouterSetting:
        """The split the listener has now (version 0: ALB keeps no version of ours)."""
        weights = self._listener_weights()
        total = sum(weights.values())
        percent = round(100 * weights[Side.MODERN] / total) if total else 0
        return RouterSetting(modern_percent=percent)

    def health(self) -> RouterHealth:
        """A side is healthy when at least one of its targets is."""
        healthy: dict[Side, bool] = {}
        problems: list[str] = []
        for side, arn in self.groups.items():
            try:
                described = self.elb.describe_target_health(TargetGroupArn=arn)
            except (ClientError, BotoCoreError) as e:
                healthy[side] = False
                problems.append(f"{side.value}: {self._failed('describe_target_health', e)}")
                continue
            states = [
                item.get("TargetHealth", {}).get("State", "unknown")
                for item in described.get("TargetHealthDescriptions", [])
            ]
            healthy[side] = any(state in _HEALTHY for state in states)
            if not healthy[side]:
                problems.append(f"{side.value}: targets {', '.join(states) or 'none'}")
        return RouterHealth(
            legacy=healthy[Side.LEGACY],
            modern=healthy[Side.MODERN],
            detail="; ".join(problems) or None,
        )

    def metrics(self, since: dt.datetime, *, setting_version: int | None = None) -> RouterMetrics:
        """Per target group, from CloudWatch since ``since`` (``setting_version`` cannot
        be told apart there: the stage's start time is what separates stages)."""
        end = dt.datetime.now(dt.UTC)
        if since >= end:
            return RouterMetrics()  # CloudWatch refuses an empty period
        return RouterMetrics(
            legacy=self._side_metrics(Side.LEGACY, since, end),
            modern=self._side_metrics(Side.MODERN, since, end),
        )

    def _dimensions(self, side: Side) -> list[dict[str, str]]:
        arn = self.groups[side]
        return [
            {"Name": "TargetGroup", "Value": arn.split(":", 5)[-1]},  # targetgroup/<name>/<id>
            {"Name": "LoadBalancer", "Value": self.options.load_balancer_dimension},
        ]

    def _statistic(self, side: Side, metric: str, since: dt.datetime, end: dt.datetime,
                   **kind: Any) -> list[dict[str, Any]]:  # fmt: skip
        try:
            answer = self.cloudwatch.get_metric_statistics(
                Namespace="AWS/ApplicationELB", MetricName=metric,
                Dimensions=self._dimensions(side), StartTime=since, EndTime=end,
                Period=self.options.metric_period_s, **kind,
            )  # fmt: skip
        except (ClientError, BotoCoreError) as e:
            raise self._failed(f"get_metric_statistics {metric}", e) from e
        return list(answer.get("Datapoints", []))

    def _side_metrics(self, side: Side, since: dt.datetime, end: dt.datetime) -> SideMetrics:
        requests = self._statistic(side, "RequestCount", since, end, Statistics=["Sum"])
        errors = self._statistic(side, "HTTPCode_Target_5XX_Count", since, end, Statistics=["Sum"])
        times = self._statistic(
            side, "TargetResponseTime", since, end,
            Statistics=["SampleCount", "Maximum"],
            ExtendedStatistics=[name for name, _ in _SPREAD],
        )  # fmt: skip
        histogram = empty_histogram()
        for point in times:
            # Each period's own sample count: RequestCount's periods need not line up.
            count = int(point.get("SampleCount", 0))
            extended = point.get("ExtendedStatistics") or {}
            if not extended:
                # An AWS-compatible server without percentiles: every request at the
                # period's maximum, which can only overstate the latency a gate judges.
                histogram[latency_bucket(float(point.get("Maximum", 0)) * 1000)] += count
                continue
            placed = 0
            for name, share in _SPREAD:
                seconds = extended.get(name)
                if seconds is None:
                    continue
                part = max(round(count * share) if name != "p100" else count - placed, 0)
                histogram[latency_bucket(float(seconds) * 1000)] += part
                placed += part
        return SideMetrics(
            requests=int(sum(point.get("Sum", 0) for point in requests)),
            errors=int(sum(point.get("Sum", 0) for point in errors)),
            latency_histogram=histogram,
        )

    def close(self) -> None:
        self.elb.close()
        self.cloudwatch.close()


def _show(weights: dict[Side, int]) -> str:
    return ", ".join(f"{side.value} {weight}" for side, weight in weights.items())
