"""Telegram delivery: subscribers, alerts, digests, admin commands and a flood-safe outbox."""
