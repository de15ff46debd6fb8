"""What a fake task does, as data: the scenario model and the state it is in at any moment.

A task's state is a pure function of its scenario, how much (injected) time has passed and,
for poll-count scenarios, how many times it was polled. That keeps the fake deterministic and
lets another process answer for a task it did not submit (poll counts are per process, so
the default is time-based).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from videoprovider.models import TaskState

ScenarioName = Literal["succeed", "fail", "stuck", "throttle", "unavailable", "reject_content"]


class Scenario(BaseModel):
    """How a fake task behaves. Set in the `[fake]` config section or per request with
    `extra={"fake": {...}}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scenario: ScenarioName = Field(
        default="succeed",
        description="succeed, fail, stuck, throttle, unavailable or reject_content.",
        json_schema_extra={"untrusted_file": "allow"},
    )
    seconds: float = Field(
        default=3.0,
        gt=0,
        description="Seconds of the client's clock until the task ends.",
        json_schema_extra={"untrusted_file": "allow"},
    )
    polls: int | None = Field(
        default=None,
        ge=1,
        le=10_000,
        description="If set, the task ends on this status call instead (counted per process).",
        json_schema_extra={"untrusted_file": "allow"},
    )
    fail_code: str = Field(
        default="FakeFailure",
        description="error_code of a failed task.",
        json_schema_extra={"untrusted_file": "allow"},
    )
    fail_message: str = Field(
        default="The fake provider was told to fail this task.",
        description="error_message of a failed task.",
        json_schema_extra={"untrusted_file": "allow"},
    )
    throttle_first: int = Field(
        default=1,
        ge=0,
        description="throttle: status calls per task answered with RateLimited.",
        json_schema_extra={"untrusted_file": "allow"},
    )
    unavailable_first: int = Field(
        default=1,
        ge=0,
        description="unavailable: status calls per task answered with ProviderUnavailable.",
        json_schema_extra={"untrusted_file": "allow"},
    )
    retry_after: float = Field(
        default=1.0,
        ge=0,
        description="retry_after (seconds) of a throttled call.",
        json_schema_extra={"untrusted_file": "allow"},
    )
    download_fault: Literal["none", "drop"] = Field(
        default="none",
        description="drop: the video download breaks off after its first chunk.",
        json_schema_extra={"untrusted_file": "allow"},
    )


def state_at(scenario: Scenario, polls: int, elapsed: float) -> tuple[TaskState, int]:
    """The (state, progress) of a task polled `polls` times, `elapsed` seconds old."""
    if scenario.scenario == "stuck":
        return (TaskState.PENDING, 10) if polls <= 1 else (TaskState.PROCESSING, 50)
    if scenario.polls is None:
        # Time-based by default: any process can tell where a task is from its id alone.
        done = elapsed / scenario.seconds
        if done < 0.1:
            return TaskState.PENDING, 10
    else:
        if polls <= 1 < scenario.polls:
            return TaskState.PENDING, 10
        done = (polls - 1) / max(1, scenario.polls - 1) if scenario.polls > 1 else 1.0
    if done >= 1:
        if scenario.scenario == "fail":
            return TaskState.FAILED, 0
        return TaskState.COMPLETED, 100
    return TaskState.PROCESSING, min(99, max(11, int(done * 100)))
