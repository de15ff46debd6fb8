"""The `[vertex]` settings: project, location, credentials, output bucket, endpoints."""

from __future__ import annotations

import re
from typing import ClassVar

from pydantic import Field, field_validator

from .settings import UNTRUSTED_OK, VeoSettings, check_base_url

# The GA id of the model the Vertex AI Veo 3.1 page documents first [vertex-veo-3.1].
DEFAULT_VERTEX_MODEL = "veo-3.1-generate-001"
DEFAULT_STORAGE_URL = "https://storage.googleapis.com"
_LOCATION = re.compile(r"[a-z][a-z0-9-]{0,62}")
_PROJECT = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_GS = re.compile(r"gs://[a-z0-9][a-z0-9._-]{1,221}(/.*)?")


class VertexSettings(VeoSettings):
    """Settings of the Google Veo provider on Vertex AI (`[vertex]` in the config file)."""

    env_vars: ClassVar[dict[str, tuple[str, ...]]] = {
        "project": ("GOOGLE_CLOUD_PROJECT",),
        "location": ("GOOGLE_CLOUD_LOCATION",),
        "credentials_file": ("GOOGLE_APPLICATION_CREDENTIALS",),
    }

    model: str = Field(
        default=DEFAULT_VERTEX_MODEL,
        description="Default Veo model (see `videoprovider models vertex`).",
        json_schema_extra=UNTRUSTED_OK,
    )
    project: str | None = Field(
        default=None,
        description="Google Cloud project id; unset: the credentials' project.",
    )
    location: str = Field(default="us-central1", description="Vertex AI region, or global.")
    credentials_file: str | None = Field(
        default=None,
        description="Service-account JSON key file; unset: application default credentials.",
    )
    base_url: str | None = Field(
        default=None,
        description="API root; unset: https://{location}-aiplatform.googleapis.com/v1.",
    )
    storage_url: str = Field(
        default=DEFAULT_STORAGE_URL,
        description="Cloud Storage JSON API root that gs:// results are fetched from.",
    )
    output_gcs_uri: str | None = Field(
        default=None,
        description="gs://bucket/prefix Vertex AI writes videos to (`storageUri`); unset: "
        "videos come back inline in the operation.",
    )

    @field_validator("location")
    @classmethod
    def _location(cls, v: str) -> str:
        if not _LOCATION.fullmatch(v.strip()):
            raise ValueError(f"location must be a region such as us-central1, got {v!r}")
        return v.strip()

    @field_validator("project")
    @classmethod
    def _project(cls, v: str | None) -> str | None:
        if v is not None and not _PROJECT.fullmatch(v.strip()):
            raise ValueError(f"project must be a Google Cloud project id, got {v!r}")
        return v.strip() if v else None

    @field_validator("base_url", "storage_url")
    @classmethod
    def _urls(cls, v: str | None) -> str | None:
        return check_base_url(v) if v else None

    @field_validator("output_gcs_uri")
    @classmethod
    def _gcs(cls, v: str | None) -> str | None:
        if v and not _GS.fullmatch(v.strip()):
            raise ValueError(f"output_gcs_uri must look like gs://bucket/prefix/, got {v!r}")
        return v.strip() if v else None

    @property
    def api_root(self) -> str:
        """`base_url`, or the regional endpoint of `location` [vertex-veo-rest]."""
        if self.base_url:
            return self.base_url
        host = "aiplatform.googleapis.com"
        return f"https://{host if self.location == 'global' else f'{self.location}-{host}'}/v1"
