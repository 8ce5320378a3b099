"""Helpers for tests that drive a Runtime directly: start one, add entries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from heurist.runtime import Runtime
from heurist.settings import Settings
from tests.support.poison import PoisonEmbedder


@contextmanager
def running(settings: Settings, **kw: Any) -> Iterator[Runtime]:
    rt = Runtime.build(settings, embedder=kw.pop("embedder", None) or PoisonEmbedder(), **kw)
    rt.start()
    try:
        yield rt
    finally:
        rt.stop()


def add(rt: Runtime, kind: str = "experience", title: str = "Pin torch") -> str:
    if kind == "experience":
        data = {"category": "py", "section": "useful", "title": title, "playbook": "Pin it."}
    else:
        data = {"category": "py", "title": title, "content": "Long text about " + title}
    return str(rt.entries.create(kind, data)["id"])
