"""The vertex entry point over real loopback HTTP: service-account tokens from the emulator's
token endpoint, fetchPredictOperation, inline and gs:// results, the token's scope."""

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from videoprovider.clock import VirtualClock
from videoprovider.errors import AuthenticationError, RequestRejected, TaskFailed
from videoprovider.provider import ProviderContext
from videoprovider.sync import VideoClient
from videoprovider.testing.conformance import ProviderConformance
from videoprovider_google.emulator import RunningEmulator
from videoprovider_google.vertex import VertexProvider
from videoprovider_google.vertex_settings import VertexSettings


def test_generate_with_a_service_account_file_saves_an_inline_video(
    vertex_client: VideoClient, google_emulator: RunningEmulator, tmp_path: Path
) -> None:
    video = vertex_client.generate("a cat", tmp_path / "cat.mp4", duration=8, seed=7)
    assert Path(video.path).read_bytes()[4:8] == b"ftyp"
    service = google_emulator.service
    (create,) = service.requests_of("create")
    assert create.path == (
        "/v1/projects/emulated-project/locations/us-central1/publishers/google/models/"
        "veo-3.1-generate-001:predictLongRunning"
    )
    assert create.body["parameters"] == {"durationSeconds": 8, "seed": 7}
    assert create.headers["authorization"].startswith("Bearer")
    fetches = service.requests_of("get")
    assert fetches and all(r.path.endswith(":fetchPredictOperation") for r in fetches)
    assert fetches[0].body == {"operationName": video.task.task_id}
    assert service.requests_of("token"), "no token was fetched from the token endpoint"
    assert service.requests_of("file") == []  # inline: saved without a download
    assert "bytesBase64Encoded" not in json.dumps(video.status.raw)


def test_a_gs_result_is_fetched_from_cloud_storage_with_the_token(
    google_emulator: RunningEmulator,
    google_clock: VirtualClock,
    vertex_credentials: str,
    tmp_path: Path,
) -> None:
    with VideoClient(
        "vertex",
        config=False,
        environ={},
        clock=google_clock,
        credentials_file=vertex_credentials,
        base_url=google_emulator.vertex_url,
        storage_url=google_emulator.service.base_url,
        output_gcs_uri="gs://my-bucket/veo/",
    ) as client:
        video = client.generate("a cat", tmp_path / "cat.mp4")
    assert Path(video.path).read_bytes()[4:8] == b"ftyp"
    (download,) = google_emulator.service.requests_of("file")
    assert download.path.startswith("/storage/v1/b/my-bucket/o/veo%2F")
    assert download.headers["authorization"].startswith("Bearer")


def test_vertex_takes_seed_and_audio_but_refuses_unknown_values(
    vertex_client: VideoClient, google_emulator: RunningEmulator
) -> None:
    with pytest.raises(RequestRejected) as info:
        vertex_client.submit("a cat", model="veo-2.0-generate-001", audio=True)
    assert info.value.field == "audio"
    with pytest.raises(RequestRejected) as info:
        vertex_client.submit("a cat", resolution="2160P")
    assert info.value.field == "resolution"
    assert google_emulator.service.requests_of("create") == []


def test_filtered_and_failed_operations_fail(vertex_client: VideoClient) -> None:
    with pytest.raises(TaskFailed, match="safety"):
        vertex_client.wait(vertex_client.submit("a crowd [[filter]]"))
    with pytest.raises(TaskFailed, match="INTERNAL"):
        vertex_client.wait(vertex_client.submit("a cat [[fail]]"))


@pytest.mark.google_emulator(service_accounts=("someone@else.iam.gserviceaccount.com",))
def test_a_refused_service_account_is_an_authentication_error(
    vertex_client: VideoClient, google_emulator: RunningEmulator
) -> None:
    with pytest.raises(AuthenticationError, match="token endpoint"):
        vertex_client.submit("a cat")
    assert google_emulator.service.requests_of("create") == []


def test_the_token_goes_only_to_the_api_and_storage_origins(
    google_emulator: RunningEmulator, vertex_credentials: str
) -> None:
    settings = VertexSettings(
        credentials_file=vertex_credentials,
        base_url=google_emulator.vertex_url,
        storage_url="https://storage.example.com",
    )
    provider = VertexProvider(settings, ProviderContext(name="vertex", clock=VirtualClock()))

    async def fetch_token() -> None:
        await provider.tokens.headers()
        await provider.videoprovider_aclose()

    anyio.run(fetch_token)
    api = provider.videoprovider_download_headers(url=f"{google_emulator.vertex_url}/x")
    storage = provider.videoprovider_download_headers(url="https://storage.example.com/o/x")
    assert api is not None and api["Authorization"].startswith("Bearer ya29.")
    assert storage == api
    assert provider.videoprovider_download_headers(url="https://evil.example/o/x") is None
    assert provider.videoprovider_download_headers(url="http://storage.example.com/o") is None


def test_vertex_settings_default_to_the_regional_endpoint_and_check_their_values() -> None:
    assert VertexSettings(location="europe-west4").api_root == (
        "https://europe-west4-aiplatform.googleapis.com/v1"
    )
    assert VertexSettings(location="global").api_root == "https://aiplatform.googleapis.com/v1"
    for bad in ({"output_gcs_uri": "s3://b/x"}, {"location": "Mars 1"}, {"base_url": "http://x"}):
        with pytest.raises(ValueError):
            VertexSettings(**bad)


class TestVertexConformance(ProviderConformance):
    provider = "vertex"

    @staticmethod
    def is_status_request(method: str, url: str) -> bool:
        return url.split("?")[0].endswith(":fetchPredictOperation")

    @pytest.fixture
    def conformance_settings(
        self, google_emulator: RunningEmulator, vertex_credentials: str
    ) -> dict[str, Any]:
        return {
            "credentials_file": vertex_credentials,
            "base_url": google_emulator.vertex_url,
            "storage_url": google_emulator.service.base_url,
        }

    @pytest.fixture
    def conformance_clock(self, google_clock: VirtualClock) -> VirtualClock:
        return google_clock

    @pytest.fixture
    def conformance_unknown_task_id(self) -> str:
        return (
            "projects/emulated-project/locations/us-central1/publishers/google/models/"
            "veo-3.1-generate-001/operations/zzzzzzzzzzzz"
        )
