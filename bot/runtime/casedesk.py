"""The case desk's work: sign-in from a one-time link, sessions, and what each page reads or
does, through the same staff desk (`bot.runtime.staff`) as the chat commands.

Knows no HTTP and no SQL: the web side (`handlers/desk`) calls these methods; storage is reached
through `bot.core.ports.Store`. Every tip view, export and action is recorded for the audit.
"""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.core import audit
from bot.core import desk as rules
from bot.core.catalog import ref
from bot.core.desk import DeskFilter, DeskPage, DeskRow, DeskSessionRecord, Officer, Overview, TimelineEntry
from bot.core.effects import StaffAction
from bot.core.model import Reply, StaffChatRecord, TipDetail
from bot.core.ports import MediaStore, Store, UnitOfWork
from bot.core.related import Match, reasons
from bot.runtime.staff import StaffDesk

log = logging.getLogger("tipbot.desk")

#: the most rows one export carries
EXPORT_MAX = 50_000
#: an officer of the region was put in charge of a tip (or nobody)
ASSIGN = "assign"
#: the staff desk's answer when an action was done → (audit action, detail)
DONE = {
    "staff.status_set": (audit.STATUS_CHANGE, ""),
    "staff.question_sent": (audit.QUESTION, "question sent"),
    "staff.reassigned": (audit.REASSIGN, ""),
    "related.duplicate_set": (audit.STATUS_CHANGE, ""),
    "related.linked": ("related_link", "linked"),
    "related.unlinked": ("related_link", "not related"),
}


@dataclass(frozen=True, slots=True)
class SignedIn:
    token: str
    csrf: str
    case_code: str | None
    locale: str


@dataclass(frozen=True, slots=True)
class TipView:
    tip: TipDetail
    extra: dict[str, Any]
    timeline: list[TimelineEntry]
    files: list[tuple[int, str, str, int]]
    officers: list[Officer]
    contact: Any
    names: dict[int, str]
    #: related tips this session may see, each with the reasons in words; others counted per region
    related: list[tuple[Match, Any]]
    related_hidden: list[tuple[str, int]]


@dataclass(frozen=True, slots=True)
class Evidence:
    data: bytes
    mime: str
    kind: str
    #: an image copy rebuilt from its pixels (shown inline); otherwise a download
    image: bool


def _token(entropy: Callable[[int], bytes], n: int = 32) -> str:
    return base64.urlsafe_b64encode(entropy(n)).decode("ascii").rstrip("=")


class CaseDesk:
    def __init__(
        self,
        *,
        store: Store,
        staff: StaffDesk,
        clock: Callable[[], datetime],
        idle_timeout: timedelta,
        overdue_after: timedelta,
        media: MediaStore | None = None,
        scrubber: Any = None,
        on_commit: Callable[[], None] = lambda: None,
        entropy: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        self.store = store
        self.staff = staff
        self.clock = clock
        self.idle_timeout = idle_timeout
        self.overdue_after = overdue_after
        self.media = media
        self.scrubber = scrubber
        self.on_commit = on_commit
        self.entropy = entropy

    # ---- audit ---------------------------------------------------------------------------------
    @staticmethod
    def actor(session: DeskSessionRecord) -> str:
        return f"desk:{session.staff_chat_id}:{session.officer_id or 0}"

    async def _audit(
        self, uow: UnitOfWork, session: DeskSessionRecord, what: str, case_code: str | None, detail: str
    ) -> None:
        """Who (the session's staff chat and officer), what, when: appended to the audit log.
        The detail names the officer and the desk, never a tip's content or the reporter."""
        who = f"{audit.staff_actor(session.staff_chat_id)}:officer:{session.officer_id or 0}"
        named = f"desk; officer {session.officer_name}" if session.officer_name else "desk"
        await uow.audit.append(audit.DESK, who, what, case_code, f"{named}; {detail}"[:500], self.clock())

    # ---- signing in ------------------------------------------------------------------------------
    async def sign_in(self, link_token: str, locale: str) -> SignedIn | None:
        """Trade a one-time link for a session; None when the link is unknown, used or expired,
        or its chat is no longer a staff chat that may use the desk."""
        now = self.clock()
        async with self.store.transaction() as uow:
            used = await uow.desk.redeem_link(link_token, now)
            if used is None:
                return None
            chat_id, case_code = used
            chat = await uow.staff.by_id(chat_id)
            if chat is None or not chat.active or chat.role not in rules.DESK_ROLES:
                return None
            token, csrf = _token(self.entropy), _token(self.entropy)
            locale = locale if locale in ("th", "en") else chat.locale
            await uow.desk.add_session(token, chat.id, csrf, locale, now, rules.SESSION_MAX)
        log.info("desk session opened for staff chat %s", chat_id)
        return SignedIn(token, csrf, case_code, locale)

    async def session(self, token: str | None) -> DeskSessionRecord | None:
        if not token or len(token) > 100:
            return None
        async with self.store.transaction() as uow:
            found = await uow.desk.session_for(token, self.clock(), self.idle_timeout)
        if found is None or found.role not in rules.DESK_ROLES:
            return None
        return found

    async def sign_out(self, session: DeskSessionRecord) -> None:
        async with self.store.transaction() as uow:
            await uow.desk.end_session(session.id)

    async def set_locale(self, session: DeskSessionRecord, locale: str) -> None:
        if locale in ("th", "en"):
            async with self.store.transaction() as uow:
                await uow.desk.set_session_locale(session.id, locale)

    async def name_officer(self, session: DeskSessionRecord, name: str) -> Officer | None:
        clean = rules.clean_officer_name(name)
        if clean is None:
            return None
        async with self.store.transaction() as uow:
            return await uow.desk.name_officer(session.id, session.region, clean, self.clock())

    async def sweep(self) -> tuple[int, int]:
        """Expired or used links and ended sessions go (the scheduler calls this every tick)."""
        async with self.store.transaction() as uow:
            if not await uow.try_lock("desk_sweep"):
                return 0, 0
            return await uow.desk.sweep(self.clock(), self.idle_timeout)

    # ---- reading ---------------------------------------------------------------------------------
    async def _related_ids(
        self, uow: UnitOfWork, session: DeskSessionRecord, code: str | None
    ) -> list[int] | None:
        """The tips related to `code` that this session may see (None: no such filter)."""
        if code is None:
            return None
        tip = await uow.tips.get(code)
        if tip is None or not rules.may_see(session.region, tip.region):
            return []
        _, view = await self.staff.related.related_for(uow, tip, session.region, self.clock())
        return [m.tip_id for m in view.visible]

    async def inbox(self, session: DeskSessionRecord, f: DeskFilter) -> tuple[DeskPage, list[Officer]]:
        now = self.clock()
        async with self.store.transaction() as uow:
            page = await uow.desk.find(
                f,
                rules.scope(session.region),
                now - self.overdue_after,
                limit=rules.PAGE_SIZE,
                offset=(f.page - 1) * rules.PAGE_SIZE,
                only=await self._related_ids(uow, session, f.related),
            )
            officers = await uow.desk.officers(rules.scope(session.region))
        return page, officers

    async def overview(self, session: DeskSessionRecord) -> Overview:
        now = self.clock()
        async with self.store.transaction() as uow:
            return await uow.desk.overview(
                rules.scope(session.region), now - self.overdue_after, now - timedelta(days=366)
            )

    async def _tip(self, uow: UnitOfWork, session: DeskSessionRecord, code: str) -> TipDetail | None:
        tip = await uow.tips.get(code)
        if tip is None or not rules.may_see(session.region, tip.region):
            # The same answer as for a code that does not exist; the attempt is recorded.
            await uow.tips.add_event(
                tip.id if tip else None,
                actor=self.actor(session),
                action="access_denied",
                at=self.clock(),
                note=code[:24] or None,
            )
            return None
        return tip

    async def tip(self, session: DeskSessionRecord, code: str) -> TipView | None:
        async with self.store.transaction() as uow:
            tip = await self._tip(uow, session, code)
            if tip is None:
                return None
            await self._audit(uow, session, audit.TIP_READ, tip.case_code, "tip page")
            extra = await uow.desk.tip_extra(tip.id)
            timeline = await uow.desk.timeline(tip.id)
            files = await uow.desk.attachments(tip.id)
            officers = await uow.desk.officers(tip.region)
            every = await uow.desk.officers(None)
            sig, view = await self.staff.related.related_for(uow, tip, session.region, self.clock())
        contact: Any = ref("staff.contact_hidden")
        if tip.contact_ok and tip.contact_how and self.staff.detail == "full":
            contact = tip.contact_how
        elif tip.contact_ok:
            contact = ref("staff.contact_via_bot")
        related = [(m, reasons(sig, m)) for m in view.visible]
        return TipView(
            tip,
            extra,
            timeline,
            files,
            officers,
            contact,
            {o.id: o.name for o in every},
            related,
            list(view.hidden),
        )

    async def evidence(self, session: DeskSessionRecord, code: str, n: int) -> Evidence | None:
        """File `n` of a tip: an image as a copy rebuilt from its pixels, anything else as
        stored (downloaded, never shown); None when there is no such file or it is held."""
        if self.media is None:
            return None
        async with self.store.transaction() as uow:
            tip = await self._tip(uow, session, code)
            if tip is None:
                return None
            found = await uow.desk.attachment(tip.id, n)
            if found is None:
                return None
            await self._audit(uow, session, audit.EVIDENCE_READ, tip.case_code, f"file {n}")
        _, kind, mime, name = found
        data = self.media.get(name)
        if kind == "image" or mime.startswith("image/"):
            if self.scrubber is None:
                return None
            copy = await self.scrubber.scrub(data, mime)
            if copy.data is None:
                return None
            out_mime = "image/jpeg" if copy.data[:3] == b"\xff\xd8\xff" else "image/png"
            if copy.data[:6] in (b"GIF87a", b"GIF89a"):
                out_mime = "image/gif"
            return Evidence(copy.data, out_mime, "image", True)
        return Evidence(data, mime, kind, False)

    async def export(self, session: DeskSessionRecord, f: DeskFilter, kind: str) -> list[DeskRow]:
        now = self.clock()
        async with self.store.transaction() as uow:
            page = await uow.desk.find(
                f,
                rules.scope(session.region),
                now - self.overdue_after,
                limit=EXPORT_MAX,
                offset=0,
                full=True,
            )
            shown = {k: v for k, v in f.to_query().items() if k != "q"}  # a search may quote a tip
            note = f"{kind}; region {session.region}; rows {len(page.rows)}; " + " ".join(
                f"{k}={v}" for k, v in sorted(shown.items())
            )
            await self._audit(uow, session, audit.EXPORT, None, note)
        return page.rows

    # ---- acting ----------------------------------------------------------------------------------
    async def act(
        self, session: DeskSessionRecord, code: str, action: str, arg: str = "", note: str = ""
    ) -> list[Reply] | None:
        """A staff action through the staff desk, as the chat's own command would be; the region's
        chats are told, and the volunteer as usual. None when the tip is not visible."""
        if action not in ("ack", "set", "ask", "reassign", "link", "unlink"):
            return [Reply("staff.help", {"region": ref("region.central")})]
        now = self.clock()
        async with self.store.transaction() as uow:
            tip = await self._tip(uow, session, code)
            if tip is None:
                return None
            chat = await uow.staff.by_id(session.staff_chat_id)
            replies = await self.staff.handle(
                uow, chat, StaffAction(action, tip.case_code, arg, note), now, actor=self.actor(session)
            )
            if replies and replies[0].key in DONE:
                after = await uow.tips.get(tip.case_code)
                what, detail = DONE[replies[0].key]
                if after is not None and what == audit.STATUS_CHANGE:
                    detail = f"{tip.status} → {after.status}"
                elif after is not None and what == audit.REASSIGN:
                    detail = f"{tip.region} → {after.region}"
                await self._audit(uow, session, what, tip.case_code, detail)
                await self._tell(uow, session, chat, tip, replies, now)
        self.on_commit()
        return replies

    async def assign(
        self, session: DeskSessionRecord, code: str, officer_id: int | None
    ) -> list[Reply] | None:
        now = self.clock()
        async with self.store.transaction() as uow:
            tip = await self._tip(uow, session, code)
            if tip is None:
                return None
            officers = {o.id: o for o in await uow.desk.officers(tip.region)}
            if officer_id is not None and officer_id not in officers:
                return [Reply("desk.assign_unknown")]
            await uow.desk.assign(tip.id, officer_id, now)
            name = officers[officer_id].name if officer_id is not None else None
            await uow.tips.add_event(tip.id, actor=self.actor(session), action="assigned", at=now, note=name)
            reply = Reply(
                "desk.assigned" if name else "desk.unassigned",
                {"case_code": tip.case_code, "officer": name or ""},
            )
            chat = await uow.staff.by_id(session.staff_chat_id)
            await self._tell(uow, session, chat, tip, [reply], now)
        self.on_commit()
        return [reply]

    async def _tell(
        self,
        uow: UnitOfWork,
        session: DeskSessionRecord,
        chat: StaffChatRecord | None,
        tip: TipDetail,
        replies: list[Reply],
        now: datetime,
    ) -> None:
        """What the desk did shows in the region's chats, as if a chat had typed the command."""
        who = session.officer_name or ref("desk.someone")
        note = Reply("desk.done_in_desk", {"officer": who, "case_code": tip.case_code})
        await self.staff.tell_region(uow, tip.region, [note, *replies], now, tip_id=tip.id)
        if chat is not None and chat.region != tip.region:  # central acting on a region's tip
            await self.staff.tell_region(uow, chat.region, [note, *replies], now, tip_id=tip.id)
