"""The ALB router against moto's standalone server over real HTTP (botocore's whole
stack, as against AWS): a load balancer, two target groups and a listener are made here,
then every stage's weights are set and read back from the listener.

moto emits no ALB metrics, so the figures test puts CloudWatch data points itself: it
proves the router asks for the right metrics and dimensions and adds them up per side,
not that ALB reports them so.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import yaml

from adapters.router import open_router
from adapters.router.alb import AlbRouter
from config.migration_plan import MigrationPlan, parse_plan
from domain.cutover import RouterSetting
from domain.errors import RouterError
from tests.adapters.router.conftest import free_port

REGION = "eu-west-2"


@dataclass
class LoadBalancer:
    endpoint: str
    listener_arn: str
    legacy_arn: str
    modern_arn: str
    load_balancer_arn: str

    def client(self, service: str) -> Any:
        make: Any = boto3.client  # typed per service name; the name is a variable here
        return make(service, region_name=REGION, endpoint_url=self.endpoint)

    def plan(self, *, sticky: bool = True, modern_arn: str | None = None) -> MigrationPlan:
        data = {
            "system": {"id": "legacy-electoral", "name": "Electoral register"},
            "source": {"kind": "sql", "url": "sqlite:///legacy.db"},
            "target": {"url": "sqlite:///modern.db"},
            "tables": [{"source": "ELECTOR", "target": "electors", "key": ["ID"]}],
            "cutover": {
                "router": "aws-alb",
                "legacy_url": "http://legacy.internal",
                "modern_url": "http://modern.internal",
                "sticky_key": "header:X-Citizen-Id" if sticky else None,
                "alb": {
                    "listener_arn": self.listener_arn,
                    "legacy_target_group_arn": self.legacy_arn,
                    "modern_target_group_arn": modern_arn or self.modern_arn,
                    "region": REGION,
                    "endpoint_url": self.endpoint,
                    "stickiness_seconds": 900,
                },
            },
        }
        return parse_plan(yaml.safe_dump(data))


@pytest.fixture
def load_balancer(aws_endpoint: str) -> LoadBalancer:
    """A VPC, two subnets, an ALB, a target group per side (with a target each) and an
    HTTP listener that forwards everything to legacy."""
    ec2 = boto3.client("ec2", region_name=REGION, endpoint_url=aws_endpoint)
    elb = boto3.client("elbv2", region_name=REGION, endpoint_url=aws_endpoint)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(
            VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{zone}"
        )["Subnet"]["SubnetId"]
        for i, zone in enumerate("ab")
    ]
    name = f"switchover-{free_port()}"
    balancer = elb.create_load_balancer(Name=name, Subnets=subnets, Type="application",
                                        Scheme="internal")["LoadBalancers"][0]  # fmt: skip
    groups = {}
    for side in ("legacy", "modern"):
        group = elb.create_target_group(
            Name=f"{side}-{free_port()}", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip"
        )["TargetGroups"][0]["TargetGroupArn"]
        elb.register_targets(TargetGroupArn=group, Targets=[{"Id": "10.0.0.10", "Port": 80}])
        groups[side] = group
    listener = elb.create_listener(
        LoadBalancerArn=balancer["LoadBalancerArn"], Protocol="HTTP", Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": groups["legacy"]}],
    )["Listeners"][0]["ListenerArn"]  # fmt: skip
    return LoadBalancer(aws_endpoint, listener, groups["legacy"], groups["modern"],
                        balancer["LoadBalancerArn"])  # fmt: skip


def _listener_weights(lb: LoadBalancer) -> tuple[dict[str, int], dict[str, Any]]:
    listener = lb.client("elbv2").describe_listeners(ListenerArns=[lb.listener_arn])
    forward = listener["Listeners"][0]["DefaultActions"][0]["ForwardConfig"]
    names = {lb.legacy_arn: "legacy", lb.modern_arn: "modern"}
    weights = {names[g["TargetGroupArn"]]: g["Weight"] for g in forward["TargetGroups"]}
    return weights, forward.get("TargetGroupStickinessConfig", {})


def test_every_stage_sets_the_listener_weights(load_balancer: LoadBalancer) -> None:
    router = open_router(load_balancer.plan(), settings=None)  # type: ignore[arg-type]
    assert isinstance(router, AlbRouter)
    for percent in (0, 5, 25, 50, 100):
        router.apply(RouterSetting(modern_percent=percent, version=percent + 1))
        # Read back by a client of our own, not through the router.
        weights, stickiness = _listener_weights(load_balancer)
        assert weights == {"legacy": 100 - percent, "modern": percent}
        assert stickiness.get("Enabled") is True
        assert stickiness.get("DurationSeconds") == 900
        assert router.current().modern_percent == percent
    # Back to a stage below (a rollback) works the same way.
    router.apply(RouterSetting(modern_percent=25, version=7))
    assert _listener_weights(load_balancer)[0] == {"legacy": 75, "modern": 25}
    router.close()


def test_no_sticky_key_turns_group_stickiness_off(load_balancer: LoadBalancer) -> None:
    router = AlbRouter(load_balancer.plan(sticky=False))
    router.apply(RouterSetting(modern_percent=50, version=1))
    weights, stickiness = _listener_weights(load_balancer)
    assert weights == {"legacy": 50, "modern": 50}
    assert stickiness.get("Enabled") is False


def test_a_refused_change_is_a_router_error(load_balancer: LoadBalancer) -> None:
    missing = load_balancer.modern_arn.rsplit("/", 1)[0] + "/0123456789abcdef"
    router = AlbRouter(load_balancer.plan(modern_arn=missing))
    with pytest.raises(RouterError, match="target groups") as raised:
        router.apply(RouterSetting(modern_percent=5, version=1))
    assert load_balancer.listener_arn in str(raised.value)
    # The listener still forwards everything to legacy.
    listener = load_balancer.client("elbv2").describe_listeners(
        ListenerArns=[load_balancer.listener_arn]
    )["Listeners"][0]
    assert listener["DefaultActions"][0]["TargetGroupArn"] == load_balancer.legacy_arn


def test_health_comes_from_the_target_groups(load_balancer: LoadBalancer) -> None:
    health = AlbRouter(load_balancer.plan()).health()
    elb = load_balancer.client("elbv2")
    for side, arn in (("legacy", load_balancer.legacy_arn), ("modern", load_balancer.modern_arn)):
        described = elb.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
        states = [d["TargetHealth"]["State"] for d in described]
        assert states  # one registered target each
        assert getattr(health, side) == ("healthy" in states)


def test_figures_come_from_cloudwatch_per_target_group(load_balancer: LoadBalancer) -> None:
    router = AlbRouter(load_balancer.plan())
    since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cloudwatch = load_balancer.client("cloudwatch")
    lb_dimension = "/".join(load_balancer.load_balancer_arn.split(":", 5)[-1].split("/")[1:4])

    def put(arn: str, requests: int, errors: int, seconds: list[float],
            balancer: str = lb_dimension) -> None:  # fmt: skip
        dims = [{"Name": "TargetGroup", "Value": arn.split(":", 5)[-1]},
                {"Name": "LoadBalancer", "Value": balancer}]  # fmt: skip
        now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
        cloudwatch.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=[
            {"MetricName": "RequestCount", "Dimensions": dims, "Timestamp": now,
             "Value": requests, "Unit": "Count"},
            {"MetricName": "HTTPCode_Target_5XX_Count", "Dimensions": dims, "Timestamp": now,
             "Value": errors, "Unit": "Count"},
            {"MetricName": "TargetResponseTime", "Dimensions": dims, "Timestamp": now,
             "Values": seconds, "Unit": "Seconds"},
        ])  # fmt: skip

    put(load_balancer.legacy_arn, 900, 1, [0.020] * 9)
    put(load_balancer.modern_arn, 100, 3, [0.040, 0.300])
    # The same group behind another load balancer is not this listener's traffic.
    put(load_balancer.modern_arn, 5000, 5000, [9.0], balancer="app/other/0123456789abcdef")
    metrics = router.metrics(since, setting_version=3)
    assert (metrics.legacy.requests, metrics.legacy.errors) == (900, 1)
    assert (metrics.modern.requests, metrics.modern.errors) == (100, 3)
    # moto gives no percentiles: each sample sits at its period's maximum.
    assert sum(metrics.modern.latency_histogram) == 2
    p95 = metrics.modern.percentile_ms(0.95)
    assert p95 is not None
    assert 300 <= p95 < 400
    legacy_p95 = metrics.legacy.percentile_ms(0.95)
    assert legacy_p95 is not None
    assert 20 <= legacy_p95 < 30
    # A stage that begins after the data points counts none of them.
    assert router.metrics(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).modern.requests == 0
