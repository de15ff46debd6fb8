"""`videoprovider serve` and `serve keys` from the command line."""

from __future__ import annotations

import shlex
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from videoprovider.cli import main

from .conftest import StartServer, write_config
from .docblocks import block


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_the_documented_key_commands_run(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    for line in block("bash", "serve keys create").strip().splitlines():
        code, output = invoke(*shlex.split(line)[1:], "--config", str(config))
        assert code == 0, (line, output)
    code, output = invoke("serve", "keys", "list", "--config", str(config), "--json")
    assert code == 0 and '"revoked_ms": null' not in output


def test_a_created_key_opens_the_gateway_and_a_revoked_one_closes_it(
    tmp_path: Path, start_server: StartServer
) -> None:
    config = write_config(tmp_path)
    code, output = invoke("serve", "keys", "create", "ops", "--config", str(config), "--quiet")
    assert code == 0
    key = output.strip().splitlines()[-1]
    assert key.startswith("vpk-")
    assert key not in (tmp_path / "gateway.sqlite3").read_bytes().decode(errors="replace")
    url = start_server().url
    assert httpx.get(f"{url}/v1/videos").status_code == 401
    good = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{url}/v1/videos", headers=good).status_code == 200
    assert invoke("serve", "keys", "revoke", "ops", "--config", str(config))[0] == 0
    assert httpx.get(f"{url}/v1/videos", headers=good).status_code == 401


def test_print_config_gives_a_table_that_the_gateway_takes(
    tmp_path: Path, start_server: StartServer
) -> None:
    config = write_config(tmp_path)
    code, output = invoke(
        "serve", "keys", "create", "cfg", "--print-config", "--rate", "5", "--config", str(config)
    )
    assert code == 0
    lines = output.strip().splitlines()
    table, key = "\n".join(lines[:-2]), lines[-1]
    assert table.startswith("[[server.keys]]") and "rate_per_minute = 5" in table
    url = start_server(table).url
    assert httpx.get(f"{url}/v1/videos", headers={"Authorization": f"Bearer {key}"}).is_success


def test_listening_beyond_loopback_without_a_key_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    code, output = invoke("serve", "--host", "0.0.0.0", "--config", str(config))
    assert code == 2
    assert "Refusing to listen on 0.0.0.0" in output and "keys create" in output


def test_no_workers_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    code, output = invoke("serve", "--workers", "0", "--config", str(config))
    assert code == 2 and "--workers must be 1 or more" in output


def test_a_server_section_in_a_working_directory_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "videoprovider.toml").write_text(
        f'[server]\ndatabase = "{tmp_path / "elsewhere.sqlite3"}"\n'
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VIDEOPROVIDER_CONFIG", raising=False)
    code, output = invoke("serve", "keys", "list")
    # Refused by the gateway, or already by the config loader (which refuses every section
    # no provider reads from such a file): either way naming the setting and the fix.
    assert code == 2
    assert "server" in output and "--config" in output


def test_server_settings_come_from_the_environment_and_name_bad_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from videoprovider.config import load_config
    from videoprovider.errors import ConfigurationError
    from videoprovider.server import server_settings

    config_file = write_config(tmp_path)
    monkeypatch.setenv("VIDEOPROVIDER_SERVER_PORT", "9123")
    assert server_settings(load_config(config=config_file)).port == 9123
    monkeypatch.setenv("VIDEOPROVIDER_SERVER_RETENTION_HOURS", "-1")
    with pytest.raises(ConfigurationError, match=r"server\.retention_hours"):
        server_settings(load_config(config=config_file))
