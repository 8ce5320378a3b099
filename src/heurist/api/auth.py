"""Bearer-token checks, constant-time. Where the tokens come from: ``heurist.tokens``."""

from __future__ import annotations

import hmac

from heurist.errors import AuthError


def check_bearer(header: str | None, expected: str, realm: str) -> None:
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise AuthError(f"{realm} requires 'Authorization: Bearer <token>'")
    if not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise AuthError(f"wrong token for {realm}")
