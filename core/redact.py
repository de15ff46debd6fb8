"""Keeping credentials out of the URLs videoprovider shows: in messages and in logs."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["redact_url"]


def redact_url(url: str) -> str:
    """`url` without its query string and fragment: signed URLs carry credentials there."""
    parts = urlsplit(url)
    return parts._replace(query="", fragment="").geturl()
