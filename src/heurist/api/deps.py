"""Request dependencies: the runtime the app was built with."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from heurist.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    """Async on purpose: a sync dependency would cost a thread-pool hop per request."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
