"""Provider credentials on downloads, scoped per URL: the `videoprovider_download_headers` hook.

Some services serve a result only to a request carrying the account's key (the Gemini API's
file URIs). The download client asks the provider, before every request of a download and
again on each redirect hop, which headers that URL gets. httpx copies a request's headers
onto its redirects (dropping only `Authorization` across origins), so a header added for the
first hop is removed from a hop the provider gives nothing: the key never follows a redirect
to another host.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

__all__ = ["CredentialHeaders", "HeadersFor"]

HeadersFor = Callable[[str], "Mapping[str, str] | None"]


class CredentialHeaders:
    """The download client's request hook that applies `headers_for(url)` to each hop."""

    def __init__(self, headers_for: HeadersFor) -> None:
        self.headers_for = headers_for
        self._names: set[str] = set()

    async def __call__(self, request: httpx.Request) -> None:
        for name in self._names:
            request.headers.pop(name, None)
        extra = self.headers_for(str(request.url)) or {}
        self._names.update(name.lower() for name in extra)
        request.headers.update(extra)
