"""The smaller defects of issue 13 (class 9): ids escaped in the MCP tools' URL paths,
private data files, a complete Allow, and a PATCH schema that says what null does."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from mcp import Client
from sqlalchemy import make_url

from heurist.mcp.shape import entries_path
from tests.support.server import LiveServer

Server = Callable[..., LiveServer]
ESCAPES = ["../../admin/queue/status", "../../../health", "..", "a/b", "x?y#z"]


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """None of this depends on the database: SQLite only (whose files are tested)."""
    (tmp_path / "store").mkdir()
    return f"sqlite:///{tmp_path / 'store' / 'heurist.db'}"


def test_ids_are_escaped_whole_in_mcp_paths() -> None:
    assert entries_path("experience", "../../admin") == "/api/v1/experiences/..%2F..%2Fadmin"
    assert entries_path("manual", "..") == "/api/v1/manuals/%2E%2E"


def test_an_id_cannot_reach_another_route_through_mcp(server_factory: Server) -> None:
    server = server_factory()
    assert server.client.post("/api/v1/categories", json={"code": "py", "name": "P"}).is_success

    async def scenario() -> None:
        async with Client(f"{server.url}/mcp", read_timeout_seconds=60) as client:
            result = await client.call_tool(
                "read_entries", {"entity_type": "experience", "ids": ESCAPES}
            )
            assert not result.is_error, result.content
            answer = result.structured_content
            assert answer is not None and answer["count"] == 0
            assert [m["id"] for m in answer["missing"]] == ESCAPES
            for missing in answer["missing"]:
                assert "404" in missing["error"], missing
            update = await client.call_tool(
                "update_entry",
                {
                    "entity_type": "manual",
                    "category_code": "py",
                    "entry_id": "../../categories/py",
                    "updates": {"title": "x"},
                },
            )
            assert update.is_error and "404" in str(update.content)

    anyio.run(scenario)
    assert server.client.get("/api/v1/categories/py").json()["name"] == "P"


def test_data_dir_is_0700_and_database_files_0600(
    server_factory: Server, tmp_path: Path, db_url: str
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)  # as an older version left it
    server = server_factory(admin_token=None)
    assert server.client.post("/api/v1/categories", json={"code": "py", "name": "P"}).is_success
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    database = Path(str(make_url(db_url).database))
    files = [database, database.with_name(database.name + "-wal"), data / "admin_token"]
    for path in files:
        assert path.exists(), path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_options_and_405_name_every_method_of_the_path(server_factory: Server) -> None:
    server = server_factory()
    expected = {
        "/api/v1/experiences": "GET, HEAD, OPTIONS, POST",
        "/api/v1/manuals/some-id": "DELETE, GET, HEAD, OPTIONS, PATCH",
        "/health": "GET, HEAD, OPTIONS",
    }
    for path, allow in expected.items():
        options = server.client.options(path)
        assert (options.status_code, options.headers["Allow"]) == (204, allow), path
        put = server.client.put(path, json={})
        assert (put.status_code, put.headers["Allow"]) == (405, allow), path
        assert put.json()["error"]["code"] == "method_not_allowed"


def test_patch_schema_says_what_null_does(server_factory: Server) -> None:
    server = server_factory()
    schemas = server.client.get("/openapi.json").json()["components"]["schemas"]
    for name, required in [
        ("ExperienceUpdate", ("category", "section", "title", "playbook")),
        ("ManualUpdate", ("category", "title", "content")),
    ]:
        props = schemas[name]["properties"]
        for field in required:
            assert "null" not in str(props[field]), (name, field, props[field])
        for field in set(props) - set(required):
            assert "'null'" in str(props[field]), (name, field)

    assert server.client.post("/api/v1/categories", json={"code": "py", "name": "P"}).is_success
    body = {"category": "py", "section": "useful", "title": "T", "playbook": "P", "author": "a"}
    entry = server.client.post("/api/v1/experiences", json=body).json()
    path = f"/api/v1/experiences/{entry['id']}"
    refused = server.client.patch(path, json={"title": None})
    assert refused.status_code == 422 and refused.json()["error"]["details"][0]["field"] == "title"
    cleared = server.client.patch(path, json={"author": None})
    assert cleared.status_code == 200 and cleared.json()["author"] is None
