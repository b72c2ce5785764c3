"""Subscriber commands and buttons: /start, /settings, /latest, /search, /pause, /resume,
/stop, /delete_me, /channel, /timezone, feedback buttons and chat-membership changes.

Command replies go straight to Telegram (they answer the person who just asked); pushed news
goes through the outbox. Database work runs in a thread so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlmodel import Session
from telegram import CallbackQuery, ChatFullInfo, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot.telegram import html, keyboards, messages, outbox, subscribers
from bot.telegram.i18n import LANGUAGES, pick_language, t
from storage.db import session_scope
from storage.delivery import MODES, Subscriber

log = logging.getLogger(__name__)
T = TypeVar("T")
Context = ContextTypes.DEFAULT_TYPE
ADMIN_STATUSES = (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)
LATEST_DEFAULT, LATEST_MAX = 5, 30


class Base:
    """Shared plumbing: database access and permission checks."""

    def __init__(self, engine: Engine, labels: Mapping[str, str]) -> None:
        self.engine = engine
        self.configured_labels = dict(labels)

    async def db(self, fn: Callable[[Session], T]) -> T:
        def work() -> T:
            with session_scope(self.engine) as session:
                return fn(session)

        return await asyncio.to_thread(work)

    async def labels(self) -> dict[str, str]:
        return await self.db(lambda s: subscribers.known_topics(s, self.configured_labels))

    async def language(self, update: Update) -> str:
        """The chat's chosen language, else the user's Telegram language."""
        chat = update.effective_chat
        if chat is not None:
            sub = await self.db(lambda s: subscribers.get(s, chat.id))
            if sub is not None:
                return sub.language
        user = update.effective_user
        return pick_language(user.language_code if user else None)

    @staticmethod
    async def is_chat_admin(context: Context, chat_id: int, user_id: int) -> bool:
        """Whether the user may manage this chat's subscription (always so in their own chat)."""
        if chat_id == user_id:
            return True
        try:
            member = await context.bot.get_chat_member(chat_id, user_id)
        except TelegramError:
            return False
        return member.status in ADMIN_STATUSES

    async def may_manage(self, update: Update, context: Context) -> bool:
        chat, user, message = update.effective_chat, update.effective_user, update.effective_message
        if chat is None or user is None:
            return False
        if chat.type == ChatType.PRIVATE:
            return True
        # An anonymous group admin writes as the group itself.
        if message is not None and message.sender_chat is not None:
            return message.sender_chat.id == chat.id
        return await self.is_chat_admin(context, chat.id, user.id)


async def reply(update: Update, text: str, **kwargs: object) -> Message | None:
    message = update.effective_message
    if message is None:
        return None
    return await message.reply_text(text, **kwargs)  # type: ignore[arg-type]


class SubscriberHandlers(Base):
    """What an advocate, or a group admin, can do."""

    async def start(self, update: Update, context: Context) -> None:
        chat, user = update.effective_chat, update.effective_user
        if chat is None or user is None:
            return
        lang = pick_language(user.language_code)
        if not await self.may_manage(update, context):
            await reply(update, t(lang, "group_admin_only"))
            return
        is_private = chat.type == ChatType.PRIVATE
        sub, new = await self.db(
            lambda s: subscribers.subscribe(
                s,
                chat.id,
                chat.type,
                lang,
                title=None if is_private else chat.title,
                added_by=None if is_private else user.id,
            )
        )
        if not new:
            await reply(update, t(sub.language, "welcome_back"))
        elif is_private:
            await reply(update, t(lang, "welcome", time=sub.digest_time, tz=sub.timezone))
        else:
            await reply(update, t(lang, "welcome_group", time=sub.digest_time, tz=sub.timezone))

    async def help(self, update: Update, context: Context) -> None:
        lang = await self.language(update)
        intro = t(lang, "welcome").split("\n\n")[0]
        await reply(update, f"{intro}\n\n{t(lang, 'help')}")

    async def _set_state(
        self, update: Update, context: Context, *, active: bool, paused: bool, done: str
    ) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        lang = await self.language(update)
        if not await self.may_manage(update, context):
            await reply(update, t(lang, "group_admin_only"))
            return
        found = await self.db(
            lambda s: subscribers.set_state(s, chat.id, active=active, paused=paused)
        )
        await reply(update, t(lang, done if found else "not_subscribed"))

    async def pause(self, update: Update, context: Context) -> None:
        await self._set_state(update, context, active=True, paused=True, done="paused")

    async def resume(self, update: Update, context: Context) -> None:
        await self._set_state(update, context, active=True, paused=False, done="resumed")

    async def stop(self, update: Update, context: Context) -> None:
        await self._set_state(update, context, active=False, paused=False, done="stopped")

    async def delete_me(self, update: Update, context: Context) -> None:
        user = update.effective_user
        if user is None:
            return
        lang = await self.language(update)
        found = await self.db(lambda s: subscribers.erase_person(s, user.id))
        await reply(update, t(lang, "deleted" if found else "nothing_to_delete"))

    async def latest(self, update: Update, context: Context) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        count = LATEST_DEFAULT
        if context.args:
            with contextlib.suppress(ValueError):
                count = max(1, min(LATEST_MAX, int(context.args[0])))

        def query(s: Session) -> tuple[Subscriber | None, list[messages.Entry]]:
            sub = subscribers.get(s, chat.id)
            return sub, subscribers.latest(s, sub, count)

        sub, found = await self.db(query)
        lang = sub.language if sub else await self.language(update)
        if not found:
            await reply(update, t(lang, "latest_none"))
            return
        tz = sub.timezone if sub else "UTC"
        for part in messages.render_list(t(lang, "latest_title"), found, tz):
            await reply(update, part)

    async def search(self, update: Update, context: Context) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        lang = await self.language(update)
        words = [w for w in (context.args or []) if w.strip()]
        if not words:
            await reply(update, t(lang, "search_usage"))
            return
        found = await self.db(lambda s: subscribers.search(s, words))
        if not found:
            await reply(update, t(lang, "search_none"))
            return
        sub = await self.db(lambda s: subscribers.get(s, chat.id))
        title = t(lang, "search_title")
        for part in messages.render_list(title, found, sub.timezone if sub else "UTC"):
            await reply(update, part)

    async def timezone(self, update: Update, context: Context) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        lang = await self.language(update)
        if not await self.may_manage(update, context):
            await reply(update, t(lang, "group_admin_only"))
            return
        name = (context.args or [""])[0]
        if not name or messages.zone(name).key != name:
            await reply(update, t(lang, "tz_invalid"))
            return

        def save(s: Session) -> bool:
            sub = subscribers.get(s, chat.id)
            if sub is None:
                return False
            sub.timezone = name
            s.add(sub)
            return True

        found = await self.db(save)
        text = t(lang, "tz_set", tz=html.escape(name)) if found else t(lang, "not_subscribed")
        await reply(update, text)

    async def channel(self, update: Update, context: Context) -> None:
        """/channel @name: an admin subscribes a channel or group from a private chat."""
        user, chat = update.effective_user, update.effective_chat
        if user is None or chat is None:
            return
        lang = await self.language(update)
        if chat.type != ChatType.PRIVATE or not context.args:
            await reply(update, t(lang, "channel_usage"))
            return
        ref = context.args[0]
        try:
            target = await context.bot.get_chat(int(ref) if ref.lstrip("-").isdigit() else ref)
        except TelegramError:
            await reply(update, t(lang, "channel_not_found"))
            return
        if target.type == ChatType.PRIVATE:
            await reply(update, t(lang, "channel_usage"))
            return
        if not await self.is_chat_admin(context, target.id, user.id):
            await reply(update, t(lang, "channel_not_admin"))
            return
        if not await self._bot_can_post(context, target):
            await reply(update, t(lang, "channel_bot_cannot_post"))
            return
        sub, _ = await self.db(
            lambda s: subscribers.subscribe(
                s, target.id, target.type, lang, title=target.title, added_by=user.id
            )
        )
        text, markup = keyboards.main_menu(sub, await self.labels())
        await reply(update, text, reply_markup=markup)

    @staticmethod
    async def _bot_can_post(context: Context, target: ChatFullInfo) -> bool:
        try:
            me = await context.bot.get_chat_member(target.id, context.bot.id)
        except TelegramError:
            return False
        if target.type != ChatType.CHANNEL:
            return me.status not in (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED)
        return me.status in ADMIN_STATUSES and bool(getattr(me, "can_post_messages", False))

    async def member_changed(self, update: Update, context: Context) -> None:
        """The bot was blocked, kicked or removed: stop sending there."""
        change = update.my_chat_member
        if change is None:
            return
        status = change.new_chat_member.status
        if status in (ChatMemberStatus.LEFT, ChatMemberStatus.BANNED):
            chat_id = change.chat.id
            await self.db(lambda s: outbox.drop_chat(s, chat_id, f"bot status {status}"))

    async def feedback(self, update: Update, context: Context) -> None:
        """👍/👎 on an alert: store it, answer at once."""
        query = update.callback_query
        if query is None or query.data is None or query.message is None:
            return
        _, item, vote = query.data.split(":", 2)
        chat_id = query.message.chat.id
        value = 1 if vote == "up" else -1
        result = await self.db(lambda s: subscribers.record_feedback(s, chat_id, int(item), value))
        lang = await self.language(update)
        key = {"ok": "feedback_up" if value > 0 else "feedback_down", "no_item": "feedback_gone"}
        await query.answer(t(lang, key.get(result, "not_subscribed")))

    async def settings(self, update: Update, context: Context) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        lang = await self.language(update)
        if not await self.may_manage(update, context):
            await reply(update, t(lang, "group_admin_only"))
            return
        sub = await self.db(lambda s: subscribers.get(s, chat.id))
        if sub is None:
            await reply(update, t(lang, "not_subscribed"))
            return
        text, markup = keyboards.main_menu(sub, await self.labels())
        await reply(update, text, reply_markup=markup)

    async def settings_button(self, update: Update, context: Context) -> None:
        """Every tap in /settings: check the right to change, apply, redraw the screen."""
        query = update.callback_query
        if query is None or query.data is None:
            return
        _, chat, action, *rest = query.data.split(":", 3)
        chat_id, value = int(chat), (rest[0] if rest else "")
        if not await self.is_chat_admin(context, chat_id, query.from_user.id):
            await query.answer(t(await self.language(update), "group_admin_only"), show_alert=True)
            return
        labels = await self.labels()
        sub = await self.db(lambda s: apply_setting(s, chat_id, action, value, labels))
        if sub is None:
            await query.answer(t(await self.language(update), "not_subscribed"), show_alert=True)
            return
        changed = action in ("topic", "m", "h", "z", "l", "previews")
        await query.answer(t(sub.language, "saved") if changed else None)
        if action == "done":
            await edit(query, t(sub.language, "settings_closed"))
            return
        text, markup = screen_for(sub, action, labels)
        await edit(query, text, markup)


async def edit(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    """Redraw a message in place; tapping the same choice twice is not an error."""
    try:
        await query.edit_message_text(text, reply_markup=markup)
    except BadRequest as err:
        if "not modified" not in str(err).lower():
            raise


def apply_setting(
    session: Session, chat_id: int, action: str, value: str, labels: Mapping[str, str]
) -> Subscriber | None:
    """Apply one settings tap; unknown values are ignored (buttons can be old)."""
    sub = subscribers.get(session, chat_id)
    if sub is None:
        return None
    if action == "topic":
        topic = keyboards.resolve_topic(value, labels)
        if topic is not None:
            off = set(sub.topics_off)
            off.symmetric_difference_update({topic})
            sub.topics_off = sorted(off)
    elif action == "m" and value in MODES:
        sub.mode = value
    elif action == "h" and value.isdigit() and 0 <= int(value) < 24:
        sub.digest_time = f"{int(value):02d}:00"
    elif action == "z" and value.isdigit() and int(value) < len(keyboards.TIMEZONES):
        sub.timezone = keyboards.TIMEZONES[int(value)]
    elif action == "l" and value in LANGUAGES:
        sub.language = value
    elif action == "previews":
        sub.link_previews = not sub.link_previews
    session.add(sub)
    return sub


def screen_for(sub: Subscriber, action: str, labels: Mapping[str, str]) -> keyboards.Screen:
    """Which screen to show after a tap: stay in the topic list, else back to the menu."""
    if action in ("topics", "topic"):
        return keyboards.topics_menu(sub, labels)
    if action == "mode":
        return keyboards.mode_menu(sub)
    if action == "time":
        return keyboards.time_menu(sub)
    if action == "tz":
        return keyboards.tz_menu(sub)
    if action == "lang":
        return keyboards.lang_menu(sub)
    return keyboards.main_menu(sub, labels)
