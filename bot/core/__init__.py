"""The pure core: model, forms and their walker, conversation flows, catalog, routing.

No I/O, no clock, no randomness, nothing async: storage and channels are reached through `ports`
by the runtime."""
