"""Terminal chat channel (`tipbot chat`): lines from stdin in, bot messages with numbered
buttons out. A typed number taps a button; `@location LAT,LON` and `@image PATH` / `@file PATH`
send a location or evidence. No business rules, no Thai text here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from bot.core.model import (
    LOCATION_PAYLOAD,
    Address,
    FetchedMedia,
    Inbound,
    InboundKind,
    InboxEvent,
    Location,
    MediaGone,
    MediaRef,
    Outbound,
    SendResult,
    SendStatus,
)

_LOC = re.compile(r"^@location\s+(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$")
_MEDIA = re.compile(r"^@(image|file|video|audio)\s+(.+)$")


class ConsoleChannel:
    name = "console"

    def __init__(self, out: TextIO, *, max_text_chars: int = 5000) -> None:
        self.out = out
        self.max_text_chars = max_text_chars
        self.buttons: dict[str, list[tuple[str, str]]] = {}
        self.sent = 0

    def event(self, chat_id: str, line: str) -> InboxEvent:
        """Map one typed line to an inbox event (a number taps the last buttons shown)."""
        now = datetime.now(UTC)
        payload: dict[str, Any] = {"chat": chat_id, "at": now.isoformat()}
        stripped = line.strip()
        shown = self.buttons.get(chat_id, [])
        if stripped.isdigit() and 1 <= int(stripped) <= len(shown):
            label, button = shown[int(stripped) - 1]
            if button == LOCATION_PAYLOAD:
                payload.update(type="text", text="")
            else:
                payload.update(type="button", button=button, text=label)
        elif m := _LOC.match(stripped):
            payload.update(type="location", lat=float(m.group(1)), lon=float(m.group(2)))
        elif m := _MEDIA.match(stripped):
            payload.update(type="media", kind=m.group(1), path=m.group(2).strip())
        else:
            payload.update(type="text", text=line.rstrip("\n")[: self.max_text_chars])
        return InboxEvent(
            channel=self.name, event_id=str(uuid.uuid4()), chat_id=chat_id, occurred_at=now, payload=payload
        )

    def to_inbound(self, event_id: str, payload: Mapping[str, Any]) -> Inbound | None:
        chat = payload.get("chat")
        if not isinstance(chat, str) or not chat:
            return None
        common: dict[str, Any] = {
            "channel": self.name,
            "chat_id": chat,
            "event_id": event_id,
            "occurred_at": datetime.fromisoformat(str(payload.get("at")))
            if payload.get("at")
            else datetime.now(UTC),
            "message_id": event_id,
        }
        kind = payload.get("type")
        if kind == "button":
            return Inbound(
                kind=InboundKind.BUTTON,
                button=str(payload.get("button")),
                text=str(payload.get("text", "")),
                **common,
            )
        if kind == "location":
            return Inbound(
                kind=InboundKind.LOCATION,
                location=Location(float(payload["lat"]), float(payload["lon"])),
                **common,
            )
        if kind == "media":
            path = str(payload.get("path", ""))
            kinds: dict[Any, Literal["image", "video", "audio", "file"]] = {
                "image": "image",
                "video": "video",
                "audio": "audio",
            }
            media_kind = kinds.get(payload.get("kind"), "file")
            return Inbound(
                kind=InboundKind.MEDIA,
                media=MediaRef(kind=media_kind, platform_ref=path, file_name=Path(path).name),
                **common,
            )
        if kind == "text":
            return Inbound(kind=InboundKind.TEXT, text=str(payload.get("text", "")), **common)
        return None

    async def acknowledge(self, inbound: Inbound) -> None:
        return None

    async def fetch_media(self, media: MediaRef) -> FetchedMedia:
        try:
            return FetchedMedia(Path(media.platform_ref).expanduser().read_bytes())
        except OSError as exc:
            raise MediaGone(media.file_name) from exc

    async def send(
        self,
        address: Address,
        messages: Sequence[Outbound],
        *,
        reply_token: str | None,
        retry_key: str,
        attachments: Mapping[int, bytes] | None = None,
    ) -> SendResult:
        for m in messages:
            self.out.write("bot: " + m.text.replace("\n", "\n     ") + "\n")
            if m.buttons:
                self.buttons[address.chat_id] = [(b.label, b.payload) for b in m.buttons]
                self.out.write(
                    "     " + "  ".join(f"[{i}] {b.label}" for i, b in enumerate(m.buttons, 1)) + "\n"
                )
            self.sent += 1
        self.out.flush()
        return SendResult(SendStatus.SENT)
