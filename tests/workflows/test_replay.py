"""Histories recorded from earlier versions of the workflows replay against today's code.

A workflow running when a new worker is deployed replays its history on the new code: any
change in the commands it issues (activities, their order, timers, child workflows) fails
that replay, unless the change is behind ``workflow.patched``. Each file in ``histories/``
(``{"workflow_id": …, "history": …}``) was recorded by running the workflow, with the fakes
of its own test module, on the code of the time (``tests/workflows/record_histories.py``):
files without a prefix from before ``CutoverWorkflow`` continued as new, ``continued_`` ones
from after (a cutover's chain of runs, one file a run), ``checked_`` ones from after
``MigrateSystemWorkflow`` checked and recorded people's decisions, ``planned_`` ones from
after a table's copy could be split into parallel key ranges.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from switchover.worker import WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"


def _histories() -> list[Path]:
    return sorted(HISTORIES.glob("*.json"))


@pytest.mark.parametrize("path", _histories(), ids=lambda p: p.stem)
async def test_a_recorded_history_replays_on_todays_code(path: Path) -> None:
    recorded = json.loads(path.read_text())
    events = recorded["history"]["events"]
    kind = events[0]["workflowExecutionStartedEventAttributes"]["workflowType"]["name"]
    history = WorkflowHistory.from_json(recorded["workflow_id"], recorded["history"])
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    result = await replayer.replay_workflow(history)
    assert result.replay_failure is None, f"{kind}: {path.name}"
