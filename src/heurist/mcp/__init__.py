"""The MCP server: heurist's memory as tools inside Claude Code, Codex and Cursor.

Two transports share one set of tools (``tools.MemoryTools``), which speak only to
the HTTP API through one ``heurist.client.AsyncApiClient``:

- ``heurist mcp`` (stdio): the backend is an HTTP client of ``HEURIST_API_URL``, so
  the process loads no model and no database and many assistants share one server;
- ``/mcp`` on the server itself (streamable HTTP): the backend calls the same app
  in-process through httpx's ASGI transport (``http.mount_mcp``).
"""
