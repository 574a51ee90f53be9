"""Message catalogs: th.toml is the source of truth, en.toml its English twin."""
