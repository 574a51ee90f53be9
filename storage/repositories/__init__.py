"""Repositories: the one place that turns rows into core records and back, one module per area.

`SqlStore.transaction()` yields a `SqlUnitOfWork` whose attributes are the areas
(`uow.inbox`, `uow.tips`, `uow.outbox` ...), all on the transaction's session.
"""

from storage.repositories.base import chat_hash, utc
from storage.repositories.inbox import INBOX_CHANNEL
from storage.repositories.outbox import IN_FLIGHT, OUTBOX_LEASE
from storage.repositories.store import SqlStore, SqlUnitOfWork
from storage.repositories.webchat import WEBCHAT_CHANNEL

__all__ = [
    "INBOX_CHANNEL",
    "IN_FLIGHT",
    "OUTBOX_LEASE",
    "WEBCHAT_CHANNEL",
    "SqlStore",
    "SqlUnitOfWork",
    "chat_hash",
    "utc",
]
