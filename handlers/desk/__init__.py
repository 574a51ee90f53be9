"""The case desk's web pages at /desk: server-rendered HTML (Jinja2, autoescaped), a style
file and a small script served by the app, CSRF tokens with an Origin check on every POST,
and the session cookie. No business rules: `bot.runtime.casedesk.CaseDesk` does the work.
"""

from __future__ import annotations

import hashlib
import hmac
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import jinja2
from aiohttp import web

from bot.core import desk as rules
from bot.core.catalog import Catalog
from bot.core.desk import DeskFilter, DeskRow, DeskSessionRecord
from bot.core.model import Reply
from bot.runtime.casedesk import CaseDesk
from handlers.desk.export import csv_bytes, xlsx_bytes
from handlers.desk.mapgrid import TILES
from handlers.ratelimit import KeyedLimiter, Rate, client_address

COOKIE = "tipbot_desk"
#: the desk's pages load only from this server, run only its own script, post only to it
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
)
ASSETS = {"page.css": "text/css", "page.js": "text/javascript"}
THAI = timedelta(hours=7)
SESSION = web.RequestKey("desk_session", DeskSessionRecord)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _env() -> jinja2.Environment:
    loader = jinja2.PackageLoader("handlers.desk", "templates")
    # Autoescape everything: tips are written by the public, officers' names by staff.
    return jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)


class DeskWeb:
    def __init__(
        self,
        desk: CaseDesk,
        catalog: Catalog,
        *,
        public_url: str,
        signin: Rate,
        proxy_hops: int = 0,
        categories: tuple[str, ...] = (),
        provinces: Mapping[str, str] | None = None,
    ) -> None:
        self.desk = desk
        self.catalog = catalog
        self.public = urllib.parse.urlsplit(public_url)
        self.secure = self.public.scheme == "https"
        self.limiter = KeyedLimiter(signin, 10_000)
        self.proxy_hops = proxy_hops
        self.categories = categories
        self.provinces = dict(provinces or {})
        self.env = _env()
        self.event_keys = {k for k in catalog.messages["th"] if k.startswith("desk.event.")}
        self.assets = {
            name: resources.files("handlers.desk").joinpath("static", name).read_bytes() for name in ASSETS
        }
        self.etags = {n: '"' + hashlib.sha256(b).hexdigest()[:32] + '"' for n, b in self.assets.items()}

    # ---- plumbing --------------------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/desk/static/{name}", self.asset),
            web.get("/desk/in/{token}", self.link_page),
            web.post("/desk/in/{token}", self.sign_in),
            web.get("/desk", self.guarded(self.inbox)),
            web.get("/desk/overview", self.guarded(self.overview)),
            web.get("/desk/tip/{code}", self.guarded(self.tip)),
            web.get("/desk/tip/{code}/file/{n}", self.guarded(self.file)),
            web.get("/desk/export.csv", self.guarded(self.export_csv)),
            web.get("/desk/export.xlsx", self.guarded(self.export_xlsx)),
            web.post("/desk/tip/{code}/act", self.guarded(self.act, post=True)),
            web.post("/desk/tip/{code}/assign", self.guarded(self.assign, post=True)),
            web.post("/desk/officer", self.guarded(self.officer, post=True)),
            web.post("/desk/lang", self.guarded(self.lang, post=True)),
            web.post("/desk/out", self.guarded(self.sign_out, post=True)),
        ]

    def t(self, locale: str) -> Callable[..., str]:
        def text(key: str, **params: Any) -> str:
            return self.catalog.text(key, locale, params)

        return text

    def _page(
        self, request: web.Request, name: str, locale: str, status: int = 200, **ctx: Any
    ) -> web.Response:
        template = self.env.get_template(name)
        body = template.render(
            t=self.t(locale),
            locale=locale,
            session=request.get(SESSION),
            thai_time=thai_time,
            status_text=lambda s, d=None: self._status(s, d, locale),
            **ctx,
        )
        return web.Response(
            text=body,
            status=status,
            content_type="text/html",
            charset="utf-8",
            headers=self._headers(),
        )

    @staticmethod
    def _headers() -> dict[str, str]:
        return {
            "Content-Security-Policy": PAGE_POLICY,
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "DENY",
        }

    def _status(self, status: str, detail: str | None, locale: str) -> str:
        label = self.catalog.text(f"desk.status.{status}", locale)
        if detail:
            label += " (" + self.catalog.text(f"status_detail.{detail}", locale) + ")"
        return label

    def _origin_ok(self, request: web.Request) -> bool:
        """A state-changing request must come from our own pages: the Origin names this server,
        or (a page under `Referrer-Policy: no-referrer` sends `Origin: null`) the browser's own
        Fetch Metadata says the request is same-origin."""
        origin = request.headers.get("Origin")
        ours = {f"{request.scheme}://{request.host}", f"{self.public.scheme}://{self.public.netloc}"}
        if origin and origin != "null":
            return origin in ours
        return request.headers.get("Sec-Fetch-Site") == "same-origin"

    def guarded(self, handler: Handler, *, post: bool = False) -> Handler:
        async def run(request: web.Request) -> web.StreamResponse:
            session = await self.desk.session(request.cookies.get(COOKIE))
            if session is None:
                if post:
                    return self._refused(request, "th", 401)
                return self._page(request, "signed_out.html", _lang(request), status=401)
            request[SESSION] = session
            if post:
                if not self._origin_ok(request):
                    return self._refused(request, session.locale, 403)
                form = await request.post()
                sent = str(form.get("csrf", ""))
                if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
                    return self._refused(request, session.locale, 403)
            return await handler(request)

        return run

    def _refused(self, request: web.Request, locale: str, status: int) -> web.Response:
        return self._page(request, "refused.html", locale, status=status)

    def _not_found(self, request: web.Request, session: DeskSessionRecord) -> web.Response:
        return self._page(request, "not_found.html", session.locale, status=404)

    # ---- assets ----------------------------------------------------------------------------------
    async def asset(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in ASSETS:
            raise web.HTTPNotFound()
        etag = self.etags[name]
        headers = {"ETag": etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        return web.Response(body=self.assets[name], content_type=ASSETS[name], headers=headers)

    # ---- signing in and out ----------------------------------------------------------------------
    async def link_page(self, request: web.Request) -> web.StreamResponse:
        # A GET never uses the link: chat apps open links to preview them. The page posts it.
        token = request.match_info["token"]
        if len(token) > 100:
            raise web.HTTPNotFound()
        return self._page(request, "sign_in.html", _lang(request), token=token)

    async def sign_in(self, request: web.Request) -> web.StreamResponse:
        address = client_address(request, self.proxy_hops)
        if not self.limiter.has_room(address):
            retry = self.limiter.rate.retry_after
            response = self._page(request, "refused.html", _lang(request), status=429)
            response.headers["Retry-After"] = str(retry)
            return response
        await self.limiter.take(address)
        if not self._origin_ok(request):
            return self._refused(request, _lang(request), 403)
        form = await request.post()
        locale = str(form.get("lang", "th"))
        signed = await self.desk.sign_in(request.match_info["token"][:100], locale)
        if signed is None:
            return self._page(request, "link_used.html", _lang(request), status=410)
        target = f"/desk/tip/{urllib.parse.quote(signed.case_code)}" if signed.case_code else "/desk"
        response = _see_other(target)
        response.set_cookie(
            COOKIE,
            signed.token,
            path="/desk",
            httponly=True,
            samesite="Strict",
            secure=self.secure,
            max_age=int(rules.SESSION_MAX.total_seconds()),
        )
        return response

    async def sign_out(self, request: web.Request) -> web.StreamResponse:
        await self.desk.sign_out(request[SESSION])
        response = _see_other("/desk")
        response.del_cookie(COOKIE, path="/desk")
        return response

    async def lang(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        await self.desk.set_locale(request[SESSION], str(form.get("lang", "th")))
        back = str(form.get("back", "/desk"))
        return _see_other(back if back.startswith("/desk") and "//" not in back else "/desk")

    async def officer(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        await self.desk.name_officer(request[SESSION], str(form.get("name", "")))
        back = str(form.get("back", "/desk"))
        return _see_other(back if back.startswith("/desk") and "//" not in back else "/desk")

    # ---- pages -----------------------------------------------------------------------------------
    def _filter(self, request: web.Request) -> DeskFilter:
        return rules.parse_filter(request.query, set(self.categories))

    async def inbox(self, request: web.Request) -> web.StreamResponse:
        session: DeskSessionRecord = request[SESSION]
        f = self._filter(request)
        page, officers = await self.desk.inbox(session, f)
        pages = max(1, -(-page.total // rules.PAGE_SIZE))
        query = f.to_query()
        return self._page(
            request,
            "inbox.html",
            session.locale,
            f=f,
            page=page,
            pages=pages,
            officers=officers,
            statuses=rules.STATUSES,
            categories=self.categories,
            sorts=rules.SORTS,
            provinces=sorted(p for p, r in self.provinces.items() if session.region in ("central", r)),
            query_string=urllib.parse.urlencode(query),
            prev_link=_link(f, -1) if f.page > 1 else None,
            next_link=_link(f, 1) if f.page < pages else None,
        )

    async def overview(self, request: web.Request) -> web.StreamResponse:
        session: DeskSessionRecord = request[SESSION]
        ov = await self.desk.overview(session)
        top = (
            max([1, *ov.by_month_values()])
            if hasattr(ov, "by_month_values")
            else max([1, *(n for _, n in ov.by_month)])
        )
        return self._page(
            request,
            "overview.html",
            session.locale,
            ov=ov,
            top_month=top,
            top_category=max([1, *ov.by_category.values()]),
            tiles=TILES,
            counts=ov.by_province,
            top=max([1, *ov.by_province.values()]),
            statuses=rules.STATUSES,
        )

    async def tip(self, request: web.Request) -> web.StreamResponse:
        session: DeskSessionRecord = request[SESSION]
        view = await self.desk.tip(session, request.match_info["code"][:40])
        if view is None:
            return self._not_found(request, session)
        flash = request.query.get("done", "")
        return self._page(
            request,
            "tip.html",
            session.locale,
            v=view,
            tip=view.tip,
            flash=flash[:500],
            regions=("central", "1", "2", "3", "4", "5", "6", "7", "8", "9"),
            forward_to=("nacc", "police", "other_agency"),
            close_as=("substantiated", "unsubstantiated", "out_of_scope", "duplicate"),
            catalog_value=lambda v: self.catalog._value(v, session.locale),
            event_keys=self.event_keys,
        )

    async def file(self, request: web.Request) -> web.StreamResponse:
        session: DeskSessionRecord = request[SESSION]
        try:
            n = int(request.match_info["n"])
        except ValueError:
            return self._not_found(request, session)
        found = await self.desk.evidence(session, request.match_info["code"][:40], n)
        if found is None:
            return self._not_found(request, session)
        headers = {
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        }
        if found.image:
            headers["Content-Disposition"] = f'inline; filename="evidence-{n}.{found.mime.split("/")[1]}"'
            return web.Response(body=found.data, content_type=found.mime, headers=headers)
        # Anything but a copied image is a download of the sniffed type, never shown in the page
        # (an HTML or SVG file could run script in the desk's origin).
        headers["Content-Disposition"] = f'attachment; filename="evidence-{n}"'
        mime = found.mime if found.mime not in ("text/html", "image/svg+xml") else "application/octet-stream"
        return web.Response(body=found.data, content_type=mime, headers=headers)

    async def _export_rows(self, request: web.Request, kind: str) -> tuple[list[DeskRow], str]:
        session: DeskSessionRecord = request[SESSION]
        rows = await self.desk.export(session, self._filter(request), kind)
        return rows, session.locale

    def _export_table(self, rows: list[DeskRow], locale: str) -> tuple[list[str], list[list[Any]]]:
        t = self.t(locale)
        head = [t(f"desk.col.{c}") for c in EXPORT_COLUMNS]
        table = []
        for r in rows:
            table.append(
                [
                    r.case_code,
                    self.catalog.text(f"category.{r.category}", locale),
                    self._status(r.status, r.status_detail, locale),
                    self.catalog.text("region.central", locale)
                    if r.region == "central"
                    else self.catalog.text("region.numbered", locale, {"n": r.region}),
                    r.province or "",
                    r.district or "",
                    thai_time(r.created_at),
                    r.incident_date.isoformat() if r.incident_date else "",
                    r.amount_thb if r.amount_thb is not None else "",
                    r.attachments,
                    r.officer or "",
                    r.agency or "",
                    r.official or "",
                    r.narrative,
                ]
            )
        return head, table

    async def export_csv(self, request: web.Request) -> web.StreamResponse:
        rows, locale = await self._export_rows(request, "csv")
        head, table = self._export_table(rows, locale)
        return web.Response(
            body=csv_bytes(head, table),
            headers={
                "Content-Type": "text/csv; charset=utf-8",
                "Content-Disposition": f'attachment; filename="tips-{_stamp()}.csv"',
                "Cache-Control": "no-store",
            },
        )

    async def export_xlsx(self, request: web.Request) -> web.StreamResponse:
        rows, locale = await self._export_rows(request, "xlsx")
        head, table = self._export_table(rows, locale)
        return web.Response(
            body=xlsx_bytes(head, table),
            headers={
                "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "Content-Disposition": f'attachment; filename="tips-{_stamp()}.xlsx"',
                "Cache-Control": "no-store",
            },
        )

    # ---- actions -----------------------------------------------------------------------------
    def _done(self, code: str, replies: list[Reply], locale: str) -> web.StreamResponse:
        text = " ".join(self.catalog.render(r, locale).text for r in replies)
        target = f"/desk/tip/{urllib.parse.quote(code)}?" + urllib.parse.urlencode({"done": text[:400]})
        return _see_other(target)

    async def act(self, request: web.Request) -> web.StreamResponse:
        session: DeskSessionRecord = request[SESSION]
        code = request.match_info["code"][:40]
        form = await request.post()
        action = str(form.get("action", ""))
        note = str(form.get("note", ""))[:2000]
        other = str(form.get("other", "")).strip()[:40]
        if action == "duplicate":
            # `/status CODE closed.duplicate OTHER note`, as typed in a chat
            action, arg, note = "set", "closed.duplicate", f"{other} {note}".strip()
        elif action in ("link", "unlink"):
            arg = other
        else:
            arg = str(form.get("status", "") if action == "set" else form.get("region", ""))
        replies = await self.desk.act(session, code, action, arg, note)
        if replies is None:
            return self._not_found(request, session)
        return self._done(code, replies, session.locale)

    async def assign(self, request: web.Request) -> web.StreamResponse:
        session: DeskSessionRecord = request[SESSION]
        code = request.match_info["code"][:40]
        form = await request.post()
        raw = str(form.get("officer", ""))
        officer = int(raw) if raw.isdigit() else None
        replies = await self.desk.assign(session, code, officer)
        if replies is None:
            return self._not_found(request, session)
        return self._done(code, replies, session.locale)


EXPORT_COLUMNS = (
    "case_code",
    "category",
    "status",
    "region",
    "province",
    "district",
    "received",
    "incident_date",
    "amount",
    "files",
    "officer",
    "agency",
    "official",
    "narrative",
)


def _link(f: DeskFilter, step: int) -> str:
    query = rules.next_page(f, step).to_query()
    query["page"] = str(rules.next_page(f, step).page)
    return "/desk?" + urllib.parse.urlencode(query)


def _see_other(target: str) -> web.Response:
    return web.Response(status=303, headers={"Location": target})


def _lang(request: web.Request) -> str:
    return "en" if request.query.get("lang") == "en" else "th"


def _stamp() -> str:
    return (datetime.now(UTC) + THAI).strftime("%Y%m%d-%H%M")


def thai_time(value: datetime | None) -> str:
    """A time as Thai clocks show it (UTC+7), e.g. `2026-12-02 17:05`."""
    if value is None:
        return ""
    return (value.astimezone(UTC) + THAI).strftime("%Y-%m-%d %H:%M")


__all__ = ["COOKIE", "DeskWeb"]
