"""Keeping credentials out of the URLs videoprovider shows: in messages and in logs."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

__all__ = ["redact_url", "redact_userinfo"]

# `scheme://user:password@`: the userinfo of any URL inside a text.
_USERINFO = re.compile(r"\b([A-Za-z][A-Za-z0-9+.\-]*://)[^/?#\s@]*@")


def redact_url(url: str) -> str:
    """`url` without its userinfo, query string and fragment: a password in a base URL and
    the signature of a signed URL are credentials."""
    parts = urlsplit(redact_userinfo(url))
    return parts._replace(query="", fragment="").geturl()


def redact_userinfo(text: str) -> str:
    """`text` with the `user:password@` of every URL in it replaced by `***@`."""
    return _USERINFO.sub(r"\1***@", text)
