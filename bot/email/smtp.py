"""Talk to the SMTP server (aiosmtplib) and sort its answers into what the outbox must do.

4xx: try again later. 5xx for the recipient: the address may be dead (counted towards a
bounce). Server down, login refused, sender refused: nothing is wrong with the e-mail, so it
waits, however long that takes, without using up its attempts.
"""

from __future__ import annotations

import contextlib
import ssl
from dataclasses import dataclass
from enum import Enum
from types import TracebackType

import aiosmtplib

from bot.config import Settings

TIMEOUT_SECONDS = 60.0


class Outcome(Enum):
    SENT = "sent"
    TEMPORARY = "temporary"  # 4xx: retry with backoff
    PERMANENT = "permanent"  # 5xx for this recipient or this message


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    detail: str = ""


class SmtpUnavailable(Exception):
    """The server cannot take any e-mail now; the message is one sentence, never a secret."""


def _why(err: BaseException) -> str:
    """A short reason: the OS's words for a socket error, else the server's reply."""
    for cause in (err, err.__cause__, err.__context__):
        if isinstance(cause, ssl.SSLError):
            return f"TLS failed: {cause.reason or cause}"
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror.lower()
        if isinstance(cause, TimeoutError | aiosmtplib.SMTPTimeoutError):
            return "timed out"
    if isinstance(err, aiosmtplib.SMTPResponseException):
        return _reply(err.code, err.message)
    return " ".join(str(err).split())[:200] or type(err).__name__


def _reply(code: int, message: str) -> str:
    return f"{code} {' '.join(message.split())}"[:500]


class SmtpClient:
    """One connection, opened on first use and reopened after the server drops it."""

    def __init__(self, settings: Settings, timeout: float = TIMEOUT_SECONDS) -> None:
        if settings.smtp_host is None:
            raise ValueError("WATCHBOT_SMTP_HOST is not set")
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self.security = settings.smtp_security
        self.username = settings.smtp_username
        self._password = settings.smtp_password
        self.timeout = timeout
        self._smtp: aiosmtplib.SMTP | None = None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    async def __aenter__(self) -> SmtpClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None and smtp.is_connected:
            with contextlib.suppress(Exception):
                await smtp.quit()
            smtp.close()

    async def _connection(self) -> aiosmtplib.SMTP:
        if self._smtp is not None and self._smtp.is_connected:
            return self._smtp
        smtp = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            use_tls=self.security == "tls",
            start_tls=self.security == "starttls",
            timeout=self.timeout,
        )
        try:
            await smtp.connect()
            if self.username and self._password is not None:
                await smtp.login(self.username, self._password.get_secret_value())
        except aiosmtplib.SMTPAuthenticationError as err:
            smtp.close()
            raise SmtpUnavailable(
                f"the SMTP server {self.where} refused the login of {self.username!r} "
                f"({_reply(err.code, err.message)}); check WATCHBOT_SMTP_USERNAME/_PASSWORD"
            ) from None
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError, TimeoutError) as err:
            smtp.close()
            raise SmtpUnavailable(
                f"cannot reach the SMTP server {self.where} ({_why(err)}); check "
                "WATCHBOT_SMTP_HOST, _PORT and _SECURITY, or wait for the server to come back"
            ) from None
        self._smtp = smtp
        return smtp

    async def send(self, sender: str, recipient: str, message: str) -> Result:
        """Send one stored message to one recipient; SmtpUnavailable if the server is not
        taking mail at all."""
        smtp = await self._connection()
        try:
            await smtp.sendmail(sender, [recipient], message)
        except aiosmtplib.SMTPRecipientsRefused as err:
            worst = max((r.code for r in err.recipients), default=450)
            detail = "; ".join(_reply(r.code, r.message) for r in err.recipients)
            return Result(Outcome.PERMANENT if worst >= 500 else Outcome.TEMPORARY, detail)
        except aiosmtplib.SMTPSenderRefused as err:
            raise SmtpUnavailable(
                f"the SMTP server {self.where} refused the sender {err.sender!r} "
                f"({_reply(err.code, err.message)}); check WATCHBOT_SMTP_FROM"
            ) from None
        except aiosmtplib.SMTPResponseException as err:
            if err.code in (421, -1) or not smtp.is_connected:
                await self.close()
                raise SmtpUnavailable(
                    f"the SMTP server {self.where} closed the connection "
                    f"({_reply(err.code, err.message)})"
                ) from None
            outcome = Outcome.PERMANENT if err.code >= 500 else Outcome.TEMPORARY
            return Result(outcome, _reply(err.code, err.message))
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as err:
            await self.close()
            raise SmtpUnavailable(
                f"lost the connection to the SMTP server {self.where} ({type(err).__name__})"
            ) from None
        return Result(Outcome.SENT)
