"""The MCP server object: tools, prompts and resources, and the stdio entry point.

Built on the official SDK's ``MCPServer`` (mcp 2.x). ``build_server`` takes the API
backend, so the same server runs over stdio (``run_stdio``) and over streamable
HTTP inside the heurist app (``heurist.mcp.http``).
"""

from __future__ import annotations

from importlib.metadata import version

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.resources import TextResource

from heurist.client import AsyncApiClient
from heurist.logs import configure as configure_logging
from heurist.mcp import guides
from heurist.mcp.tools import MemoryTools
from heurist.settings import Settings

NAME = "heurist"
RESOURCES = (  # uri, name, description, text
    ("heurist://guides/workflow", "workflow", "Search first, record after", guides.WORKFLOW),
    ("heurist://guides/experience", "experience", "Atomic experiences", guides.EXPERIENCE_GUIDE),
    ("heurist://guides/manual", "manual", "How to write a manual", guides.MANUAL_GUIDE),
)


def build_server(api: AsyncApiClient) -> MCPServer:
    server: MCPServer = MCPServer(
        NAME,
        title="heurist shared memory",
        instructions=guides.INSTRUCTIONS,
        version=version("heurist"),
        log_level="WARNING",
    )
    tools = MemoryTools(api)
    for tool in (
        tools.list_categories,
        tools.read_entries,
        tools.create_entry,
        tools.update_entry,
        tools.check_duplicates,
        tools.rate_entry,
    ):
        server.add_tool(tool)
    _add_guides(server)
    return server


def _add_guides(server: MCPServer) -> None:
    for uri, name, description, text in RESOURCES:
        server.add_resource(
            TextResource(
                uri=uri, name=name, description=description, text=text, mime_type="text/markdown"
            )
        )
    server.prompt(name="search_first", description="Search the memory before a task")(
        guides.search_first
    )
    server.prompt(name="record_experience", description="Record what a task taught")(
        guides.record_experience
    )
    server.prompt(name="check_before_writing", description="Look for duplicates first")(
        guides.check_before_writing
    )


def run_stdio(settings: Settings) -> None:
    """Serve MCP on stdin/stdout as a client of the API at ``settings.api_url``."""
    configure_logging(settings)  # to stderr: stdout carries the protocol
    api = AsyncApiClient.remote(settings.api_url, settings.api_token)
    server = build_server(api)

    async def serve() -> None:
        try:
            await server.run_stdio_async()
        finally:
            await api.aclose()

    anyio.run(serve)
