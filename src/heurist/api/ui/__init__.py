"""The operators' web dashboard at ``/ui``: a page, its script and its styles, served by
heurist itself from package data. The page holds no queue data: it asks for the admin
token and reads everything through the authenticated admin API."""

from __future__ import annotations

from heurist.api.ui.routes import create_router

__all__ = ["create_router"]
