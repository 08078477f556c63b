"""Traffic routers: the ``TrafficRouter`` interface and the router a plan names.

``open_router(plan, settings)`` gives the plan's router: ``builtin`` (our own proxy,
steered through the engine database), ``nginx`` (an upstream block written and reloaded
safely) or ``aws-alb`` (weighted target groups on a load balancer's listener). Each is
imported only when chosen: the ALB one pulls in boto3, the builtin one httpx.
"""

from __future__ import annotations

from adapters.router.base import TrafficRouter, WriteHolding
from config.migration_plan import MigrationPlan
from config.settings import Settings
from domain.errors import RouterError


def open_router(plan: MigrationPlan, settings: Settings) -> TrafficRouter:
    """The traffic router a plan's cutover section names, ready to use.

    Raises:
        RouterError: the plan has no cutover section.
    """
    if plan.cutover is None:
        raise RouterError(f"the plan for {plan.system.id} has no cutover section")
    if plan.cutover.router == "nginx":
        from adapters.router.nginx import NginxRouter

        return NginxRouter(plan)
    if plan.cutover.router == "aws-alb":
        from adapters.router.alb import AlbRouter

        return AlbRouter(plan)
    from adapters.router.builtin import BuiltinRouter

    return BuiltinRouter(plan, settings)


__all__ = ["TrafficRouter", "WriteHolding", "open_router"]
