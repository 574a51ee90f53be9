"""Fake chat platforms served on 127.0.0.1 for tests; they know LINE and Telegram, never tipbot."""
