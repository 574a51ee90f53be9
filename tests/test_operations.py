"""Operations in one process: the disk spool, refusing an unwritable spool, /metrics, draining
on shutdown and JSON logs."""

from __future__ import annotations

import asyncio
import json
import logging
from functools import partial
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.app import DRAINING, SERVICES, ConfigError, build_services, create_app
from bot.logs import JsonFormatter
from bot.settings import Settings
from storage import tables as t
from tests import cli_process
from tests.conftest import SECRET, make_settings
from tests.drivers import session_of
from tests.procs import free_port

DOWN = "postgresql+asyncpg://postgres@127.0.0.1:9/none"  # nothing listens on port 9
CANARY = "CANARY-spool-6d1e ผู้ใหญ่บ้านเก็บเงิน"
ROOT = Path(__file__).resolve().parent.parent


async def scrape(settings: Settings) -> str:
    """/metrics from the process's own metrics listener (never the public port)."""
    async with aiohttp.ClientSession() as http, http.get(f"http://{settings.metrics_bind}/metrics") as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/plain")
        return await r.text()


def with_metrics(settings: Settings) -> Settings:
    return settings.model_copy(update={"metrics_bind": f"127.0.0.1:{free_port()}"})


def server(settings: Settings, *, autostart: bool = False, migrate: bool = True) -> TestServer:
    factory = partial(build_services, migrate=migrate, autostart=autostart)
    return TestServer(create_app(settings, services_factory=factory))


async def test_events_are_spooled_while_the_database_is_down_and_replayed_when_it_returns(
    tmp_path: Path, sqlite_url: str
) -> None:
    spool = tmp_path / "spool"
    down = make_settings(DOWN, tmp_path, spool_dir=spool)
    body = {"session": session_of("spooled"), "id": "spooled-event-0001", "type": "text", "text": CANARY}
    async with TestClient(server(down, migrate=False)) as client:
        r = await client.post("/chat/api/send", json=body)
        assert r.status == 200  # durable on disk, so the sender need not retry
    files = list(spool.glob("*.spool"))
    assert len(files) == 1
    assert CANARY.encode() not in files[0].read_bytes()  # encrypted like the database

    # The database is back (another process, same spool folder): the event reaches the inbox.
    up = make_settings(sqlite_url, tmp_path, spool_dir=spool)
    async with TestClient(server(up, autostart=True)) as client:
        services = client.app[SERVICES]
        for _ in range(200):
            if not list(spool.glob("*.spool")):
                break
            await asyncio.sleep(0.05)
        async with services.store.transaction() as uow:
            rows = (await uow.session.execute(select(t.InboxRow))).scalars().all()
        assert [r.event_id.split(":")[-1] for r in rows] == ["spooled-event-0001"]  # per session
        assert rows[0].payload is not None and rows[0].payload["text"] == CANARY
    assert list(spool.glob("*.spool")) == []


async def test_without_a_spool_the_webhook_answers_503_so_the_platform_redelivers(tmp_path: Path) -> None:
    down = with_metrics(make_settings(DOWN, tmp_path))
    async with TestClient(server(down, migrate=False)) as client:
        body = {"session": session_of("x"), "type": "text", "text": "hi"}
        assert (await client.post("/chat/api/send", json=body)).status == 503
        metrics = await scrape(down)
    assert 'tipbot_events_refused_total{channel="webchat"}' in metrics


def test_an_unwritable_spool_refuses_to_start(tmp_path: Path, sqlite_url: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings = make_settings(sqlite_url, tmp_path, spool_dir=blocker / "spool")
    with pytest.raises(ConfigError, match="not writable"):
        create_app(settings)
    out = cli_process.run(
        ["serve", "--port", "1"],
        env={
            "PATH": "/usr/bin:/bin",
            "TIPBOT_DATABASE_URL": sqlite_url,
            "TIPBOT_SECRET_KEY": SECRET,
            "TIPBOT_STORY_PAUSE": "0",
            "TIPBOT_SPOOL_DIR": str(blocker / "spool"),
        },
        cwd=ROOT,
        timeout=60,
    )
    assert out.returncode != 0
    assert "not writable" in out.stderr.decode()


async def test_metrics_count_events_sends_and_tips_by_channel(settings: Settings) -> None:
    settings = with_metrics(settings)
    async with TestClient(server(settings, autostart=True)) as client:
        session = session_of("metrics-volunteer")
        for n, text in enumerate(("สวัสดี", "สวัสดี")):
            body = {"session": session, "id": f"metrics-event-{n:04d}", "type": "text", "text": text}
            assert (await client.post("/chat/api/send", json=body)).status == 200
        # the same event again: a duplicate, not a new event
        body = {"session": session, "id": "metrics-event-0000", "type": "text", "text": "สวัสดี"}
        assert (await client.post("/chat/api/send", json=body)).status == 200
        services = client.app[SERVICES]
        for _ in range(200):
            async with services.store.transaction() as uow:
                counts = await uow.inbox.counts()
                sent = (
                    await uow.session.execute(select(t.OutboxRow).where(t.OutboxRow.status == "sent"))
                ).all()
            if counts.get("done") == 2 and len(sent) == 2:
                break
            await asyncio.sleep(0.05)
        text = await scrape(settings)
    values = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    assert values['tipbot_queue_depth{queue="inbox",status="done"}'] == 2
    assert values['tipbot_queue_depth{queue="outbox",status="sent"}'] == 2
    # process counters only grow; other tests in this process may have added to them
    assert values['tipbot_events_received_total{channel="webchat"}'] >= 2
    assert values['tipbot_events_duplicate_total{channel="webchat"}'] >= 1
    assert values['tipbot_events_processed_total{channel="webchat",outcome="done"}'] >= 2
    assert values['tipbot_sends_total{channel="webchat",error_class="",outcome="sent"}'] >= 2
    assert values['tipbot_event_to_reply_seconds_count{channel="webchat"}'] >= 2
    assert session not in text and "สวัสดี" not in text


async def test_a_stopping_server_answers_503_to_new_requests(settings: Settings) -> None:
    async with TestClient(server(settings)) as client:
        await client.app[DRAINING].begin(client.app)
        body = {"session": session_of("late"), "type": "text", "text": "hi"}
        r = await client.post("/chat/api/send", json=body)
        assert r.status == 503 and r.headers["Retry-After"]
        assert (await client.get("/healthz")).status == 503  # the load balancer stops routing here
        async with client.app[SERVICES].store.transaction() as uow:
            assert await uow.inbox.counts() == {}


def test_json_logs_are_one_object_per_line_with_the_record_fields() -> None:
    record = logging.LogRecord(
        "tipbot.dispatcher", logging.INFO, __file__, 1, "tip %s stored", ("TB-X",), None
    )
    record.channel = "line"
    entry = json.loads(JsonFormatter().format(record))
    assert entry["message"] == "tip TB-X stored"
    assert entry["level"] == "INFO" and entry["logger"] == "tipbot.dispatcher" and entry["channel"] == "line"
    assert entry["time"].endswith("+00:00")
