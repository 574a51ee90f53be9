"""The staff desk: what regional staff chats may do with tips, and who is told about it.

Every action checks the chat's role and region; the reporter's identity never reaches a staff
message. Talks to storage only through `bot.core.ports.UnitOfWork`.
"""

from __future__ import annotations

import base64
import logging
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Literal

from bot.core import audit, casecode
from bot.core.catalog import ref, region_ref, thai_date
from bot.core.desk import LINK_TTL
from bot.core.effects import AnswerQuestion, StaffAction
from bot.core.joinguard import (
    JOIN_LOCKOUT,
    JOIN_MAX_FAILURES,
    join_failed,
    join_locked_until,
    minutes_left,
)
from bot.core.model import Button, OutboxItem, Reply, StaffChatRecord, TipDetail
from bot.core.ports import OutboxRepo, UnitOfWork
from bot.core.routing import CENTRAL, REGIONS
from bot.core.state import JoinGuard, StaffQuestion, State
from bot.runtime.related import RelatedDesk

log = logging.getLogger("tipbot.staff")

AlertDetail = Literal["minimal", "summary", "full"]

FORWARD_TO = ("nacc", "police", "other_agency")
CLOSE_AS = ("substantiated", "unsubstantiated", "out_of_scope", "duplicate")
#: where a tip may go from each status; anything else is refused
TRANSITIONS: dict[str, frozenset[str]] = {
    "received": frozenset({"acknowledged", "in_review", "forwarded", "closed"}),
    "acknowledged": frozenset({"in_review", "forwarded", "closed"}),
    "in_review": frozenset({"forwarded", "closed"}),
    "forwarded": frozenset({"in_review", "closed"}),
    "closed": frozenset(),
}
ACTING_ROLES = frozenset({"staff", "admin"})


def parse_status(arg: str) -> tuple[str, str | None] | None:
    """`in_review`, `forwarded.nacc`, `closed:duplicate`, `closed duplicate` → (status, detail)."""
    parts = arg.replace(":", ".").replace(" ", ".").split(".")
    status, detail = parts[0].casefold(), (parts[1].casefold() if len(parts) > 1 and parts[1] else None)
    if status not in TRANSITIONS:
        return None
    if status == "forwarded" and detail not in FORWARD_TO:
        return None
    if status == "closed" and detail not in CLOSE_AS:
        return None
    if status not in ("forwarded", "closed"):
        detail = None
    return status, detail


def status_ref(status: str, detail: str | None) -> dict[str, Any]:
    if detail:
        return ref(
            "status.with_detail", status=ref(f"status.{status}"), detail=ref(f"status_detail.{detail}")
        )
    return ref(f"status.{status}")


def staff_buttons(code: str) -> tuple[Button, ...]:
    return (
        Button("staff.button.ack", f"s:ack:{code}"),
        Button("staff.button.status", f"s:menu:{code}"),
        Button("staff.button.detail", f"s:detail:{code}"),
        Button("staff.button.desk", f"s:desk:{code}"),
    )


class StaffDesk:
    def __init__(
        self,
        *,
        entropy: Callable[[int], bytes],
        detail: AlertDetail = "summary",
        excerpt_chars: int = 200,
        public_url: str = "http://127.0.0.1:8080",
        related: RelatedDesk | None = None,
    ) -> None:
        self.entropy = entropy
        self.detail = detail
        self.excerpt_chars = excerpt_chars
        self.public_url = public_url.rstrip("/")
        self.related = related or RelatedDesk()

    def _key(self) -> str:
        return str(uuid.UUID(bytes=self.entropy(16), version=4))

    async def _send(
        self,
        outbox: OutboxRepo,
        channel: str,
        chat_id: str,
        locale: str,
        replies: list[Reply],
        now: datetime,
        **kw: Any,
    ) -> None:
        kind = kw.pop("kind", "alert")
        await outbox.add(
            OutboxItem.of(channel, chat_id, locale, replies, kind=kind, key=self._key(), **kw), now
        )

    async def _to_chats(
        self,
        outbox: OutboxRepo,
        chats: list[StaffChatRecord],
        replies: list[Reply],
        now: datetime,
        tip_id: int | None = None,
    ) -> int:
        """Queue the same messages to each staff chat, each in its own language."""
        for chat in chats:
            await self._send(
                outbox,
                chat.channel,
                chat.chat_id,
                chat.locale,
                replies,
                now,
                tip_id=tip_id,
                staff_chat_id=chat.id,
            )
        return len(chats)

    # ---- joining -----------------------------------------------------------------------------
    async def join(
        self,
        uow: UnitOfWork,
        *,
        channel: str,
        chat_id: str,
        pseudonym: int | None,
        code: str,
        guard: JoinGuard | None,
        locale: str,
        now: datetime,
    ) -> tuple[list[Reply], JoinGuard | None]:
        """Redeem an invite code for this chat, within the chat's failure limit.

        Returns the replies and the chat's guard record afterwards (saved when it changed). Logs name the
        channel and the chat's pseudonym (its contact number), never the code or the platform id.
        """
        until = join_locked_until(guard, now)
        if until is not None:
            log.info("join refused on %s chat #%s: locked out", channel, pseudonym)
            return [Reply("staff.join_locked", {"minutes": minutes_left(until, now)})], guard
        redeemed = await uow.staff.redeem_invite(code, now)
        if redeemed is None:
            guard, locked = join_failed(guard, now)
            log.warning("join failed on %s chat #%s: wrong invite code", channel, pseudonym)
            if locked:
                log.warning(
                    "join locked out on %s chat #%s for %d min after %d wrong codes",
                    channel,
                    pseudonym,
                    JOIN_LOCKOUT // timedelta(minutes=1),
                    JOIN_MAX_FAILURES,
                )
                minutes = minutes_left(now + JOIN_LOCKOUT, now)
                return [Reply("staff.join_invalid"), Reply("staff.join_locked", {"minutes": minutes})], guard
            return [Reply("staff.join_invalid")], guard
        invite_id, region, role = redeemed
        staff = await uow.staff.join(channel, chat_id, region, role, locale, now)
        await uow.staff.mark_invite_used(invite_id, staff.id)
        log.info("staff chat %s joined region %s as %s", staff.id, region, role)
        return [Reply("staff.joined", {"region": region_ref(region), "role": ref(f"role.{role}")})], None

    # ---- alerts ------------------------------------------------------------------------------
    async def leave(
        self, uow: UnitOfWork, channel: str, chat_id: str, now: datetime, *, said: bool
    ) -> list[Reply]:
        """`/leave`, or the bot removed from the group (`said` False: nobody to answer)."""
        member = await uow.staff.get(channel, chat_id)
        if member is not None and member.active:
            await uow.staff.deactivate(member.id, now)
            return [Reply("staff.left")] if said else []
        return [Reply("staff.not_member")] if said else []

    def alert(self, tip: TipDetail, note: Any = "") -> Reply:
        region = region_ref(tip.region)
        if self.detail == "minimal":
            return Reply(
                "alert.new_tip_minimal",
                {
                    "case_code": tip.case_code,
                    "category": ref(f"category.{tip.category}"),
                    "region": region,
                    "note": note,
                },
                buttons=staff_buttons(tip.case_code),
            )
        excerpt = tip.narrative
        if self.detail == "summary" and len(excerpt) > self.excerpt_chars:
            excerpt = excerpt[: self.excerpt_chars] + "…"
        return Reply(
            "alert.new_tip",
            {
                "case_code": tip.case_code,
                "category": ref(f"category.{tip.category}"),
                "region": region,
                "place": _place(tip),
                "date": _date(tip),
                "amount": _amount(tip),
                "excerpt": excerpt,
                "attachments": tip.attachments,
                "map": _map(tip),
                "gap": note,
            },
            buttons=staff_buttons(tip.case_code),
        )

    async def alert_region(
        self, uow: UnitOfWork, tip: TipDetail, now: datetime, *, reassigned_from: str | None = None
    ) -> int:
        """One alert per active chat of the tip's region; the central office's when it has none."""
        chats = await uow.staff.for_region(tip.region)
        gap = not chats
        if gap and tip.region != CENTRAL:
            chats = await uow.staff.for_region(CENTRAL)
        if gap:
            # Never silently dropped: the gap is recorded on the tip and counted.
            await uow.tips.add_event(tip.id, actor="system", action="routing_gap", at=now, note=tip.region)
            log.warning("routing gap: no staff chat for region %s (tip %s)", tip.region, tip.case_code)
        if not chats:
            # not even the central office has a chat: recorded so `tipbot status` names the tip
            await uow.tips.add_event(tip.id, actor="system", action="unalerted", at=now, note=tip.region)
            log.warning("tip %s alerted to nobody: the central office has no staff chat", tip.case_code)
        note: Any = ""
        if reassigned_from is not None:
            note = ref("alert.reassigned_note", region=region_ref(reassigned_from))
        elif gap and tip.region != CENTRAL:
            note = ref("alert.gap_note", region=region_ref(tip.region))
        # what the chats alerted may see: the tip's region, or the central office for a gap
        _, view = await self.related.related_for(uow, tip, CENTRAL if gap else tip.region, now)
        line = self.related.alert_line(view)
        if line is not None:
            note = ref("related.alert_note", note=note, related=line)
        return await self._to_chats(uow.outbox, chats, [self.alert(tip, note)], now, tip_id=tip.id)

    # ---- actions -------------------------------------------------------------------------------
    async def handle(
        self,
        uow: UnitOfWork,
        staff: StaffChatRecord | None,
        action: StaffAction,
        now: datetime,
        *,
        actor: str | None = None,
    ) -> list[Reply]:
        """One staff action of a chat (or of a case-desk session of that chat: `actor` then
        names the desk officer in the tip's history)."""
        if staff is None or not staff.active:
            return [Reply("staff.not_member")]
        if staff.role not in ACTING_ROLES:
            return [Reply("staff.role_denied", {"role": ref(f"role.{staff.role}")})]
        who = actor or f"staff:{staff.id}"
        if action.action == "list":
            return await self._list(uow, staff)
        if action.action == "desk" and not action.code:
            return await self.desk_link(uow, staff, None, now)
        tip = await uow.tips.get(action.code) if action.code else None
        if tip is None or not self._may_see(staff, tip):
            # The same answer for "no such tip" and "another region's tip": nothing leaks.
            await uow.tips.add_event(
                tip.id if tip else None,
                actor=who,
                action="access_denied",
                at=now,
                note=action.code or None,
            )
            return [Reply("staff.tip_not_found", {"case_code": action.code or "-"})]
        if action.action == "desk":
            return await self.desk_link(uow, staff, tip.case_code, now)
        if action.action == "detail":
            await uow.tips.add_event(tip.id, actor=who, action="viewed", at=now)
            await uow.audit.append(
                audit.STAFF_CHAT, audit.staff_actor(staff.id), audit.TIP_READ, tip.case_code, None, now
            )
            files = await uow.attachments.of_tip(tip.id)
            sig, view = await self.related.related_for(uow, tip, staff.region, now)
            listing = self.related.listing(tip, sig, view)
            return [
                self._details(tip),
                *([listing] if listing is not None else []),
                *(
                    Reply(
                        "staff.attachment",
                        {
                            "n": n,
                            "count": len(files),
                            "kind": ref(f"evidence.{kind}"),
                            "case_code": tip.case_code,
                        },
                        attachment_id=attachment_id,
                    )
                    for n, (attachment_id, kind) in enumerate(files, 1)
                ),
            ]
        if action.action == "ack" or (action.action == "set" and action.arg == "acknowledged"):
            if tip.status != "received":
                return [await self._already_acknowledged(uow, staff, tip)]
            return await self._transition(uow, staff, tip, "acknowledged", None, action.note, now, who)
        if action.action == "menu":
            return [self._status_menu(tip, only=action.arg or None)]
        if action.action == "set":
            parsed = parse_status(action.arg)
            if parsed is None:
                return [Reply("staff.status_usage")]
            if parsed == ("closed", "duplicate"):
                return await self._duplicate(uow, staff, tip, action.note, now, who)
            return await self._transition(uow, staff, tip, parsed[0], parsed[1], action.note, now, who)
        if action.action in ("link", "unlink"):
            other = await self._other(uow, staff, action.arg, now)
            if isinstance(other, list):
                return other
            kind = "linked" if action.action == "link" else "rejected"
            return await self.related.decide(uow, staff, tip, other, kind, now)
        if action.action == "ask":
            return await self._ask(uow, staff, tip, action.note, now, who)
        if action.action == "reassign":
            return await self._reassign(uow, staff, tip, action.arg, action.note, now, who)
        return [Reply("staff.help", {"region": region_ref(staff.region)})]

    async def desk_link(
        self, uow: UnitOfWork, staff: StaffChatRecord, case_code: str | None, now: datetime
    ) -> list[Reply]:
        """A one-time sign-in link to the case desk for this chat (stored as a keyed hash)."""
        token = base64.urlsafe_b64encode(self.entropy(24)).decode("ascii").rstrip("=")
        await uow.desk.add_link(token, staff.id, case_code, now, LINK_TTL)
        log.info("desk sign-in link made for staff chat %s", staff.id)
        minutes = LINK_TTL // timedelta(minutes=1)
        return [Reply("staff.desk_link", {"url": f"{self.public_url}/desk/in/{token}", "minutes": minutes})]

    async def tell_region(
        self, uow: UnitOfWork, region: str, replies: list[Reply], now: datetime, tip_id: int | None = None
    ) -> int:
        """Queue messages to every active chat of a region (the case desk's actions)."""
        return await self._to_chats(
            uow.outbox, await uow.staff.for_region(region), replies, now, tip_id=tip_id
        )

    async def _other(
        self, uow: UnitOfWork, staff: StaffChatRecord, text: str, now: datetime
    ) -> TipDetail | list[Reply]:
        """The second tip of `/link A B`, `/unlink A B`, `/status A closed.duplicate B`."""
        code = casecode.find(text.split()[0]) if text.split() else None
        if code is None:
            return [Reply("related.usage")]
        other = await uow.tips.get(code)
        if other is None or not self._may_see(staff, other):
            await uow.tips.add_event(
                other.id if other else None,
                actor=f"staff:{staff.id}",
                action="access_denied",
                at=now,
                note=code,
            )
            return [Reply("staff.tip_not_found", {"case_code": code})]
        return other

    async def _duplicate(
        self, uow: UnitOfWork, staff: StaffChatRecord, tip: TipDetail, rest: str, now: datetime, who: str
    ) -> list[Reply]:
        """`/status CODE closed.duplicate CODE2 [note]`: closed and joined to CODE2; its reporter is
        told the report joined an existing case, and nothing of the other case."""
        original = await self._other(uow, staff, rest, now)
        if isinstance(original, list):
            return [Reply("related.duplicate_usage")] if original[0].key == "related.usage" else original
        if original.id == tip.id:
            return [Reply("related.duplicate_usage")]
        note = rest.split(None, 1)[1] if len(rest.split(None, 1)) > 1 else ""
        joined = Reply("related.joined_reporter", {"case_code": tip.case_code})
        replies = await self._transition(uow, staff, tip, "closed", "duplicate", note, now, who, told=joined)
        if replies and replies[0].key == "staff.status_set":
            await self.related.mark_duplicate(uow, staff, tip, original, now)
            return [Reply("related.duplicate_set", {"case_code": tip.case_code, "other": original.case_code})]
        return replies

    @staticmethod
    def _may_see(staff: StaffChatRecord, tip: TipDetail) -> bool:
        # The central office oversees every region (it also receives tips of regions with no chat).
        return staff.region in (tip.region, CENTRAL)

    async def _list(self, uow: UnitOfWork, staff: StaffChatRecord) -> list[Reply]:
        tips = await uow.tips.open(None if staff.region == CENTRAL else staff.region, 20)
        if not tips:
            return [Reply("staff.no_open_tips", {"region": region_ref(staff.region)})]
        lines = [
            ref(
                "staff.tip_line",
                case_code=t.case_code,
                category=ref(f"category.{t.category}"),
                place=_place(t),
                status=status_ref(t.status, t.status_detail),
            )
            for t in tips
        ]
        return [
            Reply("staff.open_tips", {"region": region_ref(staff.region), "count": len(tips), "tips": lines})
        ]

    def _details(self, tip: TipDetail) -> Reply:
        contact: Any = ref("staff.contact_hidden")
        if tip.contact_ok and tip.contact_how:
            # the reporter gave this to be phoned: hiding it would leave them unreachable
            contact = ref("staff.contact_phone", how=tip.contact_how)
        elif tip.contact_ok:
            contact = ref("staff.contact_via_bot")
        return Reply(
            "staff.detail",
            {
                "case_code": tip.case_code,
                "category": ref(f"category.{tip.category}"),
                "status": status_ref(tip.status, tip.status_detail),
                "region": region_ref(tip.region),
                "place": _place(tip),
                "agency": tip.agency or ref("common.not_given"),
                "official": tip.official or ref("common.not_given"),
                "date": _date(tip),
                "amount": _amount(tip),
                "narrative": tip.narrative,
                "attachments": tip.attachments,
                "map": _map(tip),
                "contact": contact,
            },
            buttons=staff_buttons(tip.case_code),
        )

    async def _already_acknowledged(self, uow: UnitOfWork, staff: StaffChatRecord, tip: TipDetail) -> Reply:
        """A second "acknowledge": who took the tip on, and where it stands now, with the next steps."""
        who: Any = ref("staff.ack_by_unknown")
        if tip.claimed_by == staff.id:
            who = ref("staff.ack_by_this_chat")
        elif tip.claimed_by is not None and (taker := await uow.staff.by_id(tip.claimed_by)) is not None:
            who = ref("staff.ack_by_chat", number=taker.id, region=region_ref(taker.region))
        menu = self._status_menu(tip)
        return Reply(
            "staff.already_acknowledged",
            {"case_code": tip.case_code, "who": who, "status": status_ref(tip.status, tip.status_detail)},
            buttons=menu.buttons,
        )

    def _status_menu(self, tip: TipDetail, only: str | None = None) -> Reply:
        choices = [s for s in ("acknowledged", "in_review") if s in TRANSITIONS[tip.status] and not only]
        buttons = [Button(f"status.{s}", f"s:set:{tip.case_code}:{s}") for s in choices]
        if "forwarded" in TRANSITIONS[tip.status] and only in (None, "forwarded"):
            buttons += [
                Button(f"staff.button.forwarded.{d}", f"s:set:{tip.case_code}:forwarded.{d}")
                for d in FORWARD_TO
            ]
        if "closed" in TRANSITIONS[tip.status] and only in (None, "closed"):
            buttons += [
                Button(f"staff.button.closed.{d}", f"s:set:{tip.case_code}:closed.{d}") for d in CLOSE_AS
            ]
        if not buttons:
            return Reply(
                "staff.no_transitions",
                {"case_code": tip.case_code, "status": status_ref(tip.status, tip.status_detail)},
            )
        return Reply("staff.choose_status", {"case_code": tip.case_code}, buttons=tuple(buttons))

    async def _transition(
        self,
        uow: UnitOfWork,
        staff: StaffChatRecord,
        tip: TipDetail,
        status: str,
        detail: str | None,
        note: str,
        now: datetime,
        who: str,
        *,
        told: Reply | None = None,
    ) -> list[Reply]:
        if status not in TRANSITIONS[tip.status]:
            return [
                Reply(
                    "staff.transition_refused",
                    {
                        "case_code": tip.case_code,
                        "from": status_ref(tip.status, tip.status_detail),
                        "to": ref(f"status.{status}"),
                    },
                )
            ]
        taker = staff.id if status == "acknowledged" else None
        await uow.tips.set_status(tip.id, status, detail, now, acknowledged_by=taker)
        await uow.tips.add_event(
            tip.id,
            actor=who,
            action="status",
            at=now,
            from_status=tip.status,
            to_status=status,
            note=note or None,
        )
        await uow.audit.append(
            audit.STAFF_CHAT,
            audit.staff_actor(staff.id),
            audit.STATUS_CHANGE,
            tip.case_code,
            f"{tip.status} → {status}" + (f".{detail}" if detail else ""),
            now,
        )
        await self._tell_reporter(
            uow,
            tip,
            told
            or Reply(
                "status.changed",
                {
                    "case_code": tip.case_code,
                    "status": status_ref(status, detail),
                    "meaning": ref(f"status_meaning.{status}"),
                },
            ),
            now,
        )
        log.info("tip %s: %s -> %s by staff chat %s", tip.case_code, tip.status, status, staff.id)
        return [Reply("staff.status_set", {"case_code": tip.case_code, "status": status_ref(status, detail)})]

    @staticmethod
    def _changed(tip: TipDetail, status: str, detail: str | None) -> Reply:
        return Reply("status.changed", {"case_code": tip.case_code, "status": status_ref(status, detail)})

    async def _tell_reporter(self, uow: UnitOfWork, tip: TipDetail, reply: Reply, now: datetime) -> bool:
        if tip.contact_id is None:
            return False
        address = await uow.contacts.address(tip.contact_id)
        if address is None or not address.reachable:
            return False
        await self._send(
            uow.outbox,
            address.channel,
            address.chat_id,
            address.locale,
            [reply],
            now,
            kind="notice",
            tip_id=tip.id,
        )
        return True

    async def _ask(
        self, uow: UnitOfWork, staff: StaffChatRecord, tip: TipDetail, question: str, now: datetime, who: str
    ) -> list[Reply]:
        question = question.strip()
        if not question:
            return [Reply("staff.ask_usage")]
        if tip.contact_id is None:
            # cut from its chat (the reporter erased their data): that says more than their choice
            return [Reply("staff.reporter_unreachable", {"case_code": tip.case_code})]
        if not tip.contact_ok:
            return [Reply("staff.ask_refused", {"case_code": tip.case_code})]
        address = await uow.contacts.address(tip.contact_id)
        if address is None or not address.reachable:
            return [Reply("staff.reporter_unreachable", {"case_code": tip.case_code})]
        stored, version = await uow.conversations.load(tip.contact_id)
        state = replace(State.from_dict(stored), question=StaffQuestion(tip.case_code, staff.id))
        await uow.conversations.save(tip.contact_id, state.to_dict(), version, now)
        await uow.tips.add_event(tip.id, actor=who, action="question", at=now, note=question[:2000])
        # the question's text stays in the tip's history (encrypted), never in the audit log
        await uow.audit.append(
            audit.STAFF_CHAT, audit.staff_actor(staff.id), audit.QUESTION, tip.case_code, None, now
        )
        await self._tell_reporter(
            uow,
            tip,
            Reply("question.from_staff", {"case_code": tip.case_code, "question": question[:2000]}),
            now,
        )
        return [Reply("staff.question_sent", {"case_code": tip.case_code})]

    async def answer(self, uow: UnitOfWork, answer: AnswerQuestion, now: datetime) -> list[Reply]:
        tip = await uow.tips.get(answer.code)
        if tip is None:
            return []
        await uow.tips.add_event(tip.id, actor="volunteer", action="answer", at=now, note=answer.text[:4000])
        await uow.audit.append(audit.REPORTER, "reporter", audit.ANSWER, tip.case_code, None, now)
        chats = [c for c in await uow.staff.for_region(tip.region) if c.id == answer.staff_chat_id]
        chats = chats or await uow.staff.for_region(tip.region) or await uow.staff.for_region(CENTRAL)
        reply = Reply(
            "staff.answer",
            {"case_code": tip.case_code, "answer": answer.text[:4000]},
            buttons=staff_buttons(tip.case_code),
        )
        await self._to_chats(uow.outbox, chats, [reply], now, tip_id=tip.id)
        return [Reply("question.answer_sent", {"case_code": tip.case_code})]

    async def _reassign(
        self,
        uow: UnitOfWork,
        staff: StaffChatRecord,
        tip: TipDetail,
        region: str,
        reason: str,
        now: datetime,
        who: str,
    ) -> list[Reply]:
        region = region.strip().casefold()
        if region not in REGIONS or not reason.strip():
            return [Reply("staff.reassign_usage")]
        if region == tip.region:
            return [Reply("staff.reassign_same", {"case_code": tip.case_code, "region": region_ref(region)})]
        old = tip.region
        await uow.tips.reassign(tip.id, region, now)
        await uow.tips.add_event(
            tip.id,
            actor=who,
            action="reassigned",
            at=now,
            from_status=old,
            to_status=region,
            note=reason,
        )
        await uow.audit.append(
            audit.STAFF_CHAT,
            audit.staff_actor(staff.id),
            audit.REASSIGN,
            tip.case_code,
            f"{old} → {region}",
            now,
        )
        moved = TipDetail(**{**_fields(tip), "region": region})
        await self.alert_region(uow, moved, now, reassigned_from=old)
        # The old region sees it leave, without its content; the chat that moved it gets the
        # confirmation instead.
        old_chats = [c for c in await uow.staff.for_region(old) if c.id != staff.id]
        moved_out = Reply("staff.moved_out", {"case_code": tip.case_code, "region": region_ref(region)})
        await self._to_chats(uow.outbox, old_chats, [moved_out], now, tip_id=tip.id)
        return [Reply("staff.reassigned", {"case_code": tip.case_code, "region": region_ref(region)})]

    # ---- reminders and digests -----------------------------------------------------------------
    async def remind(self, uow: UnitOfWork, now: datetime, after: timedelta) -> int:
        """Remind a region of tips nobody acknowledged; escalate to central after a second wait."""
        sent = 0
        for tip in await uow.tips.unacknowledged(now - after):
            if tip.reminded_at is None:
                targets, key, mark = (
                    await uow.staff.for_region(tip.region),
                    "staff.reminder",
                    uow.tips.mark_reminded,
                )
            elif tip.reminded_at <= now - after:
                targets, key, mark = (
                    await uow.staff.for_region(CENTRAL),
                    "staff.escalation",
                    uow.tips.mark_escalated,
                )
                await uow.tips.add_event(tip.id, actor="system", action="escalated", at=now)
            else:
                continue
            hours = int((now - tip.created_at).total_seconds() // 3600)
            reply = Reply(
                key,
                {"case_code": tip.case_code, "hours": hours, "region": region_ref(tip.region)},
                buttons=staff_buttons(tip.case_code),
            )
            sent += await self._to_chats(uow.outbox, targets, [reply], now, tip_id=tip.id)
            await mark(tip.id, now)
        return sent

    async def digest(self, uow: UnitOfWork, now: datetime, hour: int, overdue_after: timedelta) -> int:
        """Once a day, after `hour` o'clock Thai time, a digest to every chat of every region."""
        local = now + THAI_OFFSET
        if local.hour < hour:
            return 0
        today = local.date().isoformat()
        sent = 0
        for region in await uow.staff.regions():
            if await uow.kv.get(f"digest.{region}") == today:
                continue
            counts = await uow.tips.region_counts(region, now - timedelta(days=1), now - overdue_after)
            groups = await self.related.digest_lines(uow, region, now)
            clusters: Any = ref("related.digest", lines=groups) if groups else ""
            reply = Reply(
                "staff.digest",
                {
                    "region": region_ref(region),
                    "date": thai_date(local.date()),
                    **counts,
                    "clusters": clusters,
                },
            )
            sent += await self._to_chats(uow.outbox, await uow.staff.for_region(region), [reply], now)
            await uow.kv.set(f"digest.{region}", today)
        return sent


THAI_OFFSET = timedelta(hours=7)  # Thailand has one time zone and no daylight saving


def _place(tip: TipDetail) -> Any:
    if tip.province and tip.district:
        return ref("common.district_province", district=tip.district, province=tip.province)
    if tip.province:
        return ref("common.province", province=tip.province)
    return ref("common.not_given")


def _map(tip: TipDetail) -> Any:
    """Each shared location as a map link (the staff's phone opens it; tipbot fetches nothing)."""
    if not tip.locations:
        return ""
    links = [
        ref(
            "staff.map",
            url=f"https://www.openstreetmap.org/?mlat={lat:.5f}&mlon={lon:.5f}#map=16/{lat:.5f}/{lon:.5f}",
        )
        for lat, lon in tip.locations
    ]
    return ref("staff.maps", links=links)


def _amount(tip: TipDetail) -> Any:
    return ref("common.baht", amount=f"{tip.amount_thb:,}") if tip.amount_thb else ref("common.not_given")


def _date(tip: TipDetail) -> Any:
    if tip.incident_date:
        return thai_date(tip.incident_date)
    return tip.incident_date_text or ref("common.not_given")


def _fields(tip: TipDetail) -> dict[str, Any]:
    return {f: getattr(tip, f) for f in tip.__dataclass_fields__}
