"""The URLs in e-mails: confirm and unsubscribe, served by watchbot's own HTTP server."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from bot.config import Settings
from bot.email.tokens import make_token, signing_key
from storage.email import EmailSubscription

UNSUBSCRIBE = "unsubscribe"
CONFIRM_PATH = "/email/confirm/{token}"
UNSUBSCRIBE_PATH = "/email/unsubscribe/{token}"


@dataclass(frozen=True)
class Links:
    public_url: str
    key: bytes

    @classmethod
    def load(cls, session: Session, settings: Settings) -> Links:
        return cls(settings.public_url.rstrip("/"), signing_key(session, settings))

    def unsubscribe_token(self, sub: EmailSubscription) -> str:
        return make_token(self.key, UNSUBSCRIBE, sub)

    def unsubscribe_url(self, sub: EmailSubscription) -> str:
        path = UNSUBSCRIBE_PATH.format(token=self.unsubscribe_token(sub))
        return self.public_url + path

    def confirm_url(self, sub: EmailSubscription) -> str:
        assert sub.confirm_token is not None
        return self.public_url + CONFIRM_PATH.format(token=sub.confirm_token)
