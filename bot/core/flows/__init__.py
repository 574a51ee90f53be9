"""One module per flow of the conversation: onboarding, menu, report, resume, staff group, notice.

`bot.core.engine` routes each event to one of them through its ordered table. Pure like the engine.
"""
