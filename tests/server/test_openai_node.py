"""The official `openai` npm package, from a Node script, against a real gateway process."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import StartServer
from .docblocks import DOC_URL, block

NODE_CHECKS = """
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.argv[2], apiKey: "sk-test-local", maxRetries: 0 });
const made = await client.videos.create({
  model: "fake/fake-1", prompt: "listed", size: "1280x720",
});
const ids = [];
for await (const video of client.videos.list({ limit: 1 })) ids.push(video.id);
let badParam = null;
try {
  await client.videos.create({ prompt: "bad", size: "big" });
} catch (err) {
  badParam = [err.status, err.param ?? err.error?.param];
}
const deleted = await client.videos.delete(made.id);
let afterDelete = null;
try {
  await client.videos.retrieve(made.id);
} catch (err) {
  afterDelete = err.status;
}
const status = made.status;
console.log(JSON.stringify({ made: made.id, status, ids, badParam, deleted, afterDelete }));
"""


@pytest.fixture(scope="module")
def node_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the openai npm package installed in it (and nowhere else)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed")
    folder = tmp_path_factory.mktemp("node")
    (folder / "package.json").write_text('{"type": "module", "private": true}')
    result = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--silent", "openai"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        pytest.skip(f"npm could not install the openai package: {result.stderr[-500:]}")
    return folder


def node(folder: Path, name: str, script: str, *args: str) -> str:
    (folder / name).write_text(script)
    result = subprocess.run(
        ["node", name, *args], cwd=folder, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_the_documented_node_example_creates_polls_and_downloads(
    node_folder: Path, start_server: StartServer
) -> None:
    url = start_server().url
    script = block("javascript", "downloadContent").replace(DOC_URL, url)
    out = node(node_folder, "example.mjs", script)
    video_id, status = out.split()
    assert status == "completed" and video_id.startswith("video_")
    assert (node_folder / "lighthouse.mp4").read_bytes()[4:8] == b"ftyp"


def test_node_lists_deletes_and_reads_errors(node_folder: Path, start_server: StartServer) -> None:
    url = start_server().url
    found = json.loads(node(node_folder, "checks.mjs", NODE_CHECKS, f"{url}/v1"))
    assert found["status"] == "queued"
    assert found["ids"] == [found["made"]]
    assert found["badParam"] == [400, "size"]
    assert found["deleted"] == {"id": found["made"], "object": "video.deleted", "deleted": True}
    assert found["afterDelete"] == 404
