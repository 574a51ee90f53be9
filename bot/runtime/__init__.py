"""The loops and desks that do I/O: dispatcher, relay, scheduler, broadcaster, worker, heartbeat,
and the desks that apply effects to storage. They reach storage and channels only through
`bot.core.ports`."""
