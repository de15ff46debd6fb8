"""VideoClient: the blocking twin of AsyncVideoClient.

Every call runs the async client's coroutine on a private event loop in a helper thread (an
anyio blocking portal), so there is no second implementation to drift, and the sync client
works even where an event loop is already running (Jupyter, async web frameworks).
Callbacks (`on_progress`, host event hooks) run on that helper thread.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import os
import queue
import threading
import weakref
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar, cast

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal

from .client import DEFAULT, AsyncVideoClient, Cap, OnProgress, Outcome, TaskRef
from .download import ProgressFn
from .journal import Journal
from .journal.entry import JournalEntry
from .models import GeneratedVideo, Task, TaskStatus, VideoRequest
from .prices import Estimate
from .provider import Operation
from .reconcile import Orphan
from .resume import Resumed
from .usage import ProviderUsage

__all__ = ["VideoClient"]

T = TypeVar("T")


class VideoClient:
    """Generate videos with the configured provider, from ordinary (blocking) code.

    Takes the same arguments as `AsyncVideoClient` and offers the same methods. Use it as a
    context manager, or call `close()`, to release its connections and helper thread.
    """

    def __init__(self, provider: str | None = None, **kwargs: Any) -> None:
        self._aclient = AsyncVideoClient(provider, **kwargs)
        cm: AbstractContextManager[BlockingPortal] = start_blocking_portal()
        self._portal = cm.__enter__()
        self._finalizer = weakref.finalize(self, _shutdown, self._portal, cm, self._aclient)

    def _run(self, fn: Callable[..., Coroutine[Any, Any, T]], *args: Any, **kwargs: Any) -> T:
        return _call(self._portal, functools.partial(fn, *args, **kwargs))

    @property
    def async_client(self) -> AsyncVideoClient:
        """The async client underneath (its coroutines belong to this client's loop)."""
        return self._aclient

    @property
    def provider_name(self) -> str:
        return self._aclient.provider_name

    @property
    def capabilities(self) -> frozenset[Operation]:
        return self._aclient.capabilities

    def register(self, plugin: object, name: str | None = None) -> None:
        self._aclient.register(plugin, name)

    def unregister(self, plugin: object) -> None:
        self._aclient.unregister(plugin)

    def settings_report(self) -> dict[str, dict[str, Any]]:
        return self._aclient.settings_report()

    def usage(self) -> list[ProviderUsage]:
        # On the loop: the request window it reads is the scheduler's, on that thread.
        return self._portal.call(self._aclient.usage)

    def submit(
        self,
        request: VideoRequest | str,
        *,
        target: str | os.PathLike[str] | None = None,
        max_cost: Cap | None = None,
        allow_unknown_cost: bool = False,
        **fields: Any,
    ) -> Task:
        return self._run(
            self._aclient.submit,
            request,
            target=target,
            max_cost=max_cost,
            allow_unknown_cost=allow_unknown_cost,
            **fields,
        )

    def estimate(self, request: VideoRequest | str, **fields: Any) -> Estimate:
        """See `AsyncVideoClient.estimate`."""
        return self._aclient.estimate(request, **fields)

    def status(self, task: TaskRef) -> TaskStatus:
        return self._run(self._aclient.status, task)

    def url(self, task: TaskRef) -> str:
        return self._run(self._aclient.url, task)

    def cancel(self, task: TaskRef) -> TaskStatus:
        return self._run(self._aclient.cancel, task)

    def wait(
        self,
        task: TaskRef,
        *,
        timeout: float | None = DEFAULT,
        on_progress: OnProgress | None = None,
    ) -> TaskStatus:
        return self._run(self._aclient.wait, task, timeout=timeout, on_progress=on_progress)

    def orphans(self) -> list[Orphan]:
        """See `AsyncVideoClient.orphans`."""
        return self._run(self._aclient.orphans)

    def adopt(self, entry_id: str, task_id: str) -> JournalEntry:
        return self._run(self._aclient.adopt, entry_id, task_id)

    def abandon(self, entry_id: str) -> JournalEntry:
        return self._run(self._aclient.abandon, entry_id)

    def receive_webhook(
        self, headers: Mapping[str, str], body: bytes, *, provider: str | None = None
    ) -> TaskStatus | None:
        """See `AsyncVideoClient.receive_webhook`."""
        return self._run(self._aclient.receive_webhook, headers, body, provider=provider)

    def download(
        self,
        task: TaskRef,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        on_bytes: ProgressFn | None = None,
        status: TaskStatus | None = None,
    ) -> Path:
        return self._run(
            self._aclient.download,
            task,
            path,
            overwrite=overwrite,
            on_bytes=on_bytes,
            status=status,
        )

    def download_url(
        self,
        url: str,
        path: str | os.PathLike[str],
        *,
        overwrite: bool = False,
        on_bytes: ProgressFn | None = None,
    ) -> Path:
        return self._run(
            self._aclient.download_url, url, path, overwrite=overwrite, on_bytes=on_bytes
        )

    def generate(
        self,
        request: VideoRequest | str,
        path: str | os.PathLike[str],
        *,
        timeout: float | None = DEFAULT,
        on_progress: OnProgress | None = None,
        overwrite: bool = False,
        on_bytes: ProgressFn | None = None,
        max_cost: Cap | None = None,
        allow_unknown_cost: bool = False,
        **fields: Any,
    ) -> GeneratedVideo:
        return self._run(
            self._aclient.generate,
            request,
            path,
            timeout=timeout,
            on_progress=on_progress,
            overwrite=overwrite,
            on_bytes=on_bytes,
            max_cost=max_cost,
            allow_unknown_cost=allow_unknown_cost,
            **fields,
        )

    def wait_many(
        self,
        tasks: Iterable[TaskRef],
        *,
        timeout: float | None = DEFAULT,
        on_progress: OnProgress | None = None,
    ) -> list[Outcome]:
        return self._run(
            self._aclient.wait_many, list(tasks), timeout=timeout, on_progress=on_progress
        )

    def as_completed(
        self,
        tasks: Iterable[TaskRef],
        *,
        timeout: float | None = DEFAULT,
        on_progress: OnProgress | None = None,
    ) -> Iterator[Outcome]:
        """Yield each task's Outcome as it ends (the waiting runs on the client's loop)."""
        refs = list(tasks)
        results: queue.Queue[Outcome] = queue.Queue()

        # One task on the loop runs the whole iteration (its task group must not move
        # between tasks); outcomes cross to this thread through a queue.
        async def pump() -> None:
            async for outcome in self._aclient.as_completed(
                refs, timeout=timeout, on_progress=on_progress
            ):
                results.put(outcome)

        future = self._portal.start_task_soon(pump)
        try:
            for _ in refs:
                while True:
                    try:
                        yield results.get(timeout=0.05)
                        break
                    except queue.Empty:
                        if future.done():
                            future.result()  # raises what stopped the iteration
            future.result()
        finally:
            future.cancel()

    def resume(
        self,
        *,
        timeout: float | None = DEFAULT,
        on_progress: OnProgress | None = None,
        limit: int | None = None,
    ) -> list[Resumed]:
        return self._run(
            self._aclient.resume, timeout=timeout, on_progress=on_progress, limit=limit
        )

    @property
    def journal(self) -> Journal | None:
        return self._aclient.journal

    def close(self) -> None:
        self._finalizer()

    def __enter__(self) -> VideoClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VideoClient(provider={self.provider_name!r})"


# How long the calling thread blocks at a time while a call runs on the loop: between two
# waits it runs Python again, so a Ctrl-C the kernel handed to the loop's thread (or one that
# arrived while it was blocked) raises KeyboardInterrupt here within this time.
SLICE = 0.1
# How long a call interrupted by Ctrl-C is given to unwind (its cancellation, a journal
# write under way in its worker thread) before the interrupt goes on.
UNWIND = 5.0


class _Interruptible(Generic[T]):
    """One call on the loop that the calling thread can cancel, from the moment it asked
    for it: a Ctrl-C may arrive before the portal has handed back the call's future."""

    def __init__(self, fn: Callable[[], Coroutine[Any, Any, T]]) -> None:
        self.fn = fn
        self.unwound = threading.Event()
        self.scope: anyio.CancelScope | None = None
        self.cancelled = False

    async def run(self) -> T | None:
        try:
            with anyio.CancelScope() as self.scope:
                if not self.cancelled:
                    return await self.fn()
            return None  # cancelled by `cancel`; the caller raises KeyboardInterrupt
        finally:
            self.unwound.set()

    def cancel(self) -> None:
        """On the loop: stop the call, or keep it from starting."""
        self.cancelled = True
        if self.scope is None:
            self.unwound.set()
        else:
            self.scope.cancel()


def _call(portal: BlockingPortal, fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `fn()` on the portal's loop and return its result, in timed waits.

    On KeyboardInterrupt the coroutine is cancelled, and given UNWIND s to finish its
    cleanup, before the interrupt propagates.
    """
    call: _Interruptible[T] = _Interruptible(fn)
    try:
        future = portal.start_task_soon(call.run)
        while True:
            with contextlib.suppress(concurrent.futures.TimeoutError):
                return cast(T, future.result(timeout=SLICE))
    except KeyboardInterrupt:
        with contextlib.suppress(RuntimeError):  # the portal has stopped: nothing runs
            portal.call(call.cancel)
        call.unwound.wait(UNWIND)
        raise


def _shutdown(
    portal: BlockingPortal, cm: AbstractContextManager[BlockingPortal], aclient: AsyncVideoClient
) -> None:
    # A finalizer, not a method: it must not hold a reference to the VideoClient itself.
    try:
        _call(portal, aclient.aclose)
    finally:
        # Cancel calls still running (a wait another thread was blocked in, or one left
        # behind by Ctrl-C) instead of waiting for them: closing must not hang.
        with contextlib.suppress(RuntimeError):
            portal.call(portal.stop, True)
        cm.__exit__(None, None, None)
