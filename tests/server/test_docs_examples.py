"""docs/gateway.md's curl and Python examples, run against a real gateway process."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import StartServer
from .docblocks import DOC_URL, block

pytest.importorskip("openai")
# The openai clients mark their videos resource deprecated since OpenAI closed its service.
pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


def test_the_documented_curl_call_creates_a_video(start_server: StartServer) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    url = start_server().url
    script = block("bash", "curl -s").replace(DOC_URL, url)
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    video = json.loads(result.stdout)
    assert (video["object"], video["status"], video["size"]) == ("video", "queued", "1280x720")


def test_the_documented_python_example_saves_the_video(
    start_server: StartServer, tmp_path: Path
) -> None:
    url = start_server().url
    script = block("python", "from openai import OpenAI").replace(DOC_URL, url)
    result = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[1] == "completed"
    assert (tmp_path / "lighthouse.mp4").read_bytes()[4:8] == b"ftyp"


def test_the_openapi_document_describes_the_video_routes(start_server: StartServer) -> None:
    import httpx

    document = httpx.get(f"{start_server().url}/openapi.json").json()
    paths = document["paths"]
    assert {"/v1/videos", "/v1/videos/{video_id}", "/v1/videos/{video_id}/content"} <= set(paths)
    create = paths["/v1/videos"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(create)
    assert "Video" in document["components"]["schemas"]
