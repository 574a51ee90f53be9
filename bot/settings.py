"""Operator settings (prefix TIPBOT_, `.env` supported). Read only by the composition root.

Every field is documented in README's settings table; a test keeps the two in step.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIPBOT_", env_file=".env", extra="ignore")

    env: Literal["development", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///./var/tipbot.db"
    secret_key: SecretStr | None = None
    old_secret_keys: list[SecretStr] = Field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 8080
    default_locale: Literal["th", "en"] = "th"
    draft_ttl: timedelta = timedelta(hours=24)
    #: the story step waits this long after the volunteer's last message before the next
    #: question (a "told it all" button goes on at once); 0 asks the next question at once
    story_pause: timedelta = Field(default=timedelta(seconds=20), ge=timedelta(0), le=timedelta(hours=1))
    media_dir: Path = Path("./var/media")
    #: evidence of no tip that no draft holds any more (cancelled, declined, unsent) is deleted,
    #: row and file, by the scheduler this long after it arrived
    orphan_grace: timedelta = Field(default=timedelta(hours=1), ge=timedelta(0))
    max_media_bytes: int = 20 * 1024 * 1024
    regions_file: Path | None = None
    max_body_bytes: int = 1024 * 1024
    max_text_chars: int = 5000
    alert_excerpt_chars: int = 200
    alert_detail: Literal["minimal", "summary", "full"] = "summary"
    ack_reminder: timedelta = timedelta(hours=48)
    digest_hour: int = Field(default=8, ge=-1, le=23)
    #: how far back a new tip is matched against earlier ones (any region)
    related_window: timedelta = Field(default=timedelta(days=365), ge=timedelta(days=1))
    #: the digest names groups of at least `related_group_min` tips about one office within this
    related_group_window: timedelta = Field(default=timedelta(days=90), ge=timedelta(days=1))
    related_group_min: int = Field(default=3, ge=2)
    scheduler_interval: float = 60.0
    #: LINE messages the plan allows per month (0: not set, no local check)
    line_monthly_quota: int = Field(default=0, ge=0)
    #: how long before a workshop those who said they will come get a reminder
    rsvp_reminder: timedelta = timedelta(hours=24)
    #: how long a process holds a broadcast copy it is sending; after a crash, another process
    #: (or the restarted one) resends it once this has passed
    broadcast_lease: timedelta = timedelta(seconds=60)
    #: broadcast copies a process keeps in flight on a platform without retry keys (Telegram):
    #: each one may repeat (recorded) if the process dies while it is in flight
    broadcast_in_flight: int = Field(default=1, ge=1, le=32)
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    #: the longest a relay holds the outbox rows it took, even while alive (a safety net: the
    #: rows of a process that stops beating are free again after `heartbeat_timeout`)
    outbox_lease: timedelta = timedelta(minutes=10)
    #: a process whose heartbeat is older than this is taken for dead and its leases are freed
    heartbeat_timeout: timedelta = Field(default=timedelta(seconds=8), ge=timedelta(seconds=1))
    #: stable name of this process (default: host and role/port), so a restarted process takes
    #: back its own leases at once; give each process on a host its own
    instance: str | None = Field(default=None, max_length=200)
    #: when set, webhook events are written here while the database is unreachable
    spool_dir: Path | None = None
    #: serve the web chat's page and API (`/chat`) from this process; its mailboxes and history
    #: live in the database, so any number of processes may serve it
    webchat: bool = True
    #: an uploaded evidence file is held (encrypted) this long for the dispatcher to take into a
    #: draft, then deleted whether a draft took it or not
    webchat_upload_ttl: timedelta = Field(default=timedelta(minutes=10), ge=timedelta(minutes=1))
    #: web-chat posts one session (one browser) may send per second, and at once after a pause
    webchat_session_rate: float = Field(default=1.0, gt=0)
    webchat_session_burst: int = Field(default=5, ge=1)
    #: web-chat posts one client address may send per second, and at once: an address may carry
    #: many people (a school's or an office's NAT, a mobile carrier's)
    webchat_address_rate: float = Field(default=5.0, gt=0)
    webchat_address_burst: int = Field(default=30, ge=1)
    #: sessions and addresses the web-chat limiter remembers (each table; least recently used go)
    webchat_limiter_keys: int = Field(default=10_000, ge=100)
    #: reverse proxies in front of `tipbot serve` that append to X-Forwarded-For; 0: the client
    #: address is the socket's peer and X-Forwarded-For is ignored (a client could write anything)
    trusted_proxy_hops: int = Field(default=0, ge=0, le=5)
    #: raw payloads of processed inbox rows (done, ignored, failed) are cleared this long after
    inbox_payload_ttl: timedelta = timedelta(hours=24)
    #: processed inbox rows (their event ids, which recognise redeliveries) are deleted this long
    #: after; at least 7 days (Telegram picks update ids anew after a week of silence)
    inbox_keep: timedelta = Field(default=timedelta(days=30), ge=timedelta(days=7))
    #: closed tips older than this keep only statistics (content, evidence, Q&A, contact erased)
    retention_closed_days: int = Field(default=365, ge=1)
    #: drafts (unfinished reports) idle this long are erased with their evidence
    retention_draft_days: int = Field(default=30, ge=1)
    #: rendered messages (the outbox) are deleted this many days after they were sent or failed
    retention_message_days: int = Field(default=14, ge=1)
    #: the data controller's name and contact, shown on the privacy notice (/privacy)
    controller_contact: str = Field(default="", max_length=1000)
    #: where people reach this server: the consent text links <public_url>/privacy and the case
    #: desk's sign-in links are built on it; https makes the desk's cookie `Secure`
    public_url: str = "http://127.0.0.1:8080"
    #: run the dispatcher, relay, broadcaster and scheduler in `tipbot serve`; false makes a
    #: process that only takes webhooks into the inbox (with `tipbot worker` processes beside it)
    workers: bool = True
    shutdown_timeout: float = 30.0
    #: seconds a request's body may take to arrive in full; a slower one gets 408 and its
    #: connection is closed (also how long an early-answered request's leftover body is read)
    http_body_timeout: float = Field(default=10.0, gt=0)
    #: seconds an idle connection is kept open; aiohttp counts a connection whose request head
    #: has not arrived in full as idle, so this also bounds a slow request head
    http_keepalive_timeout: float = Field(default=15.0, gt=0)
    #: host:port of the Prometheus /metrics listener, never the public port; empty: no metrics
    metrics_bind: str = "127.0.0.1:9108"
    #: images with more pixels are not copied to staff (a JPEG is first decoded at 1/2 to 1/8 size)
    evidence_max_pixels: int = Field(default=50_000_000, ge=1)
    #: image worker processes; 0 does image work in a thread of the server (no memory cap)
    evidence_workers: int = Field(default=1, ge=0, le=16)
    #: address-space cap of each image worker process, in MB (0: no cap)
    evidence_worker_memory_mb: int = Field(default=1024, ge=0)
    #: seconds one file may take in the image worker before it is killed and the file held
    evidence_timeout: float = Field(default=30.0, gt=0)
    #: send non-image evidence (PDF, office files, video, audio) to staff as stored; they may carry
    #: the author's name or where and on which device they were recorded
    evidence_send_files: bool = False
    #: fault injection for the kill tests only: "after_ingest" SIGKILLs the server right after an
    #: inbox commit, before the event is processed or acknowledged
    crash_at: Literal["", "after_ingest"] = ""
    #: a desk session nobody used for this long ends (the absolute limit is 12 hours)
    desk_idle_timeout: timedelta = Field(default=timedelta(minutes=30), ge=timedelta(minutes=1))
    #: sign-in attempts per second one client address may keep up on the desk's link page
    desk_signin_rate: float = Field(default=0.2, gt=0)
    #: sign-in attempts one client address may make at once
    desk_signin_burst: int = Field(default=10, ge=1)

    line_channel_secret: SecretStr | None = None
    line_channel_access_token: SecretStr | None = None
    line_api_base_url: str = "https://api.line.me"
    line_data_api_base_url: str = "https://api-data.line.me"

    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org"
    #: messages per second tipbot sends to Telegram over all chats (its flood guidance is about
    #: 30); 0 switches the pacing off (benchmarks against a fake Bot API only)
    telegram_rate: float = Field(default=30.0, ge=0)

    @field_validator("*", mode="before")
    @classmethod
    def _seconds(cls, value: Any, info: ValidationInfo) -> Any:
        """A duration may also be given as plain seconds (`TIPBOT_STORY_PAUSE=0`, `=20`), besides
        ISO 8601 (`PT20S`) and `HH:MM:SS`."""
        field = cls.model_fields.get(info.field_name or "")
        duration = field is not None and field.annotation is timedelta
        if duration and isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
            return timedelta(seconds=float(value))
        return value

    @property
    def line_enabled(self) -> bool:
        return bool(self.line_channel_secret and self.line_channel_access_token)

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token)
