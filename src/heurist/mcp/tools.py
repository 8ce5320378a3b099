"""The five memory tools. Each is a thin translation onto the public HTTP API.

Any error the API answers (a 404, a 422 naming the field and the limit, an
unreachable server) comes back to the assistant as a tool error carrying the API's
message (``ToolError``), never as a crash of the MCP server.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field, WithJsonSchema

from heurist import limits
from heurist.client import ApiError, AsyncApiClient
from heurist.domain.vocabulary import Kind
from heurist.errors import HeuristError, InvalidInput
from heurist.mcp import duplicates, shape

# The enum is inlined in the tool's schema: some MCP clients do not resolve a $ref.
EntityType = Annotated[
    Kind,
    WithJsonSchema({"type": "string", "enum": [str(k) for k in Kind]}),
    Field(description="'experience' (a short lesson with a playbook) or 'manual' (long docs)"),
]
CategoryCode = Annotated[str, Field(description="the category's code, e.g. 'python-testing'")]
# A create the API could not answer (no answer, or 503) is sent again, with the same key.
CREATE_ATTEMPTS = 3
CREATE_RETRY_SECONDS = 0.5
Limit = Annotated[int, Field(ge=1, le=limits.SEARCH_LIMIT_MAX, description="results at most")]


@contextmanager
def api_errors() -> Iterator[None]:
    """Turn heurist's typed errors into tool errors with the same message."""
    try:
        yield
    except HeuristError as exc:
        raise ToolError(tool_message(exc)) from exc


def tool_message(exc: HeuristError) -> str:
    """What the assistant reads: the API's own message, said to come from the API."""
    if isinstance(exc, ApiError) and exc.status is not None:
        return f"the heurist API answered {exc.message}"
    return exc.message


class MemoryTools:
    def __init__(self, api: AsyncApiClient) -> None:
        self.api = api

    async def list_categories(self) -> dict[str, Any]:
        """List the categories of the shared memory: code, name, description, and how many
        experiences and manuals each holds. Call it first to pick a category_code."""
        with api_errors():
            answer = await self.api.get("/api/v1/categories")
        keep = ("code", "name", "description", "counts")
        return {"categories": [{k: c[k] for k in keep} for c in answer["categories"]]}

    async def read_entries(
        self,
        entity_type: EntityType,
        category_code: Annotated[str | None, Field(description="only this category")] = None,
        query: Annotated[
            str | None, Field(description="what you need, in words: hybrid keyword+meaning search")
        ] = None,
        ids: Annotated[list[str] | None, Field(description="fetch these entries by id")] = None,
        limit: Limit = limits.SEARCH_LIMIT_DEFAULT,
        fields: Annotated[
            list[str] | None,
            Field(description="full fields, e.g. ['playbook'] or ['all']; default: previews"),
        ] = None,
    ) -> dict[str, Any]:
        """Search the memory (with `query`), fetch entries by `ids`, or list the entries of a
        category. Returns short previews unless `fields` asks for full text. Each entry says
        its embedding_status: 'pending' entries are already found by keyword, not yet by
        meaning. With `ids`, category_code and query are not used. Search before starting a
        task: someone may have solved it already."""
        with api_errors():
            wanted = shape.check_fields(entity_type, fields)
            if ids:
                return await self._by_ids(entity_type, ids[:limit], wanted)
            if query and query.strip():  # a blank query asks for nothing: list instead
                return await self._search(entity_type, category_code, query, limit, wanted)
            return await self._list(entity_type, category_code, limit, wanted)

    async def create_entry(
        self,
        entity_type: EntityType,
        category_code: CategoryCode,
        data: Annotated[
            dict[str, Any],
            Field(
                description=(
                    "experience: {section: useful|harmful|contextual, title, playbook, "
                    "context (required when contextual), author?, source?}; "
                    "manual: {title, content, summary?, author?, source?}"
                )
            ),
        ],
    ) -> dict[str, Any]:
        """Record a new experience or manual. Returns the entry (embedding_status 'pending':
        searchable by keyword at once, by meaning within seconds), the likely duplicates
        found by keyword and by meaning, and a hint to review first when one is very close.
        Keep an experience atomic: one lesson, a title that states it, a playbook of steps."""
        with api_errors():
            body = _with_category(data, category_code)
            entry = await self._create(shape.entries_path(entity_type), body)
            found = await duplicates.find_duplicates(
                self.api,
                kind=entity_type,
                category=category_code,
                title=entry["title"],
                body=shape.body_text(entry),
                exclude=entry["id"],
            )
        return {
            "entry": shape.public(entry),
            "duplicates": found["candidates"],
            "hint": duplicates.review_hint(found),
        }

    async def _create(self, path: str, body: dict[str, Any]) -> Any:
        """POST under a key of its own, fresh per call: a retry after a lost answer or a
        503 reuses it, so the API creates the entry once and answers the same entry."""
        key = uuid.uuid4().hex
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                return await self.api.post(path, body, idempotency_key=key)
            except ApiError as exc:
                if attempt == CREATE_ATTEMPTS or exc.status not in (None, 503):
                    raise
            await asyncio.sleep(CREATE_RETRY_SECONDS * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    async def update_entry(
        self,
        entity_type: EntityType,
        category_code: Annotated[str, Field(description="the category the entry is filed under")],
        entry_id: Annotated[str, Field(description="the entry's id")],
        updates: Annotated[
            dict[str, Any],
            Field(description="only the fields to change; a new 'category' moves it"),
        ],
    ) -> dict[str, Any]:
        """Change an entry: improve a playbook, fix a title, move it to another category.
        Only changes to embedded text (title, playbook, context; a manual's title, summary,
        content) send it back to the embedding queue."""
        with api_errors():
            path = shape.entries_path(entity_type, entry_id)
            current = await self.api.get(path)
            if current["category"] != category_code:
                raise InvalidInput(
                    f"{entity_type} {entry_id} is filed under '{current['category']}', "
                    f"not '{category_code}'",
                    field="category_code",
                )
            entry = await self.api.patch(path, updates)
        out: dict[str, Any] = {"entry": shape.public(entry)}
        if entry["revision"] != current["revision"]:
            out["note"] = "embedded text changed: the entry is queued for re-embedding"
        return out

    async def check_duplicates(
        self,
        entity_type: EntityType,
        category_code: CategoryCode,
        title: Annotated[str, Field(description="the title you are about to write")],
        content: Annotated[str, Field(description="the playbook or content to be written")],
        limit: Annotated[int, Field(ge=1, le=50)] = duplicates.DEFAULT_LIMIT,
        threshold: Annotated[
            float, Field(ge=0.0, le=1.0, description="similarity from which one is 'very close'")
        ] = duplicates.DEFAULT_THRESHOLD,
    ) -> dict[str, Any]:
        """Before recording something, find entries in the category that already say it, by
        keyword and by meaning (similarity is the cosine of the best-matching chunk). Entries
        at or above `threshold`, or with the same title, are marked very_close."""
        with api_errors():
            found = await duplicates.find_duplicates(
                self.api,
                kind=entity_type,
                category=category_code,
                title=title,
                body=content,
                limit=limit,
                threshold=threshold,
            )
        found["hint"] = duplicates.review_hint(found)
        return found

    async def _by_ids(self, kind: str, ids: list[str], fields: list[str] | None) -> dict[str, Any]:
        entries, missing = [], []
        for entry_id in dict.fromkeys(ids):
            try:
                entry = await self.api.get(shape.entries_path(kind, entry_id))
            except HeuristError as exc:
                missing.append({"id": entry_id, "error": tool_message(exc)})
                continue
            entries.append(shape.select(entry, fields) if fields else shape.preview(entry))
        return {"entries": entries, "missing": missing, "count": len(entries)}

    async def _search(
        self, kind: str, category: str | None, query: str, limit: int, fields: list[str] | None
    ) -> dict[str, Any]:
        params = {"q": query, "kind": kind, "category": category, "limit": limit}
        answer = await self.api.get("/api/v1/search", params)
        hits = answer["results"]
        if fields:
            full = await self._by_ids(kind, [h["id"] for h in hits], fields)
            entries = full["entries"]
        else:
            entries = [shape.hit_preview(h) for h in hits]
        out: dict[str, Any] = {"entries": entries, "count": len(entries), "mode": answer["mode"]}
        if answer.get("notes"):
            out["notes"] = answer["notes"]
        return out

    async def _list(
        self, kind: str, category: str | None, limit: int, fields: list[str] | None
    ) -> dict[str, Any]:
        answer = await self.api.get(
            shape.entries_path(kind), {"category": category, "limit": limit}
        )
        items = answer["items"]
        entries = [shape.select(i, fields) if fields else shape.preview(i) for i in items]
        return {"entries": entries, "count": len(entries), "next_cursor": answer["next_cursor"]}


def _with_category(data: dict[str, Any], category_code: str) -> dict[str, Any]:
    given = data.get("category")
    if given is not None and given != category_code:
        raise InvalidInput(
            f"data.category '{given}' differs from category_code '{category_code}'",
            field="data.category",
        )
    return {**data, "category": category_code}
