"""Operator settings (prefix TIPBOT_, `.env` supported). Read only by the composition root.

Every field is documented in README's settings table; a test keeps the two in step.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
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
    media_dir: Path = Path("./var/media")
    max_media_bytes: int = 20 * 1024 * 1024
    regions_file: Path | None = None
    max_body_bytes: int = 1024 * 1024
    max_text_chars: int = 5000
    alert_excerpt_chars: int = 200
    alert_detail: Literal["minimal", "summary", "full"] = "summary"
    ack_reminder: timedelta = timedelta(hours=48)
    digest_hour: int = Field(default=8, ge=-1, le=23)
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
    #: how long a relay owns the outbox rows it took; a process that dies keeps them that long
    outbox_lease: timedelta = timedelta(minutes=2)
    #: when set, webhook events are written here while the database is unreachable
    spool_dir: Path | None = None
    #: serve the web chat from this process (its mailboxes live in process memory)
    webchat: bool = True
    #: run the dispatcher, relay, broadcaster and scheduler in `tipbot serve`; false makes a
    #: process that only takes webhooks into the inbox (with `tipbot worker` processes beside it)
    workers: bool = True
    shutdown_timeout: float = 30.0
    #: fault injection for the kill tests only: "after_ingest" SIGKILLs the server right after an
    #: inbox commit, before the event is processed or acknowledged
    crash_at: Literal["", "after_ingest"] = ""

    line_channel_secret: SecretStr | None = None
    line_channel_access_token: SecretStr | None = None
    line_api_base_url: str = "https://api.line.me"
    line_data_api_base_url: str = "https://api-data.line.me"

    telegram_bot_token: SecretStr | None = None
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org"

    @property
    def line_enabled(self) -> bool:
        return bool(self.line_channel_secret and self.line_channel_access_token)

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_bot_token)
