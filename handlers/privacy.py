"""The privacy notice at `/privacy` (Thai) and `/privacy?lang=en`: plain server-rendered HTML.

The words come from the catalog (`privacy.page.*`), rendered once at start-up with the retention
settings and the controller's contact; no script, and the page loads only the web chat's style.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping

from aiohttp import web

#: loads nothing but the web chat's style sheet; never framed
PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)
SECTIONS = ("collected", "who", "kept", "rights", "contact")


def render_page(text: Callable[[str], str], locale: str, other: str) -> str:
    """The whole page in one language; `text(key)` gives a catalog text of that language."""

    def para(value: str) -> str:
        lines = [html.escape(line) for line in value.splitlines() if line.strip()]
        items = [f"<li>{line[1:].strip()}</li>" for line in lines if line.startswith("•")]
        rest = [f"<p>{line}</p>" for line in lines if not line.startswith("•")]
        return (f"<ul>{''.join(items)}</ul>" if items else "") + "".join(rest)

    body = "".join(
        f'<section id="{name}"><h2>{html.escape(text(f"privacy.page.{name}_title"))}</h2>'
        f"{para(text(f'privacy.page.{name}'))}</section>"
        for name in SECTIONS
    )
    title = html.escape(text("privacy.page.title"))
    switch = html.escape(text("privacy.page.switch"))
    return (
        f'<!doctype html><html lang="{locale}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{title}</title><link rel="stylesheet" href="/chat/static/chat.css"></head>'
        f'<body class="privacy"><main><h1>{title}</h1>'
        f'<p><a href="/privacy?lang={other}" lang="{other}">{switch}</a></p>'
        f"<p>{html.escape(text('privacy.page.intro'))}</p>{body}</main></body></html>"
    )


def privacy_routes(pages: Mapping[str, str], default_locale: str = "th") -> list[web.RouteDef]:
    """`pages` maps a locale to its rendered page."""

    async def page(request: web.Request) -> web.StreamResponse:
        wanted = request.query.get("lang", default_locale)
        return web.Response(
            text=pages.get(wanted, pages[default_locale]),
            content_type="text/html",
            headers={"Content-Security-Policy": PAGE_POLICY, "Cache-Control": "no-cache"},
        )

    return [web.get("/privacy", page)]
