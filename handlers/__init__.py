"""Platform adapters: verify, parse and map webhooks to Inbound; render and send Outbound."""
