"""Process metrics in Prometheus form, updated by the pipeline as it works.

Counters and histograms belong to one process (a scrape of each process adds up); the queue and
tip gauges are read from the shared database when `/metrics` is scraped. Labels never carry a
chat id, a user id or message text: only channel names, outcomes, error classes and regions.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

EVENTS_RECEIVED = Counter(
    "tipbot_events_received", "Events stored in the inbox (new ones)", ["channel"], registry=REGISTRY
)
EVENTS_DUPLICATE = Counter(
    "tipbot_events_duplicate", "Events dropped as redeliveries of stored ones", ["channel"], registry=REGISTRY
)
EVENTS_REFUSED = Counter(
    "tipbot_events_refused",
    "Events answered 503 because the database was unavailable (the platform redelivers)",
    ["channel"],
    registry=REGISTRY,
)
EVENTS_SPOOLED = Counter(
    "tipbot_events_spooled",
    "Events written to the disk spool while the database was unavailable",
    ["channel"],
    registry=REGISTRY,
)
EVENTS_PROCESSED = Counter(
    "tipbot_events_processed",
    "Inbox rows handled by the dispatcher, by outcome (done, ignored, failed, retry)",
    ["channel", "outcome"],
    registry=REGISTRY,
)
SENDS = Counter(
    "tipbot_sends",
    "Send attempts by outcome (sent, retry, failed, paused, unreachable, migrated) and error class",
    ["channel", "outcome", "error_class"],
    registry=REGISTRY,
)
TIPS_CREATED = Counter("tipbot_tips_created", "Tips stored", ["region"], registry=REGISTRY)
INGEST_SECONDS = Histogram(
    "tipbot_ingest_seconds",
    "Time to store a request's events durably (what the webhook waits for before answering)",
    ["channel"],
    buckets=_LATENCY,
    registry=REGISTRY,
)
PROCESS_SECONDS = Histogram(
    "tipbot_event_processing_seconds",
    "Time the dispatcher spends on one event (engine and commit)",
    ["channel"],
    buckets=_LATENCY,
    registry=REGISTRY,
)
EVENT_TO_REPLY_SECONDS = Histogram(
    "tipbot_event_to_reply_seconds",
    "From an event being stored to its reply being accepted by the platform",
    ["channel"],
    buckets=_LATENCY,
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    "tipbot_queue_depth",
    "Inbox and outbox rows by status (read at scrape)",
    ["queue", "status"],
    registry=REGISTRY,
)
TIPS = Gauge(
    "tipbot_tips",
    "Stored tips by region and status (read at scrape)",
    ["region", "status"],
    registry=REGISTRY,
)
SPOOL_FILES = Gauge("tipbot_spool_files", "Spooled requests waiting to be replayed", registry=REGISTRY)


def error_class(error: str | None) -> str:
    """A short, low-cardinality name for a send error ("LINE 429", "RetryAfter", "timeout")."""
    if not error:
        return ""
    return error.split(":", 1)[0].strip()[:40]
