"""Daily digest e-mails: double opt-in addresses, a persistent outbox, SMTP delivery, and the
signed links (confirm, one-click unsubscribe) served by watchbot's HTTP server."""
