"""OAuth access tokens for Vertex AI, from google-auth (service-account files or application
default credentials). google-auth signs the JWT and talks to the token endpoint the
credentials name (`token_uri` in a service-account file: tests point it at loopback); its
requests go through httpx here, so the environment's proxies and CAs apply."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import anyio
import httpx

from videoprovider.errors import AuthenticationError, ConfigurationError, ProviderUnavailable

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


def _transport() -> Any:
    from google.auth import exceptions, transport

    class Response(transport.Response):
        def __init__(self, response: httpx.Response) -> None:
            self._response = response

        @property
        def status(self) -> int:
            return self._response.status_code

        @property
        def headers(self) -> Mapping[str, str]:
            return self._response.headers

        @property
        def data(self) -> bytes:
            return self._response.content

    class Request(transport.Request):
        """google-auth's transport interface over an httpx client."""

        def __init__(self) -> None:
            self.client = httpx.Client(timeout=30.0)

        def __call__(
            self,
            url: str,
            method: str = "GET",
            body: bytes | None = None,
            headers: Mapping[str, str] | None = None,
            timeout: float | None = None,
            **kwargs: Any,
        ) -> Response:
            try:
                reply = self.client.request(
                    method, url, content=body, headers=headers, timeout=timeout or 30.0
                )
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
                raise exceptions.TransportError(error) from exc  # type: ignore[no-untyped-call]
            return Response(reply)

    return Request()


class AccessTokens:
    """Bearer tokens for Vertex AI, refreshed (off the event loop) when they expire."""

    def __init__(self, credentials_file: str | None) -> None:
        try:
            import google.auth
            from google.oauth2 import service_account
        except ImportError:  # pragma: no cover - the `vertex` extra installs it
            raise ConfigurationError(
                "The vertex provider needs google-auth.",
                hint="pip install 'videoprovider[vertex]' (or google-auth).",
            ) from None
        try:
            if credentials_file:
                load = service_account.Credentials.from_service_account_file
                self.credentials: Any = load(  # type: ignore[no-untyped-call]
                    credentials_file, scopes=SCOPES
                )
                self.project: str | None = self.credentials.project_id
            else:
                self.credentials, self.project = google.auth.default(scopes=SCOPES)
        except (OSError, ValueError, google.auth.exceptions.GoogleAuthError) as exc:
            where = f"credentials_file {credentials_file}" if credentials_file else "ADC"
            raise ConfigurationError(
                f"Cannot load Google Cloud credentials ({where}): {type(exc).__name__}: "
                f"{str(exc)[:200]}",
                hint="Point credentials_file (GOOGLE_APPLICATION_CREDENTIALS) at a "
                "service-account JSON key, or run `gcloud auth application-default login`.",
            ) from None
        self._request = _transport()
        self._lock = anyio.Lock()

    async def headers(self) -> dict[str, str]:
        from google.auth import exceptions

        async with self._lock:
            if not self.credentials.valid:
                try:
                    await anyio.to_thread.run_sync(self.credentials.refresh, self._request)
                except exceptions.RefreshError as exc:
                    raise AuthenticationError(
                        f"Google's token endpoint refused the credentials: {str(exc)[:200]}",
                        hint="Check the service account's key and its Vertex AI role.",
                        provider="vertex",
                    ) from None
                except exceptions.TransportError as exc:
                    raise ProviderUnavailable(
                        f"Could not reach Google's token endpoint: {str(exc)[:200]}",
                        provider="vertex",
                    ) from None
        return self.cached() or {}

    def cached(self) -> dict[str, str] | None:
        """The current token's header, without refreshing (for the synchronous hooks)."""
        if not self.credentials.token:
            return None
        return {"Authorization": f"Bearer {self.credentials.token}"}

    def close(self) -> None:
        self._request.client.close()
