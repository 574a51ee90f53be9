"""Telegram webhook administration: point Telegram at our webhook or away from it, publish the command menus.

Run by the command line and at start-up; owns no intake or sending, which live in `handlers.telegram`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from telegram import BotCommand, BotCommandScopeAllGroupChats

from handlers.telegram import ALLOWED_UPDATES, TelegramChannel


async def set_webhook(
    channel: TelegramChannel,
    url: str,
    secret: str,
    allowed_updates: Sequence[str] = ALLOWED_UPDATES,
) -> bool:
    """Point Telegram at our webhook, keeping the updates queued while we were away."""
    return await channel.bot.set_webhook(
        url=url,
        secret_token=secret,
        allowed_updates=list(allowed_updates),
        drop_pending_updates=False,
    )


async def delete_webhook(channel: TelegramChannel) -> bool:
    # never drop pending updates: they may be tips sent while we were down
    return await channel.bot.delete_webhook(drop_pending_updates=False)


async def set_commands(
    channel: TelegramChannel, commands: Mapping[str, Sequence[tuple[str, str]]], *, groups: bool = False
) -> None:
    """Publish the command menu per language. Keys are language codes; "" or "default" is the fallback.

    `groups=True` publishes the menu shown in group chats (staff groups) instead of the default one.
    """
    scope = BotCommandScopeAllGroupChats() if groups else None
    for locale, entries in commands.items():
        language = None if locale in ("", "default") else locale
        await channel.bot.set_my_commands(
            [BotCommand(command, description) for command, description in entries],
            scope=scope,
            language_code=language,
        )
