"""`/email` in Telegram: `/email ADDRESS` asks for the digest by e-mail (double opt-in),
`/email 123456` confirms with the code from the mail, `/email` shows the state, `/email off`
forgets the address. Private chats only: an address typed in a group is seen by everyone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session
from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from bot.config import Settings
from bot.email import subscriptions
from bot.email.addresses import InvalidAddress, normalize
from bot.email.service import EmailService
from bot.telegram import html
from bot.telegram import subscribers as telegram_subscribers
from bot.telegram.i18n import pick_language, t
from storage.db import session_scope
from storage.email import ACTIVE, BOUNCED, PENDING

log = logging.getLogger(__name__)
T = TypeVar("T")

_EN = {
    "private_only": "For your privacy, send /email in a private chat with the bot.",
    "not_configured": "E-mail digests are not set up on this bot.",
    "invalid": "That address does not look right: {reason}",
    "taken": "That address is subscribed already.",
    "queued": (
        "A confirmation e-mail is on its way to {address}. Open its link, or send the code "
        "from it here: /email 123456. Nothing else is sent before you confirm."
    ),
    "recently_sent": "A confirmation e-mail was sent to {address} a few minutes ago.",
    "too_soon": "You asked for a confirmation e-mail minutes ago. Try again in a few minutes.",
    "status_none": "No e-mail address is set. /email name@example.org adds one.",
    "status_pending": (
        "{address} is waiting for confirmation: open the link in the e-mail, or send "
        "/email CODE. /email off cancels."
    ),
    "status_active": (
        "The daily digest also goes to {address}, at your digest time. /email off stops it."
    ),
    "status_bounced": (
        "E-mails to {address} were refused by its server. Send /email with a working address."
    ),
    "status_unsubscribed": "{address} was unsubscribed. Send /email {address} to start again.",
    "confirmed": "Confirmed: the daily digest goes to {address} from now on.",
    "code_wrong": "That code is not right. Check the e-mail and try again.",
    "code_locked": "Too many wrong codes. Send /email with your address to get a new one.",
    "code_none": "There is no address waiting for a code.",
    "removed": "Done: {address} is forgotten and gets no more e-mails.",
}
_AR = {
    "private_only": "حفاظاً على خصوصيتك، أرسل /email في محادثة خاصة مع البوت.",
    "not_configured": "إرسال الملخص بالبريد الإلكتروني غير مفعّل في هذا البوت.",
    "invalid": "هذا العنوان لا يبدو صحيحاً: {reason}",
    "taken": "هذا العنوان مشترك بالفعل.",
    "queued": (
        "رسالة تأكيد في طريقها إلى {address}. افتح الرابط فيها، أو أرسل الرمز الموجود فيها "
        "هنا: /email 123456. لن يُرسل أي شيء آخر قبل التأكيد."
    ),
    "recently_sent": "أُرسلت رسالة تأكيد إلى {address} قبل دقائق.",
    "too_soon": "طلبت رسالة تأكيد قبل دقائق. حاول مجدداً بعد بضع دقائق.",
    "status_none": "لا يوجد عنوان بريد. أضف واحداً بـ /email name@example.org.",
    "status_pending": (
        "{address} بانتظار التأكيد: افتح الرابط في الرسالة أو أرسل /email الرمز. "
        "/email off للإلغاء."
    ),
    "status_active": "يُرسل الملخص اليومي أيضاً إلى {address} في وقت الملخص. /email off لإيقافه.",
    "status_bounced": "رفض خادم البريد الرسائل إلى {address}. أرسل /email مع عنوان يعمل.",
    "status_unsubscribed": "أُلغي اشتراك {address}. أرسل /email {address} للبدء من جديد.",
    "confirmed": "تم التأكيد: سيصل الملخص اليومي إلى {address} من الآن.",
    "code_wrong": "الرمز غير صحيح. تحقق من الرسالة وحاول مجدداً.",
    "code_locked": "رموز خاطئة كثيرة. أرسل /email مع عنوانك للحصول على رمز جديد.",
    "code_none": "لا يوجد عنوان بانتظار رمز.",
    "removed": "تم: حُذف {address} ولن تصله رسائل بعد الآن.",
}
_STRINGS = {"en": _EN, "ar": _AR}
OFF_WORDS = ("off", "stop", "remove", "delete")


def say(lang: str, key: str, **values: str) -> str:
    """Our string in `lang`; `values` are escaped for Telegram HTML here."""
    template = _STRINGS.get(lang, _EN).get(key) or _EN[key]
    return template.format(**{k: html.escape(v) for k, v in values.items()})


class EmailCommand:
    """The /email handler; queued confirmation mails are sent at once, not at the next tick."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self._tasks: set[asyncio.Task[object]] = set()

    async def db(self, fn: Callable[[Session], T]) -> T:
        def work() -> T:
            with session_scope(self.engine) as session:
                return fn(session)

        return await asyncio.to_thread(work)

    def _send_soon(self) -> None:
        task: asyncio.Task[object] = asyncio.create_task(
            EmailService(self.settings, self.engine).drain()
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def email(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        chat, user, message = update.effective_chat, update.effective_user, update.effective_message
        if chat is None or user is None or message is None:
            return
        owner = await self.db(lambda s: telegram_subscribers.get(s, chat.id))
        lang = owner.language if owner else pick_language(user.language_code)
        if chat.type != ChatType.PRIVATE:
            text = say(lang, "private_only")
        elif self.settings.smtp_host is None:
            text = say(lang, "not_configured")
        elif owner is None or owner.id is None:
            text = t(lang, "not_subscribed")
        else:
            text = await self._answer(owner.id, lang, [a for a in context.args or [] if a])
        await message.reply_text(text)

    async def _answer(self, owner_id: int, lang: str, args: list[str]) -> str:
        if not args:
            return await self._status(owner_id, lang)
        arg = args[0].strip()
        if arg.lower() in OFF_WORDS:
            return await self._remove(owner_id, lang)
        if arg.isdigit():
            result = await self.db(lambda s: subscriptions.confirm_code(s, owner_id, arg))
            if result != "ok":
                return say(lang, f"code_{result}")
            sub = await self.db(lambda s: subscriptions.of_subscriber(s, owner_id))
            return say(lang, "confirmed", address=sub.address if sub else "")
        try:
            address = normalize(arg)
        except InvalidAddress as err:
            return say(lang, "invalid", reason=str(err))

        def add(s: Session) -> subscriptions.Added:
            _, outcome = subscriptions.add(s, address, self.settings, subscriber_id=owner_id)
            return outcome

        try:
            outcome = await self.db(add)
        except subscriptions.AlreadySubscribed:
            return say(lang, "taken")
        if outcome is subscriptions.Added.RECENTLY_SENT:
            return say(lang, "recently_sent", address=address)
        if outcome is subscriptions.Added.TOO_SOON:
            return say(lang, "too_soon")
        self._send_soon()
        return say(lang, "queued", address=address)

    async def _status(self, owner_id: int, lang: str) -> str:
        sub = await self.db(lambda s: subscriptions.of_subscriber(s, owner_id))
        if sub is None:
            return say(lang, "status_none")
        key = {PENDING: "status_pending", ACTIVE: "status_active", BOUNCED: "status_bounced"}
        return say(lang, key.get(sub.status, "status_unsubscribed"), address=sub.address)

    async def _remove(self, owner_id: int, lang: str) -> str:
        def remove(s: Session) -> str | None:
            sub = subscriptions.of_subscriber(s, owner_id)
            if sub is None:
                return None
            address = sub.address
            subscriptions.remove(s, sub)
            return address

        address = await self.db(remove)
        return say(lang, "removed", address=address) if address else say(lang, "status_none")
