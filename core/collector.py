"""The client's download side: find a finished task's video, save it, journal where it went."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from .backend import Backend
from .calls import TaskCalls
from .config import Config
from .download import ProgressFn, download_to, video_name
from .errors import TaskNotReady
from .models import Task, TaskStatus
from .outcomes import raise_for_ending
from .provider import Operation

__all__ = ["Collector"]


@dataclass(frozen=True)
class Collector:
    """Saves videos for one client, through the backend of each task's provider.

    URLs and statuses come through `calls`, the client's own operations, so what they learn
    is journaled as any other call's.
    """

    config: Config
    calls: TaskCalls

    async def download(
        self,
        task: Task,
        path: str | os.PathLike[str],
        *,
        overwrite: bool,
        on_bytes: ProgressFn | None,
        status: TaskStatus | None = None,
    ) -> tuple[Path, int]:
        """Save `task`'s video to `path`; `status`, when it carries the URL, saves a call."""
        url = await self._video_url(task, status)
        backend = self.calls.backend(task.provider)
        saved, size = await self.save(backend, url, path, task.task_id, overwrite, on_bytes)
        await self.calls.recorder.collected(task.provider, task.task_id, str(saved))
        return saved, size

    async def save(
        self,
        backend: Backend,
        url: str,
        path: str | os.PathLike[str],
        task_id: str | None,
        overwrite: bool,
        on_bytes: ProgressFn | None,
    ) -> tuple[Path, int]:
        """Stream `url` to `path` with the download client of `backend`'s provider."""
        return await download_to(
            backend.download_http(self.config),
            url,
            path,
            max_bytes=self.config.core.download_max_bytes,
            overwrite=overwrite,
            default_name=video_name(backend.name, task_id),
            on_bytes=on_bytes,
            context={"provider": backend.name, "operation": "download", "task_id": task_id},
            timeout=self.config.core.download_timeout,
        )

    async def _video_url(self, task: Task, status: TaskStatus | None) -> str:
        if status is not None and status.video_url:
            return status.video_url
        if Operation.URL in self.calls.backend(task.provider).capabilities:
            return await self.calls.url(task)
        status = await self.calls.status(task)
        raise_for_ending(task, status)
        if not status.video_url:
            raise TaskNotReady(
                f"Task {task.task_id} is {status.state.value}; it has no video yet.",
                provider=task.provider,
                operation="download",
                task_id=task.task_id,
            )
        return status.video_url

    def collect_later(self, task: Task, target: str) -> str:
        """The hint for a finished task whose video could not be saved: how to get it."""
        command = f"videoprovider download {shlex.quote(task.ref)} --out {shlex.quote(target)}"
        if self.calls.recorder.journal is None:
            return f"The task has finished; collect its video with: {command}"
        return (
            "The finished task stays in the journal; collect its video with: "
            f"{command} (or: videoprovider tasks resume)"
        )
