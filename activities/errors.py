"""Where our errors become Temporal failures.

An activity raises our own errors; this turns them into ``ApplicationError`` with
the class name as ``type`` and ``non_retryable`` from the class, so workflows and
retry policies can tell bad input from a passing outage.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast

from temporalio.exceptions import ApplicationError

from domain.errors import SwitchoverError

P = ParamSpec("P")
R = TypeVar("R")


def to_application_error(error: SwitchoverError) -> ApplicationError:
    """The Temporal failure for one of our errors (its message already names file and page)."""
    return ApplicationError(str(error), type=error.type_name, non_retryable=not error.retryable)


def translated(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate an activity so that our errors leave it as ``ApplicationError``."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            try:
                return await fn(*args, **kwargs)
            except SwitchoverError as e:
                raise to_application_error(e) from e

        return cast(Callable[P, R], async_wrapper)

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except SwitchoverError as e:
            raise to_application_error(e) from e

    return wrapper
