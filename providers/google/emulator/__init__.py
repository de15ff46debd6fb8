"""A Gemini-API (Veo) server on 127.0.0.1 for tests and demos.

    with run_in_thread(EmulatorConfig(operation_seconds=30), clock=clock) as emu:
        os.environ["GEMINI_BASE_URL"] = emu.base_url
        emu.service.inject(Fault("429", match="create"))

or from a shell: `python -m videoprovider_google.emulator --port 0` (prints its base URL).
It checks `x-goog-api-key`, starts operations at `POST /v1beta/models/<m>:predictLongRunning`
for the catalogue's models, finishes them on an injectable clock (`[[fail]]` in a prompt ends
with an `error`, `[[filter]]` with safety-filtered results and no video), serves the MP4 at
`/v1beta/files/<id>:download?alt=media` only with the key, or points result URIs at another
host (`video_base_url`; `public_files` plays that host), and injects 429 (with RetryInfo),
5xx and dropped connections. For Vertex AI it serves an OAuth token endpoint (`/token`,
`token_uri` of the key file `service_account_file` writes), `:predictLongRunning` and
`:fetchPredictOperation` under `/v1/projects/...`, inline or gs:// results (with a request's
`storageUri`) and their Cloud Storage JSON API download, all behind its own bearer tokens.
It is served by `videoprovider.testing.emulator`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

from videoprovider.testing.emulator import EmulatorClock, base_url, in_thread, serve

from .service import API, EmulatorConfig, Fault, GoogleService
from .vertex import TOKEN_PATH, service_account_file

__all__ = [
    "EmulatorConfig",
    "Fault",
    "GoogleService",
    "RunningEmulator",
    "run_in_thread",
    "service_account_file",
]


@dataclass
class RunningEmulator:
    """An emulator serving from a thread of this process; `base_url` ends in /v1beta."""

    base_url: str
    service: GoogleService

    @property
    def vertex_url(self) -> str:
        """The Vertex AI API root (`base_url` of the `vertex` provider)."""
        return f"{self.service.base_url}/v1"

    @property
    def token_uri(self) -> str:
        """The OAuth token endpoint, for a service-account file's `token_uri`."""
        return f"{self.service.base_url}{TOKEN_PATH}"


@contextmanager
def run_in_thread(
    config: EmulatorConfig | None = None, clock: EmulatorClock | None = None, port: int = 0
) -> Iterator[RunningEmulator]:
    service = GoogleService(config, clock)
    start = partial(serve, service.handle, "127.0.0.1", port)
    with in_thread(start, name="google-emulator") as server:
        service.base_url = base_url(server, "127.0.0.1", None)
        yield RunningEmulator(f"{service.base_url}{API}", service)
