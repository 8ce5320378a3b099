"""/ui: the dashboard pages (the queue at /ui, curation at /ui/curation) and their files.

The page is public (it is only a login form and an empty frame); every number it shows
comes from ``/admin/*`` with the token the operator types in, so the HTML itself never
carries queue data. A strict Content-Security-Policy allows only heurist's own scripts.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.templating import Jinja2Templates

from heurist.errors import NotFound
from heurist.settings import Settings

REFRESH_MS = 1500
CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def package_dir() -> Path:
    return Path(str(files("heurist.api.ui")))


def static_files(static_dir: Path) -> dict[str, Path]:
    """The files the page may load, by name: a fixed set, so no path ever reaches the disk."""
    return {p.name: p for p in static_dir.iterdir() if p.suffix in CONTENT_TYPES}


def create_router(settings: Settings) -> APIRouter:
    base = package_dir()
    templates = Jinja2Templates(directory=str(base / "templates"))
    assets = static_files(base / "static")
    router = APIRouter(prefix="/ui", tags=["ui"], include_in_schema=False)

    def page(request: Request, template: str) -> Response:
        context = {
            "refresh_ms": REFRESH_MS,
            "api_token_required": bool(settings.api_token),
            "version": request.app.version,
        }
        response = templates.TemplateResponse(request, template, context)
        response.headers.update(SECURITY_HEADERS)
        return response

    @router.get("", response_class=HTMLResponse)
    def dashboard(request: Request) -> Response:
        return page(request, "dashboard.html")

    @router.get("/curation", response_class=HTMLResponse)
    def curation(request: Request) -> Response:
        """The curator's inbox, actions and history (same token as the queue page)."""
        return page(request, "curation.html")

    @router.get("/static/{name}")
    def static(name: str) -> FileResponse:
        path = assets.get(name)
        if path is None:
            raise NotFound(f"no dashboard file named {name!r}")
        return FileResponse(
            path,
            media_type=CONTENT_TYPES[path.suffix],
            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"},
        )

    return router
