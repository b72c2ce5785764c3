"""The bot's own words in English and Arabic. Feed text is never translated, only our labels.

Strings are Telegram HTML; placeholders are filled with already-escaped values.
"""

from __future__ import annotations

LANGUAGES = {"en": "English", "ar": "العربية"}

_EN: dict[str, str] = {
    "welcome": (
        "<b>Welcome to watchbot.</b>\n"
        "• It watches news feeds for the legal track against the Syrian regime: the ICJ case, "
        "universal-jurisdiction trials, ICC referral, the UN Commission of Inquiry, "
        "detainees and the missing.\n"
        "• It sends an instant alert for the most important items and a digest of the rest.\n"
        "• You choose topics, timing and language in /settings; "
        "/stop or /delete_me at any time.\n\n"
        "You are subscribed: all topics, instant alerts, daily digest at {time} ({tz})."
    ),
    "welcome_group": (
        "<b>watchbot is subscribed in this chat.</b>\n"
        "Digests are posted here daily at {time} ({tz}). Admins can change this with /settings."
    ),
    "welcome_back": "Welcome back: your subscription is active again. /settings to adjust it.",
    "group_admin_only": "Only an admin of this chat can change its subscription.",
    "admin_only": "Sorry, this command is for the bot's administrators only.",
    "not_subscribed": "You are not subscribed. Send /start to subscribe.",
    "paused": "Paused. Nothing will be sent until you send /resume.",
    "resumed": "Resumed. Alerts and digests will be sent again.",
    "stopped": "Unsubscribed. Nothing more will be sent. /start subscribes again.",
    "deleted": "Everything stored about you has been erased. Goodbye, and stay safe.",
    "nothing_to_delete": "Nothing is stored about you.",
    "settings": (
        "<b>Settings</b>\n"
        "Mode: {mode}\nDigest: {time} ({tz})\nLanguage: {lang}\n"
        "Link previews: {previews}\nTopics: {topics}\n{paused}"
    ),
    "settings_paused": "⏸ Paused (/resume)",
    "topics_all": "all",
    "topics_some": "{on} of {total}",
    "btn_topics": "📚 Topics",
    "btn_mode": "🔔 Mode",
    "btn_time": "🕗 Digest time",
    "btn_tz": "🌍 Time zone",
    "btn_lang": "🗣 Language",
    "btn_previews": "🔗 Link previews: {state}",
    "btn_back": "« Back",
    "btn_done": "✓ Done",
    "on": "on",
    "off": "off",
    "mode_instant_daily": "Instant alerts + daily digest",
    "mode_daily": "Daily digest only",
    "mode_weekly": "Weekly digest only (Mondays)",
    "choose_topics": "<b>Topics</b>\nTap a topic to switch it on or off.",
    "choose_mode": "<b>Mode</b>\nHow should news reach you?",
    "choose_time": "<b>Digest time</b>\nLocal time ({tz}) for the digest:",
    "choose_tz": (
        "<b>Time zone</b>\nPick one, or send /timezone Area/City (for example "
        "/timezone Europe/Berlin)."
    ),
    "choose_lang": "<b>Language</b> of the bot's messages:",
    "tz_set": "Time zone set to {tz}.",
    "tz_invalid": "Unknown time zone. Use a name like Europe/Berlin or Asia/Damascus.",
    "saved": "Saved",
    "settings_closed": "Settings saved.",
    "latest_none": "No relevant items yet.",
    "latest_title": "<b>Latest relevant items</b>",
    "search_usage": "Send /search followed by words, for example /search Koblenz trial.",
    "search_none": "Nothing in the archive matches.",
    "search_title": "<b>Search results</b>",
    "feedback_up": "Thanks, noted as useful.",
    "feedback_down": "Thanks, noted as not useful.",
    "feedback_gone": "This item is no longer available.",
    "source": "Source",
    "published": "Published",
    "matched": "Matched",
    "digest_daily": "🗞 <b>Daily digest</b> · {date} · {count} items",
    "digest_weekly": "🗞 <b>Weekly digest</b> · {date} · {count} items",
    "digest_more": "🗞 <i>digest continued ({part}/{parts})</i>",
    "other_topics": "Other",
    "cmd_start": "Subscribe and see what the bot does",
    "cmd_settings": "Topics, mode, digest time, language",
    "cmd_latest": "Recent relevant items: /latest 10",
    "cmd_search": "Search the archive: /search words",
    "cmd_pause": "Pause all messages",
    "cmd_resume": "Resume messages",
    "cmd_stop": "Unsubscribe",
    "cmd_delete_me": "Erase everything stored about you",
    "cmd_help": "What the bot does",
    "channel_usage": (
        "To subscribe a channel or group you administer, add this bot to it as an admin "
        "allowed to post, then send here: /channel @name (or the numeric chat id)."
    ),
    "channel_not_found": "I cannot see that chat. Add the bot to it first, as an admin.",
    "channel_not_admin": "Only an admin of that chat can subscribe it.",
    "channel_bot_cannot_post": "The bot must be an admin of that chat, allowed to post messages.",
    "cmd_channel": "Subscribe a channel or group you administer",
    "cmd_timezone": "Set your time zone: /timezone Europe/Berlin",
    "cmd_email": "Get the daily digest by e-mail: /email name@example.org",
    "help": "Commands: /settings /latest /search /pause /resume /stop /delete_me /channel",
}

_AR: dict[str, str] = {
    "welcome": (
        "<b>مرحباً بك في watchbot.</b>\n"
        "• يتابع مصادر الأخبار حول المسار القانوني ضد النظام السوري: قضية محكمة العدل الدولية، "
        "محاكمات الولاية القضائية العالمية، الإحالة إلى المحكمة الجنائية الدولية، لجنة التحقيق "
        "الأممية، والمعتقلين والمفقودين.\n"
        "• يرسل تنبيهاً فورياً لأهم الأخبار وملخصاً لبقيتها.\n"
        "• اختر المواضيع والتوقيت واللغة عبر /settings؛ ويمكنك استخدام /stop أو /delete_me "
        "في أي وقت.\n\n"
        "تم اشتراكك: جميع المواضيع، تنبيهات فورية، وملخص يومي الساعة {time} ({tz})."
    ),
    "welcome_group": (
        "<b>تم اشتراك هذه المحادثة في watchbot.</b>\n"
        "يُنشر الملخص هنا يومياً الساعة {time} ({tz}). يمكن للمشرفين تغيير ذلك عبر /settings."
    ),
    "welcome_back": "أهلاً بعودتك: اشتراكك فعّال من جديد. استخدم /settings لتعديله.",
    "group_admin_only": "فقط مشرفو هذه المحادثة يمكنهم تغيير اشتراكها.",
    "admin_only": "عذراً، هذا الأمر مخصص لمديري البوت فقط.",
    "not_subscribed": "أنت غير مشترك. أرسل /start للاشتراك.",
    "paused": "تم الإيقاف المؤقت. لن يُرسل شيء حتى ترسل /resume.",
    "resumed": "تم الاستئناف. ستصلك التنبيهات والملخصات مجدداً.",
    "stopped": "تم إلغاء الاشتراك. لن يُرسل شيء بعد الآن. أرسل /start للاشتراك مجدداً.",
    "deleted": "تم حذف كل ما كان محفوظاً عنك. وداعاً، ودمت بأمان.",
    "nothing_to_delete": "لا يوجد شيء محفوظ عنك.",
    "settings": (
        "<b>الإعدادات</b>\n"
        "الوضع: {mode}\nالملخص: {time} ({tz})\nاللغة: {lang}\n"
        "معاينة الروابط: {previews}\nالمواضيع: {topics}\n{paused}"
    ),
    "settings_paused": "⏸ متوقف مؤقتاً (/resume)",
    "topics_all": "الكل",
    "topics_some": "{on} من {total}",
    "btn_topics": "📚 المواضيع",
    "btn_mode": "🔔 الوضع",
    "btn_time": "🕗 وقت الملخص",
    "btn_tz": "🌍 المنطقة الزمنية",
    "btn_lang": "🗣 اللغة",
    "btn_previews": "🔗 معاينة الروابط: {state}",
    "btn_back": "« رجوع",
    "btn_done": "✓ تم",
    "on": "مفعّلة",
    "off": "معطّلة",
    "mode_instant_daily": "تنبيهات فورية + ملخص يومي",
    "mode_daily": "ملخص يومي فقط",
    "mode_weekly": "ملخص أسبوعي فقط (أيام الاثنين)",
    "choose_topics": "<b>المواضيع</b>\nاضغط على موضوع لتفعيله أو تعطيله.",
    "choose_mode": "<b>الوضع</b>\nكيف تريد أن تصلك الأخبار؟",
    "choose_time": "<b>وقت الملخص</b>\nبالتوقيت المحلي ({tz}):",
    "choose_tz": (
        "<b>المنطقة الزمنية</b>\nاختر واحدة، أو أرسل /timezone Area/City (مثلاً "
        "/timezone Asia/Damascus)."
    ),
    "choose_lang": "<b>لغة</b> رسائل البوت:",
    "tz_set": "تم ضبط المنطقة الزمنية على {tz}.",
    "tz_invalid": "منطقة زمنية غير معروفة. استخدم اسماً مثل Europe/Berlin أو Asia/Damascus.",
    "saved": "تم الحفظ",
    "settings_closed": "تم حفظ الإعدادات.",
    "latest_none": "لا توجد أخبار ذات صلة بعد.",
    "latest_title": "<b>أحدث الأخبار ذات الصلة</b>",
    "search_usage": "أرسل /search متبوعاً بكلمات، مثلاً /search محاكمة كوبلنز.",
    "search_none": "لا توجد نتائج في الأرشيف.",
    "search_title": "<b>نتائج البحث</b>",
    "feedback_up": "شكراً، سُجّل كمفيد.",
    "feedback_down": "شكراً، سُجّل كغير مفيد.",
    "feedback_gone": "هذا الخبر لم يعد متاحاً.",
    "source": "المصدر",
    "published": "النشر",
    "matched": "كلمات مطابقة",
    "digest_daily": "🗞 <b>الملخص اليومي</b> · {date} · {count} خبر",
    "digest_weekly": "🗞 <b>الملخص الأسبوعي</b> · {date} · {count} خبر",
    "digest_more": "🗞 <i>تتمة الملخص ({part}/{parts})</i>",
    "other_topics": "أخرى",
    "cmd_start": "الاشتراك ومعرفة ما يفعله البوت",
    "cmd_settings": "المواضيع والوضع ووقت الملخص واللغة",
    "cmd_latest": "أحدث الأخبار ذات الصلة: /latest 10",
    "cmd_search": "البحث في الأرشيف: /search كلمات",
    "cmd_pause": "إيقاف الرسائل مؤقتاً",
    "cmd_resume": "استئناف الرسائل",
    "cmd_stop": "إلغاء الاشتراك",
    "cmd_delete_me": "حذف كل ما هو محفوظ عنك",
    "cmd_help": "ما الذي يفعله البوت",
    "channel_usage": (
        "لاشتراك قناة أو مجموعة تديرها، أضف البوت إليها كمشرف مسموح له بالنشر، ثم أرسل هنا: "
        "/channel @name (أو رقم المحادثة)."
    ),
    "channel_not_found": "لا أستطيع رؤية هذه المحادثة. أضف البوت إليها أولاً كمشرف.",
    "channel_not_admin": "فقط مشرفو تلك المحادثة يمكنهم اشتراكها.",
    "channel_bot_cannot_post": "يجب أن يكون البوت مشرفاً في تلك المحادثة ومسموحاً له بالنشر.",
    "cmd_channel": "اشتراك قناة أو مجموعة تديرها",
    "cmd_timezone": "ضبط منطقتك الزمنية: /timezone Asia/Damascus",
    "cmd_email": "استلام الملخص اليومي بالبريد: /email name@example.org",
    "help": "الأوامر: /settings /latest /search /pause /resume /stop /delete_me /channel",
}

_STRINGS = {"en": _EN, "ar": _AR}


def t(lang: str, key: str, /, **values: object) -> str:
    """The string `key` in `lang` (English if missing), with `values` filled in."""
    table = _STRINGS.get(lang, _EN)
    template = table.get(key) or _EN[key]
    return template.format(**values) if values else template


def pick_language(code: str | None) -> str:
    """The bot language for a Telegram `language_code` such as "ar" or "en-GB"."""
    if code and code.split("-")[0].lower() in _STRINGS:
        return code.split("-")[0].lower()
    return "en"
