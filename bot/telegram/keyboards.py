"""The /settings screens: text plus inline keyboard for each, built from a subscriber.

Callback data is `s:<chat id>:<action>[:<value>]` so an admin can manage a channel's settings
from a private chat; Telegram caps it at 64 bytes, hence short tokens for long topic ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.telegram import html
from bot.telegram.i18n import LANGUAGES, t
from storage.delivery import MODES, Subscriber

TIMEZONES = (
    "UTC",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Amsterdam",
    "Europe/Stockholm",
    "Europe/Istanbul",
    "Asia/Damascus",
    "Asia/Beirut",
    "Asia/Amman",
    "Asia/Dubai",
    "America/New_York",
    "America/Toronto",
)

Screen = tuple[str, InlineKeyboardMarkup]


def cb(chat_id: int, action: str, value: str = "") -> str:
    data = f"s:{chat_id}:{action}:{value}" if value else f"s:{chat_id}:{action}"
    assert len(data.encode()) <= 64, data
    return data


def topic_token(topic: str) -> str:
    if len(topic.encode()) <= 36:
        return topic
    return "#" + hashlib.sha1(topic.encode()).hexdigest()[:12]


def resolve_topic(token: str, labels: Mapping[str, str]) -> str | None:
    for topic in labels:
        if topic_token(topic) == token:
            return topic
    return None


def _button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=data)


def _rows(buttons: list[InlineKeyboardButton], width: int) -> list[list[InlineKeyboardButton]]:
    return [buttons[i : i + width] for i in range(0, len(buttons), width)]


def _back(sub: Subscriber) -> list[InlineKeyboardButton]:
    return [_button(t(sub.language, "btn_back"), cb(sub.chat_id, "menu"))]


def main_menu(sub: Subscriber, labels: Mapping[str, str]) -> Screen:
    lang = sub.language
    on = [tp for tp in labels if tp not in sub.topics_off]
    topics = (
        t(lang, "topics_all")
        if len(on) == len(labels)
        else t(lang, "topics_some", on=len(on), total=len(labels))
    )
    text = t(
        lang,
        "settings",
        mode=t(lang, f"mode_{sub.mode}"),
        time=html.escape(sub.digest_time),
        tz=html.escape(sub.timezone),
        lang=LANGUAGES.get(lang, lang),
        previews=t(lang, "on" if sub.link_previews else "off"),
        topics=topics,
        paused=t(lang, "settings_paused") if sub.paused else "",
    ).rstrip()
    if sub.is_group and sub.title:
        text = f"<b>{html.escape(sub.title)}</b>\n{text}"
    c = sub.chat_id
    keyboard = [
        [
            _button(t(lang, "btn_topics"), cb(c, "topics")),
            _button(t(lang, "btn_mode"), cb(c, "mode")),
        ],
        [_button(t(lang, "btn_time"), cb(c, "time")), _button(t(lang, "btn_tz"), cb(c, "tz"))],
        [
            _button(t(lang, "btn_lang"), cb(c, "lang")),
            _button(
                t(lang, "btn_previews", state=t(lang, "on" if sub.link_previews else "off")),
                cb(c, "previews"),
            ),
        ],
        [_button(t(lang, "btn_done"), cb(c, "done"))],
    ]
    return text, InlineKeyboardMarkup(keyboard)


def topics_menu(sub: Subscriber, labels: Mapping[str, str]) -> Screen:
    buttons = [
        _button(
            ("✅ " if tp not in sub.topics_off else "⬜ ") + label,
            cb(sub.chat_id, "topic", topic_token(tp)),
        )
        for tp, label in sorted(labels.items(), key=lambda kv: kv[1].lower())
    ]
    return t(sub.language, "choose_topics"), InlineKeyboardMarkup([*_rows(buttons, 1), _back(sub)])


def mode_menu(sub: Subscriber) -> Screen:
    buttons = [
        _button(
            ("● " if m == sub.mode else "○ ") + t(sub.language, f"mode_{m}"),
            cb(sub.chat_id, "m", m),
        )
        for m in MODES
    ]
    return t(sub.language, "choose_mode"), InlineKeyboardMarkup([*_rows(buttons, 1), _back(sub)])


def time_menu(sub: Subscriber) -> Screen:
    buttons = []
    for hour in range(24):
        value = f"{hour:02d}:00"
        mark = "● " if value == sub.digest_time else ""
        buttons.append(_button(mark + value, cb(sub.chat_id, "h", f"{hour:02d}")))
    text = t(sub.language, "choose_time", tz=html.escape(sub.timezone))
    return text, InlineKeyboardMarkup([*_rows(buttons, 6), _back(sub)])


def tz_menu(sub: Subscriber) -> Screen:
    buttons = [
        _button(("● " if z == sub.timezone else "") + z, cb(sub.chat_id, "z", str(i)))
        for i, z in enumerate(TIMEZONES)
    ]
    return t(sub.language, "choose_tz"), InlineKeyboardMarkup([*_rows(buttons, 2), _back(sub)])


def lang_menu(sub: Subscriber) -> Screen:
    buttons = [
        _button(("● " if code == sub.language else "") + name, cb(sub.chat_id, "l", code))
        for code, name in LANGUAGES.items()
    ]
    return t(sub.language, "choose_lang"), InlineKeyboardMarkup([buttons, _back(sub)])
