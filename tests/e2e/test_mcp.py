"""The MCP server, driven by the official MCP client over both transports.

stdio: ``.venv/bin/heurist mcp`` spawned as a subprocess, a thin client of a live
server (``HEURIST_API_URL``). Streamable HTTP: ``{server.url}/mcp`` on the server
itself. Both run the same scenario against SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from tests.support.server import LiveServer, free_port

HEURIST = str(Path(sys.executable).with_name("heurist"))
TOOLS = {
    "list_categories",
    "read_entries",
    "create_entry",
    "update_entry",
    "check_duplicates",
    "rate_entry",
}
TITLE = "Run pytest-xdist with a fixed worker count on CI"
PLAYBOOK = (
    "On shared CI runners use pytest -n 2 instead of -n auto: auto counts the host's "
    "cores, not the container's quota, and the suite thrashes."
)


def stdio(api_url: str, cwd: Path, **env: str) -> Client:
    params = StdioServerParameters(
        command=HEURIST, args=["mcp"], env={"HEURIST_API_URL": api_url, **env}, cwd=str(cwd)
    )
    return Client(params, read_timeout_seconds=60)


def over_http(server: LiveServer) -> Client:
    return Client(f"{server.url}/mcp", read_timeout_seconds=60)


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """Call a tool that must succeed; its structured answer."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, _text(result)
    assert result.structured_content is not None
    return result.structured_content


async def fails(client: Client, tool: str, **arguments: Any) -> str:
    """Call a tool that must fail as a tool error; its message."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    return _text(result)


def _text(result: CallToolResult) -> str:
    return " ".join(c.text for c in result.content if isinstance(c, TextContent))


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    anyio.run(scenario)


@pytest.fixture
def live(server_factory: Callable[..., LiveServer]) -> LiveServer:
    server = server_factory(num_embedding_workers=1)
    response = server.client.post(
        "/api/v1/categories", json={"code": "ci", "name": "CI", "description": "builds"}
    )
    assert response.status_code == 201, response.text
    return server


async def scenario(client: Client, server: LiveServer) -> None:
    assert {t.name for t in (await client.list_tools()).tools} == TOOLS
    categories = (await call(client, "list_categories"))["categories"]
    assert categories == [
        {
            "code": "ci",
            "name": "CI",
            "description": "builds",
            "review": False,
            "counts": {"experience": 0, "manual": 0},
        }
    ]
    entry_id = await create_and_read_while_pending(client, server)
    await duplicates(client, entry_id)
    await update(client, entry_id)
    await errors_are_tool_errors(client)
    await guides(client)
    await curated(client, server, entry_id)


async def create_and_read_while_pending(client: Client, server: LiveServer) -> str:
    # Paused, so the entry is certainly still pending when it is read back.
    assert server.admin.post("/admin/queue/pause").status_code == 200
    created = await call(
        client,
        "create_entry",
        entity_type="experience",
        category_code="ci",
        data={"section": "useful", "title": TITLE, "playbook": PLAYBOOK},
    )
    entry = created["entry"]
    assert entry["embedding_status"] == "pending"
    assert entry["category"] == "ci" and entry["title"] == TITLE
    assert created["duplicates"] == [] and created["hint"] is None
    found = await call(client, "read_entries", entity_type="experience", query="xdist worker count")
    assert [e["id"] for e in found["entries"]] == [entry["id"]]
    hit = found["entries"][0]
    assert hit["embedding_status"] == "pending"
    assert "keyword" in hit["matched_by"]
    assert "playbook" not in hit and hit["preview"]
    assert server.admin.post("/admin/queue/resume").status_code == 200
    assert server.wait_embedded()["status"] == "drained"
    return str(entry["id"])


async def duplicates(client: Client, entry_id: str) -> None:
    checked = await call(
        client,
        "check_duplicates",
        entity_type="experience",
        category_code="ci",
        title=TITLE,
        content=PLAYBOOK,
    )
    best = checked["candidates"][0]
    assert best["id"] == entry_id
    assert set(best["matched_by"]) == {"keyword", "semantic"}
    assert best["similarity"] >= 0.99 and best["very_close"]
    assert checked["very_close"] == [entry_id] and entry_id in checked["hint"]
    other = await call(
        client,
        "check_duplicates",
        entity_type="manual",
        category_code="ci",
        title=TITLE,
        content=PLAYBOOK,
    )
    assert other["candidates"] == [] and other["hint"] is None
    again = await call(
        client,
        "create_entry",
        entity_type="experience",
        category_code="ci",
        data={"section": "useful", "title": TITLE.lower(), "playbook": PLAYBOOK + " Really."},
    )
    assert again["entry"]["id"] != entry_id
    assert [d["id"] for d in again["duplicates"]] == [entry_id]
    assert again["duplicates"][0]["very_close"]
    assert entry_id in again["hint"]


async def update(client: Client, entry_id: str) -> None:
    changed = await call(
        client,
        "update_entry",
        entity_type="experience",
        category_code="ci",
        entry_id=entry_id,
        updates={"playbook": "Use pytest -n 2 on CI; -n auto oversubscribes containers."},
    )
    assert changed["entry"]["embedding_status"] == "pending"
    assert "re-embedding" in changed["note"]
    read = await call(
        client, "read_entries", entity_type="experience", ids=[entry_id], fields=["playbook"]
    )
    [full] = read["entries"]
    assert set(full) == {"id", "kind", "title", "playbook", "embedding_status"}
    assert full["playbook"] == "Use pytest -n 2 on CI; -n auto oversubscribes containers."
    # The worker runs: the re-embedding may be done already.
    assert full["embedding_status"] in ("pending", "processing", "embedded")
    author_only = await call(
        client,
        "update_entry",
        entity_type="experience",
        category_code="ci",
        entry_id=entry_id,
        updates={"author": "ana"},
    )
    assert "note" not in author_only


async def errors_are_tool_errors(client: Client) -> None:
    experience = {"entity_type": "experience", "category_code": "ci"}
    message = await fails(
        client,
        "create_entry",
        entity_type="experience",
        category_code="nowhere",
        data={"section": "useful", "title": "t", "playbook": "p"},
    )
    assert "nowhere" in message and "does not exist" in message
    message = await fails(
        client, "create_entry", **experience, data={"section": "useful", "title": "t"}
    )
    assert "playbook" in message
    message = await fails(client, "update_entry", **experience, entry_id="no-such", updates={})
    assert "404" in message
    listed = await call(client, "read_entries", entity_type="experience", ids=["no-such"])
    assert listed["entries"] == [] and listed["missing"][0]["id"] == "no-such"
    message = await fails(client, "read_entries", entity_type="recipe", query="x")
    assert "entity_type" in message
    message = await fails(client, "read_entries", entity_type="manual", fields=["colour"])
    assert "colour" in message
    # The server is still there and answering.
    assert (await call(client, "list_categories"))["categories"][0]["counts"]["experience"] == 2


async def guides(client: Client) -> None:
    prompts = {p.name for p in (await client.list_prompts()).prompts}
    assert prompts == {"search_first", "record_experience", "check_before_writing"}
    prompt = await client.get_prompt("search_first", {"task": "fix the flaky CI"})
    assert "read_entries" in json.dumps(prompt.model_dump(mode="json"))
    resources = {str(r.uri) for r in (await client.list_resources()).resources}
    assert "heurist://guides/workflow" in resources
    workflow = await client.read_resource("heurist://guides/workflow")
    assert "check_duplicates" in json.dumps(workflow.model_dump(mode="json"))


async def curated(client: Client, server: LiveServer, entry_id: str) -> None:
    """Rate an entry, see the warning on an outdated one, and propose into a review category."""
    rated = await call(client, "rate_entry", entry_id=entry_id, outcome="outdated", note="old")
    assert rated["entry"]["feedback"] == {"helpful": 0, "harmful": 0, "outdated": 1}
    found = await call(client, "read_entries", entity_type="experience", query="xdist worker count")
    hit = next(e for e in found["entries"] if e["id"] == entry_id)
    assert hit["outdated"] is True and "outdated 1x" in hit["warning"]
    listed = await call(client, "read_entries", entity_type="experience", category_code="ci")
    assert all(e["id"] != entry_id or e["outdated"] for e in listed["entries"])
    message = await fails(client, "rate_entry", entry_id=entry_id, outcome="meh")
    assert "outcome" in message
    assert "404" in await fails(client, "rate_entry", entry_id="no-such", outcome="helpful")

    body = {"code": "reviewed", "name": "Reviewed", "review": True}
    server.client.post("/api/v1/categories", json=body).raise_for_status()
    created = await call(
        client,
        "create_entry",
        entity_type="experience",
        category_code="reviewed",
        data={"section": "useful", "title": "Proposed lesson zebra", "playbook": "Wait."},
    )
    assert created["entry"]["state"] == "proposed" and "awaits review" in created["note"]
    query = {"entity_type": "experience", "query": "proposed lesson zebra"}
    new_id = created["entry"]["id"]
    assert new_id not in [e["id"] for e in (await call(client, "read_entries", **query))["entries"]]
    server.admin.post(f"/admin/entries/{new_id}/approve").raise_for_status()
    approved = (await call(client, "read_entries", **query))["entries"]
    assert approved[0]["id"] == new_id
    merge = server.admin.post(f"/admin/entries/{new_id}/merge", json={"into": entry_id})
    merge.raise_for_status()
    late = await call(client, "rate_entry", entry_id=new_id, outcome="helpful")
    assert late["entry"]["id"] == entry_id and f"merged into {entry_id}" in late["note"]
    prompt = await client.get_prompt("search_first", {"task": "fix the flaky CI"})
    assert "rate_entry" in json.dumps(prompt.model_dump(mode="json"))


def test_tools_over_streamable_http(live: LiveServer) -> None:
    async def go() -> None:
        async with over_http(live) as client:
            await scenario(client, live)
        # The classic initialize handshake, as most assistants connect today.
        async with Client(f"{live.url}/mcp", mode="legacy") as client:
            assert {t.name for t in (await client.list_tools()).tools} == TOOLS
            assert (await call(client, "list_categories"))["categories"][0]["code"] == "ci"

    run(go)


def test_tools_over_stdio(live: LiveServer, tmp_path: Path) -> None:
    async def go() -> None:
        async with stdio(live.url, tmp_path) as client:
            await scenario(client, live)

    run(go)


def test_the_mcp_command_loads_no_model_and_no_database() -> None:
    """What ``heurist mcp`` imports to serve: none of the model or database libraries."""
    heavy = ("torch", "onnxruntime", "sentence_transformers", "faiss", "sqlalchemy", "alembic")
    code = (
        "import json, sys\n"
        "import heurist.cli.main, heurist.mcp.server\n"
        f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(done.stdout) == []


def test_stdio_initializes_fast_without_a_server(tmp_path: Path) -> None:
    """``initialize`` needs no API, model or database; a dead API is a tool error."""
    nobody = f"http://127.0.0.1:{free_port()}"

    async def go() -> None:
        started = time.perf_counter()
        # legacy: the classic initialize handshake, as assistants send it today.
        client = stdio(nobody, tmp_path)
        client.mode = "legacy"
        async with client:
            elapsed = time.perf_counter() - started
            print(f"\nheurist mcp: spawn to initialize answered in {elapsed:.3f} s")
            # How fast is bench's business; here only that it does not hang. That it loads
            # no model or database is the import check below (this bound was 5 s, which a
            # loaded machine can spend spawning Python).
            assert elapsed < 60
            assert client.server_info is not None and client.server_info.name == "heurist"
            message = await fails(client, "list_categories")
            assert "cannot reach the heurist server" in message
            assert (await client.list_tools()).tools

    run(go)


def test_mcp_uses_the_api_token_when_one_is_set(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = server_factory(api_token="data-token")
    assert server.client.post("/mcp", json={}).status_code == 401
    bearer = {"Authorization": "Bearer data-token"}
    made = server.client.post(
        "/api/v1/categories", json={"code": "ci", "name": "CI"}, headers=bearer
    )
    assert made.status_code == 201, made.text

    async def go() -> None:
        http = httpx2.AsyncClient(headers=bearer, timeout=60)
        async with http, Client(streamable_http_client(f"{server.url}/mcp", http_client=http)) as c:
            assert (await call(c, "list_categories"))["categories"][0]["code"] == "ci"
        with_token = stdio(server.url, tmp_path, HEURIST_API_TOKEN="data-token")
        async with with_token as c:
            assert (await call(c, "list_categories"))["categories"][0]["code"] == "ci"
        async with stdio(server.url, tmp_path) as c:
            assert "401" in await fails(c, "list_categories")

    run(go)
