"""Provider credentials on downloads go only to the URLs the provider names, hop by hop."""

import anyio
import httpx

from videoprovider.download import download_client
from videoprovider.download_credentials import CredentialHeaders

API = "https://api.example.com"


def keyed(url: str) -> dict[str, str] | None:
    return {"x-api-key": "sk-test-secret"} if url.startswith(f"{API}/") else None


def fetch(url: str, handler: object) -> list[httpx.Request]:
    seen: list[httpx.Request] = []

    def serve(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)  # type: ignore[operator]

    async def run() -> None:
        client = download_client(
            mounts={"all://": httpx.MockTransport(serve)},
            timeout=httpx.Timeout(5),
            headers={},
            allow_loopback=False,
            allow_private=True,
            credentials=CredentialHeaders(keyed),
        )
        async with client:
            await client.get(url)

    anyio.run(run)
    return seen


def test_the_key_goes_to_the_named_origin() -> None:
    (request,) = fetch(f"{API}/files/1", lambda r: httpx.Response(200))
    assert request.headers["x-api-key"] == "sk-test-secret"


def test_the_key_never_goes_to_another_host() -> None:
    (request,) = fetch("https://cdn.example.net/v.mp4", lambda r: httpx.Response(200))
    assert "x-api-key" not in request.headers


def test_the_key_is_dropped_on_a_redirect_to_another_host() -> None:
    def serve(request: httpx.Request) -> httpx.Response:
        if request.url.host == "api.example.com":
            return httpx.Response(302, headers={"Location": "https://cdn.example.net/v.mp4"})
        return httpx.Response(200)

    first, second = fetch(f"{API}/files/1", serve)
    assert first.headers["x-api-key"] == "sk-test-secret"
    assert second.url.host == "cdn.example.net"
    assert "x-api-key" not in second.headers
