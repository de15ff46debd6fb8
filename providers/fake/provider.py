"""The fake provider's hooks: every operation, offline and deterministic.

Task ids are self-describing (`fake-` + base64 of the scenario, submit time and a seeded
nonce), so the same seed and the same submits give the same ids, and any instance (another
process running `videoprovider status ID`) can answer for a time-based task. A task id that
does not decode is reported as UNKNOWN, like a real provider's expired task.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import httpx
from pydantic import Field, ValidationError

from videoprovider.catalog import ModelInfo, ModelKind
from videoprovider.errors import (
    ConfigurationError,
    ContentRejected,
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
    TaskCanceled,
    TaskFailed,
    TaskNotFound,
    TaskNotReady,
)
from videoprovider.hookspecs import hookimpl
from videoprovider.models import Billed, Task, TaskPage, TaskState, TaskStatus, VideoRequest
from videoprovider.provider import Operation, ProviderContext, ProviderSettings

from .cancels import CancelLedger, default_path
from .scenarios import Scenario, state_at
from .video import BASE_URL, FakeVideoTransport, video_url

URL_LIFETIME = timedelta(hours=24)  # like DashScope's signed video URLs
RESOLUTIONS = ("480P", "720P", "1080P")  # the tiers real text-to-video models offer
CLIP_SECONDS = 3  # the length of the test pattern every fake task returns
# What _encode issues; anything else could not be a fake task, and goes into no URL.
TASK_ID = re.compile(r"fake-[A-Za-z0-9_-]+")
# The listing's page size, and its page tokens: the offset of the page's first row.
PAGE_SIZE = 100
PAGE_TOKEN = re.compile(r"fake-page-([1-9][0-9]{0,5})")


class FakeSettings(ProviderSettings, Scenario):
    """The `[fake]` section: the default scenario for every task, the id seed, and where
    cancels are remembered."""

    seed: int = Field(
        default=0,
        description="Seeds the nonce in task ids: the same seed and submits give the same ids.",
        json_schema_extra={"untrusted_file": "allow"},
    )
    cancel_file: Path | None = Field(
        default=None,
        description="Where cancels are remembered across processes "
        "(default: fake-cancels.sqlite3 in the user data dir).",
    )


@dataclass
class _Record:
    scenario: Scenario
    submitted_at: datetime
    request_id: str
    polls: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    canceled: bool = False
    # Set for the tasks this instance submitted: the ones its listing shows.
    model: str | None = None
    submitted_here: bool = False
    # What a completion reports as billed, like a real service's usage report: known for
    # tasks this process submitted (a task id alone does not carry its request).
    usage: dict[str, Any] | None = None


class FakeProvider:
    """Offline provider for tests and first runs; see docs/providers/fake.md."""

    capabilities: ClassVar[frozenset[Operation]] = frozenset(Operation)
    Settings: ClassVar[type[ProviderSettings]] = FakeSettings
    models: ClassVar[tuple[ModelInfo, ...]] = (
        ModelInfo(
            id="fake",
            kind=ModelKind.MULTIMODAL,
            resolutions=RESOLUTIONS,
            audio=False,
            description="Any model name: every task plays the same offline test pattern.",
        ),
    )

    def __init__(self, settings: FakeSettings, context: ProviderContext) -> None:
        self.settings = settings
        self.context = context
        self._rng = random.Random(settings.seed)
        # Read by the client's poll scheduler as its prior for how long tasks take.
        self.typical_task_seconds = settings.seconds
        self._tasks: dict[str, _Record] = {}
        self._requests = 0
        self._cancels = CancelLedger(settings.cancel_file or default_path())

    def _request_id(self) -> str:
        self._requests += 1
        return f"fake-req-{self._requests}"

    def _scenario_for(self, request: VideoRequest) -> Scenario:
        base = self.settings.model_dump(include=set(Scenario.model_fields))
        override = request.extra.get("fake", {})
        if not isinstance(override, Mapping):
            raise RequestRejected(
                'extra.fake must be a table of scenario settings, e.g. {"scenario": "fail"}.',
                field="extra.fake",
                provider=self.context.name,
                operation="submit",
            )
        try:
            return Scenario.model_validate({**base, **override})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise RequestRejected(
                f"Invalid fake scenario in extra.fake: {problems}.",
                field="extra.fake",
                hint="See docs/providers/fake.md for the scenario settings.",
                provider=self.context.name,
                operation="submit",
            ) from None

    def _check(self, request: VideoRequest) -> None:
        """Refuse what a real provider would refuse, before anything counts as sent."""
        if request.resolution is not None and request.resolution not in RESOLUTIONS:
            raise RequestRejected(
                f"resolution {request.resolution} is not offered by the fake provider; "
                f"allowed: {', '.join(RESOLUTIONS)}.",
                field="resolution",
                hint=f"Pass one of {', '.join(RESOLUTIONS)}, or leave resolution unset.",
                provider=self.context.name,
                operation="submit",
            )

    @hookimpl
    def videoprovider_check_request(self, request: VideoRequest) -> None:
        self._check(request)
        self._scenario_for(request)

    @hookimpl
    async def videoprovider_submit(self, request: VideoRequest) -> Task:
        self._check(request)
        scenario = self._scenario_for(request)
        if scenario.scenario == "reject_content":
            raise ContentRejected(
                "The fake provider's content check rejected the prompt (scenario reject_content).",
                code="DataInspectionFailed",
                field="prompt",
                provider=self.context.name,
                operation="submit",
                request_id=self._request_id(),
            )
        now = self.context.clock.now()
        task_id = _encode(scenario, now, self._rng.getrandbits(48))
        record = _Record(
            scenario=scenario,
            submitted_at=now,
            request_id=self._request_id(),
            model=request.model,
            submitted_here=True,
            usage={"seconds": request.duration or CLIP_SECONDS, "resolution": request.resolution},
        )
        self._cancels.forget(task_id)
        self._tasks[task_id] = record
        return Task(
            provider=self.context.name,
            task_id=task_id,
            request=request,
            submitted_at=now,
            request_id=record.request_id,
        )

    def _record(self, task_id: str) -> _Record | None:
        if task_id not in self._tasks:
            decoded = _decode(task_id)
            if decoded is None:
                return None
            scenario, submitted_at = decoded
            self._tasks[task_id] = _Record(scenario, submitted_at, request_id="fake-req-0")
        return self._tasks[task_id]

    def _observe(self, task_id: str, record: _Record, *, count: bool) -> TaskStatus:
        now = self.context.clock.now()
        if count:
            record.polls += 1
        if not record.canceled and record.finished_at is None and task_id in self._cancels:
            record.canceled = True  # by another process
        if record.canceled:
            state, progress = TaskState.CANCELED, 0
        else:
            elapsed = (now - record.submitted_at).total_seconds()
            state, progress = state_at(record.scenario, record.polls, elapsed)
        if state is not TaskState.PENDING and record.started_at is None:
            record.started_at = now
        if state.is_terminal and record.finished_at is None:
            record.finished_at = now
        done = state is TaskState.COMPLETED and record.finished_at is not None
        failed = state is TaskState.FAILED
        usage = record.usage if done else None
        return TaskStatus(
            provider=self.context.name,
            task_id=task_id,
            state=state,
            progress=progress,
            video_url=video_url(task_id) if done else None,
            video_url_expires_at=record.finished_at + URL_LIFETIME
            if done and record.finished_at
            else None,
            error_code=record.scenario.fail_code if failed else None,
            error_message=record.scenario.fail_message if failed else None,
            request_id=self._request_id(),
            submitted_at=record.submitted_at,
            started_at=record.started_at,
            finished_at=record.finished_at,
            checked_at=now,
            usage=usage,
            billed=Billed.model_validate(usage) if usage else None,
            raw={
                "scenario": record.scenario.scenario,
                "polls": record.polls,
                "canceled": record.canceled,
            },
        )

    @hookimpl
    async def videoprovider_status(self, task_id: str) -> TaskStatus:
        record = self._record(task_id)
        if record is None:
            return TaskStatus(
                provider=self.context.name,
                task_id=task_id,
                state=TaskState.UNKNOWN,
                checked_at=self.context.clock.now(),
                request_id=self._request_id(),
            )
        self._raise_injected_fault(task_id, record)
        return self._observe(task_id, record, count=True)

    def _raise_injected_fault(self, task_id: str, record: _Record) -> None:
        scenario = record.scenario
        record.polls += 1  # a refused call still counts towards the fault's quota
        where: dict[str, Any] = {
            "provider": self.context.name,
            "operation": "status",
            "task_id": task_id,
        }
        if scenario.scenario == "throttle" and record.polls <= scenario.throttle_first:
            raise RateLimited(
                "The fake provider throttled this call (scenario throttle).",
                retry_after=scenario.retry_after,
                code="Throttling",
                **where,
            )
        if scenario.scenario == "unavailable" and record.polls <= scenario.unavailable_first:
            raise ProviderUnavailable(
                "The fake provider is unavailable (scenario unavailable).",
                code="ServiceUnavailable",
                http_status=503,
                **where,
            )
        record.polls -= 1

    def _known(self, task_id: str, operation: str) -> tuple[_Record, TaskStatus, dict[str, Any]]:
        """The task's record and current status (not counted as a poll), or TaskNotFound."""
        where: dict[str, Any] = {
            "provider": self.context.name,
            "operation": operation,
            "task_id": task_id,
        }
        record = self._record(task_id)
        if record is None:
            raise TaskNotFound(f"The fake provider has no task {task_id}.", **where)
        return record, self._observe(task_id, record, count=False), where

    @hookimpl
    async def videoprovider_url(self, task_id: str) -> str:
        _, status, where = self._known(task_id, "url")
        if status.state is TaskState.FAILED:
            raise TaskFailed(
                f"Task {task_id} failed ({status.error_code}); it has no video.",
                status=status,
                code=status.error_code,
                **where,
            )
        if status.state is TaskState.CANCELED:
            raise TaskCanceled(
                f"Task {task_id} was canceled; it has no video.", status=status, **where
            )
        if status.video_url is None:
            raise TaskNotReady(
                f"Task {task_id} is {status.state.value}; it has no video yet.", **where
            )
        return status.video_url

    @hookimpl
    async def videoprovider_cancel(self, task_id: str) -> TaskStatus:
        record, status, where = self._known(task_id, "cancel")
        if status.is_terminal:
            raise RequestRejected(
                f"Task {task_id} already finished ({status.state.value}); it cannot be canceled.",
                code="TaskAlreadyFinished",
                hint="Nothing to cancel.",
                **where,
            )
        self._cancels.add(task_id)
        record.canceled = True
        return self._observe(task_id, record, count=False)

    @hookimpl
    async def videoprovider_list_tasks(
        self, since: datetime, until: datetime, model: str | None, finished: bool, page: str | None
    ) -> TaskPage:
        # A real service lists its account's tasks; the fake has no account, so it lists the
        # tasks this instance submitted, newest first, as status would report them now.
        start = _page_offset(page)
        for name, when in (("since", since), ("until", until)):
            if when.tzinfo is None:
                raise ConfigurationError(
                    f"{name} ({when.isoformat()}) has no time zone, so it names no instant.",
                    hint="Pass an aware datetime, e.g. datetime.now(timezone.utc).",
                    provider=self.context.name,
                    operation="list",
                )
        chosen = sorted(
            (
                (record.submitted_at, task_id)
                for task_id, record in self._tasks.items()
                if record.submitted_here
                and since <= record.submitted_at < until
                and (model is None or record.model == model)
            ),
            reverse=True,
        )
        rows = [self._observe(task_id, self._tasks[task_id], count=False) for _, task_id in chosen]
        if finished:
            rows = [s for s in rows if s.is_terminal]
        more = len(rows) > start + PAGE_SIZE
        return TaskPage(
            statuses=rows[start : start + PAGE_SIZE],
            next_page=f"fake-page-{start + PAGE_SIZE}" if more else None,
        )

    def _video_fault(self, task_id: str) -> bool | None:
        record = self._record(task_id)
        if record is None or self._observe(task_id, record, count=False).video_url is None:
            return None
        return record.scenario.download_fault == "drop"

    @hookimpl
    def videoprovider_http_mounts(self) -> dict[str, httpx.AsyncBaseTransport]:
        return {BASE_URL: FakeVideoTransport(self._video_fault)}

    @hookimpl
    async def videoprovider_aclose(self) -> None:
        self._tasks.clear()
        self._cancels.close()


def _page_offset(page: str | None) -> int:
    if page is None:
        return 0
    match = PAGE_TOKEN.fullmatch(page)
    if match is None:
        raise ConfigurationError(
            f"{page[:40]!r} is not a fake listing page token.",
            hint="Pass the next_page of the previous page, or None for the first.",
            provider="fake",
            operation="list",
        )
    return int(match[1])


def _encode(scenario: Scenario, submitted_at: datetime, nonce: int) -> str:
    doc = {
        "s": scenario.model_dump(exclude_defaults=True),
        "t": submitted_at.isoformat(),
        "n": nonce,
    }
    raw = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
    return "fake-" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(task_id: str) -> tuple[Scenario, datetime] | None:
    if not TASK_ID.fullmatch(task_id):
        return None
    body = task_id.removeprefix("fake-")
    try:
        doc = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        return Scenario.model_validate(doc["s"]), datetime.fromisoformat(doc["t"])
    except (ValueError, KeyError, TypeError, RecursionError, binascii.Error, ValidationError):
        return None  # RecursionError: a crafted id of deeply nested JSON
