"""The ``Idempotency-Key`` header of a create, as a request dependency."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Request

from heurist.store.idempotency import HEADER, KEY_MAX, IdempotencyKey, caller_of


@dataclass(frozen=True)
class KeyHeader:
    """The header's value (None when absent), the route and the caller it is scoped to."""

    value: str | None
    route: str
    caller: str

    def for_body(self, body: Mapping[str, Any]) -> IdempotencyKey | None:
        if self.value is None:
            return None
        return IdempotencyKey.of(self.value, route=self.route, caller=self.caller, body=body)


def key_header(
    request: Request,
    value: Annotated[
        str | None,
        Header(
            alias=HEADER,
            min_length=1,
            max_length=KEY_MAX,
            pattern=r"^[\x21-\x7e]+$",
            description=(
                "Any unique string (a UUID): a retry with the same key and body within 24 h "
                "answers the first create's result and creates nothing; the same key with "
                "another body answers 409."
            ),
        ),
    ] = None,
) -> KeyHeader:
    return KeyHeader(
        value,
        f"{request.method} {request.url.path}",
        caller_of(request.headers.get("authorization")),
    )


IdempotencyDep = Annotated[KeyHeader, Depends(key_header)]
