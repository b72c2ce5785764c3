"""Check and normalise e-mail addresses, so one mailbox is one row and nothing odd reaches a
header or the SMTP envelope."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


class InvalidAddress(ValueError):
    """Not a usable address; the message says why, in one sentence."""


def normalize(address: str) -> str:
    """The address lower-cased with an ASCII (IDNA) domain, or InvalidAddress.

    No DNS lookups: they are slow, leak which addresses are being added, and fail offline.
    Non-ASCII local parts are refused, since many SMTP servers cannot take them.
    """
    text = address.strip()
    if not text or len(text) > 320:
        raise InvalidAddress("That is not an e-mail address.")
    try:
        result = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as err:
        raise InvalidAddress(str(err)) from None
    return (result.ascii_email or result.normalized).lower()


def mask(address: str) -> str:
    """`a…@example.org`: enough for its owner to recognise, little for anyone else."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}…@{domain}" if domain else "…"
