"""The fake LINE platform itself answers like LINE: checked with the real SDK and raw HTTP."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from linebot.v3.messaging import (
    AsyncApiClient,
    AsyncMessagingApi,
    Configuration,
    MulticastRequest,
    TextMessage,
)
from linebot.v3.messaging.exceptions import ApiException

from tests.fakes.line import ERR_RETRY_ACCEPTED, FakeLine


@pytest.fixture
async def api(line: FakeLine) -> AsyncIterator[AsyncMessagingApi]:
    async with AsyncApiClient(Configuration(host=line.url, access_token=line.access_token)) as client:
        yield AsyncMessagingApi(client)


async def raw_post(line: FakeLine, path: str, body: Any, **headers: str) -> tuple[int, dict[str, Any]]:
    sent = {"Authorization": f"Bearer {line.access_token}", "Content-Type": "application/json", **headers}
    async with (
        aiohttp.ClientSession() as session,
        session.post(line.url + path, data=json.dumps(body), headers=sent) as response,
    ):
        return response.status, await response.json()


def text(value: str = "x", **extra: Any) -> dict[str, Any]:
    return {"type": "text", "text": value, **extra}


async def test_bearer_token_is_required(line: FakeLine) -> None:
    status, body = await raw_post(line, "/v2/bot/message/push", {}, Authorization="Bearer nope")
    assert status == 401
    assert "Authentication failed" in body["message"]


async def test_quota_through_the_sdk(line: FakeLine, api: AsyncMessagingApi) -> None:
    quota = await api.get_message_quota()
    assert (quota.type, quota.value) == ("limited", line.quota)


async def test_multicast_retry_key_and_recipient_limit(line: FakeLine, api: AsyncMessagingApi) -> None:
    users = [line.user().user_id for _ in range(3)]
    retry_key = str(uuid.uuid4())
    request = MulticastRequest(to=users, messages=[TextMessage(text="ประกาศ")])
    await api.multicast(request, x_line_retry_key=retry_key)
    with pytest.raises(ApiException) as repeated:
        await api.multicast(request, x_line_retry_key=retry_key)
    assert repeated.value.status == 409
    assert json.loads(repeated.value.body)["message"] == ERR_RETRY_ACCEPTED
    assert repeated.value.headers["x-line-accepted-request-id"]
    assert all(line.texts(u) == ["ประกาศ"] for u in users)
    assert line.quota_used == 3

    too_many = [line.user().user_id for _ in range(501)]
    status, _ = await raw_post(line, "/v2/bot/message/multicast", {"to": too_many, "messages": [text()]})
    assert status == 400


@pytest.mark.parametrize(
    ("messages", "problem"),
    [
        pytest.param([text()] * 6, "messages", id="six-messages"),
        pytest.param([text("ก" * 5001)], "messages[0].text", id="text-over-5000"),
        pytest.param([text("🍎" * 2501)], "messages[0].text", id="emoji-count-twice"),
        pytest.param([text("")], "messages[0].text", id="empty-text"),
        pytest.param(
            [
                text(
                    quickReply={
                        "items": [{"type": "action", "action": {"type": "location", "label": "x"}}] * 14
                    }
                )
            ],
            "messages[0].quickReply.items",
            id="fourteen-quick-replies",
        ),
        pytest.param(
            [
                text(
                    quickReply={
                        "items": [{"type": "action", "action": {"type": "location", "label": "ก" * 21}}]
                    }
                )
            ],
            "messages[0].quickReply.items[0].action.label",
            id="label-over-20",
        ),
        pytest.param(
            [
                text(
                    quickReply={
                        "items": [
                            {
                                "type": "action",
                                "action": {"type": "postback", "label": "x", "data": "d" * 301},
                            }
                        ]
                    }
                )
            ],
            "messages[0].quickReply.items[0].action.data",
            id="postback-data-over-300",
        ),
    ],
)
async def test_message_limits_answer_like_line(line: FakeLine, messages: list[Any], problem: str) -> None:
    user = line.user()
    status, body = await raw_post(line, "/v2/bot/message/push", {"to": user.user_id, "messages": messages})
    assert status == 400
    assert problem in [d["property"] for d in body["details"]]
    assert line.texts(user.user_id) == []


async def test_exactly_at_the_limits_is_accepted(line: FakeLine) -> None:
    user = line.user()
    items = [{"type": "action", "action": {"type": "postback", "label": "ก" * 20, "data": "d" * 300}}] * 13
    messages = [text("🍎" * 2500)] * 4 + [text("ข" * 5000, quickReply={"items": items})]
    status, _ = await raw_post(line, "/v2/bot/message/push", {"to": user.user_id, "messages": messages})
    assert status == 200
    assert len(line.texts(user.user_id)) == 5


async def test_reply_rejects_retry_keys_and_reused_tokens(line: FakeLine) -> None:
    user = line.user()
    token = user.text("x")["replyToken"]
    body = {"replyToken": token, "messages": [text()]}
    status, _ = await raw_post(line, "/v2/bot/message/reply", body, **{"X-Line-Retry-Key": str(uuid.uuid4())})
    assert status == 400
    assert (await raw_post(line, "/v2/bot/message/reply", body))[0] == 200
    status, answer = await raw_post(line, "/v2/bot/message/reply", body)
    assert (status, answer["message"]) == (400, "Invalid reply token")
    assert line.texts(user.user_id) == ["x"]


async def test_push_retry_key_must_be_a_uuid(line: FakeLine) -> None:
    user = line.user()
    body = {"to": user.user_id, "messages": [text()]}
    status, _ = await raw_post(line, "/v2/bot/message/push", body, **{"X-Line-Retry-Key": "not-a-uuid"})
    assert status == 400
