"""The sync twin's own concerns: calls block the calling thread, and Ctrl-C still stops them."""

import _thread
import faulthandler
import signal
import threading
import time
from collections.abc import Iterator

import pytest

from videoprovider import VideoClient, VirtualClock


@pytest.fixture
def python_sigint_handler() -> Iterator[None]:
    """Python's own SIGINT handler for the test: `interrupt_main` does nothing without it,
    and a test run started in the background by a shell without job control (`cmd &` in a
    script) inherits SIGINT ignored, which Python then leaves ignored. (That case is the
    CLI's to handle: tests/core/test_cli.py's Ctrl-C test runs it both ways.)"""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@pytest.mark.usefixtures("python_sigint_handler")
def test_ctrl_c_reaches_a_blocked_call_and_cancels_its_coroutine() -> None:
    client = VideoClient("fake", config=False, environ={}, clock=VirtualClock(), scenario="stuck")
    task = client.submit("a cat")
    polling = threading.Event()
    seen = threading.Event()  # the wait has returned or raised
    interrupted_at: list[float] = []

    def interrupt() -> None:
        polling.wait(30)
        interrupted_at.append(time.monotonic())
        # What a SIGINT does when the kernel hands it to another thread: the handler waits
        # for the main thread to run Python again, which a wait without a timeout never does.
        _thread.interrupt_main()
        if not seen.wait(10):  # the bound of the test below, only reached when it fails
            # Where the main thread is instead of raising KeyboardInterrupt, for the report.
            faulthandler.dump_traceback(all_threads=True)
            client.close()  # unblocks the old, untimed wait: a failure ends, never hangs

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        try:
            client.wait(task, timeout=None, on_progress=lambda status: polling.set())
        finally:
            seen.set()
    seen_after = time.monotonic() - interrupted_at[0]
    assert seen_after < 5, f"the interrupt was seen {seen_after:.1f} s late"
    # The wait's coroutine was cancelled, not left polling on the loop.
    assert client.async_client.scheduler.unfinished() == []
    client.close()
