"""Text normalisation shared by rule terms and item text.

Rules and articles go through the same function, so a term written once matches
every spelling journalists use: case, accents (French, German), Arabic letter
variants, diacritics and tatweel, HTML leftovers and punctuation.
"""

from __future__ import annotations

import html
import re
import unicodedata

# Marks left after NFKD: Latin accents and Arabic harakat/hamza marks.
_MARKS = re.compile(r"[\u0300-\u036f\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed]+")
# Arabic letter variants folded to one form (alef forms are handled by NFKD + _MARKS).
# A replace chain: much faster than str.translate with a dict on long texts.
_LETTERS: tuple[tuple[str, str], ...] = (
    ("\u0623", "\u0627"),  # alef with hamza above -> alef
    ("\u0625", "\u0627"),  # alef with hamza below -> alef
    ("\u0622", "\u0627"),  # alef with madda -> alef
    ("\u0624", "\u0648"),  # waw with hamza -> waw
    ("\u0626", "\u064a"),  # ya with hamza -> ya
    ("\u0649", "\u064a"),  # alef maqsura -> ya
    ("\u06cc", "\u064a"),  # Persian ya -> ya
    ("\u0629", "\u0647"),  # ta marbuta -> ha
    ("\u06a9", "\u0643"),  # Persian kaf -> kaf
    ("\u0671", "\u0627"),  # alef wasla -> alef
    ("\u0640", ""),  # tatweel
    *((chr(0x0660 + d), str(d)) for d in range(10)),  # Arabic-Indic digits
    *((chr(0x06F0 + d), str(d)) for d in range(10)),  # Persian digits
)
_NON_WORD = re.compile(r"[\W_]+")
# ASCII fast path: lowercase letters and digits kept, every other byte a space.
_ASCII_TABLE = bytes(
    (c | 0x20) if chr(c).isalpha() else c if chr(c).isdigit() else 0x20 for c in range(256)
)
# General path: same for UTF-8 bytes, leaving multi-byte characters (>= 0x80) and
# newlines (word separators of a batch, see normalise) intact.
_UTF8_TABLE = _ASCII_TABLE[:10] + b"\n" + _ASCII_TABLE[11:128] + bytes(range(128, 256))
_NON_ASCII_NON_WORD = re.compile(r"[^\w\x00-\x7f]+")
# Typographic punctuation common in English copy; folding it keeps text ASCII.
_TYPOGRAPHY = ("\u2019", "\u2018", "\u201c", "\u201d", "\u2013", "\u2014", "\u2026", "\xa0")
_SCRIPT_STYLE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^<>]{0,2000}>")
_ARABIC_LETTER = re.compile(r"[\u0621-\u064a]")
_ARABIC_BLOCK = re.compile(r"[\u0600-\u06ff]")
_ARABIC_FORMS = re.compile(r"[\ufb50-\ufdff\ufe70-\ufeff]")  # presentation forms
_HARAKAT = tuple(chr(c) for c in (*range(0x064B, 0x0653), 0x0670))  # vowel signs
# What may stand in front of an Arabic word: wa/fa, then bi/li/ka, then the article;
# or wa/fa + "lil" (li + al). Checked against the text between a space and a term.
ARABIC_CLITICS = re.compile(r"[وف]?(?:[بلك]?(?:ال)?|لل)")
# Attached pronouns that may follow an Arabic word (normalised spelling):
# محاكمته "his trial", محاسبتهم "holding them accountable", تعذيبها "her torture".
ARABIC_SUFFIXES = frozenset(("ه", "ها", "هم", "هما", "هن", "كم", "كما", "نا"))


def strip_html(text: str) -> str:
    """Drop tags and decode entities so markup never produces or hides a match."""
    if "<" in text:
        text = _TAG.sub(" ", _SCRIPT_STYLE.sub(" ", text))
    if "&" in text:
        text = html.unescape(text)
    return text


def _fold(text: str) -> str:
    """Case, compatibility, accent, Arabic-letter and punctuation folding.

    Works character by character, so any whitespace-separated piece of a text
    folds the same alone as inside the text; newlines are kept (they separate the
    words of a batch), other punctuation becomes spaces, spaces are not collapsed.
    """
    text = text.casefold()
    arabic = _ARABIC_BLOCK.search(text) is not None
    if arabic:  # fold letter variants first: cheaper than decomposing them
        text = _fold_letters(text)
    # Compatibility decomposition (NFKD: same equivalence as NFKC) splits accents
    # off letters; the marks are then dropped. Arabic news rarely needs it.
    folded = unicodedata.normalize("NFKD", text)
    if folded != text:
        forms = _ARABIC_FORMS.search(text) is not None  # decompose to plain letters
        text = _MARKS.sub("", folded)
        if forms:
            text = _fold_letters(text)
    elif not arabic or any(mark in text for mark in _HARAKAT):
        text = _MARKS.sub("", text)
    # ASCII punctuation via a byte table (fast), the rare non-ASCII kind via regex.
    text = text.encode("utf-8").translate(_UTF8_TABLE).decode("utf-8")
    return _NON_ASCII_NON_WORD.sub(" ", text)


def _fold_letters(text: str) -> str:
    for old, new in _LETTERS:
        if old in text:
            text = text.replace(old, new)
    return text


# Normalised form of each word already seen (with a trailing space, or "" for a
# word that is only punctuation). News vocabulary repeats a lot, so non-ASCII
# text (Arabic, accented Latin) is mostly folded by dictionary look-ups.
_WORDS: dict[str, str] = {}
WORD_CACHE_LIMIT = 200_000  # entries; the cache is emptied when it would grow past
WORD_MAX = 40  # longest word cached, in characters


def clear_cache() -> None:
    """Forget the folded words (for benchmarks of cold-cache speed)."""
    _WORDS.clear()


def normalise(text: str) -> str:
    """Fold text to lowercase words separated by single spaces.

    Case folding and NFKC-equivalent compatibility folding; accents and Arabic
    diacritics removed; Arabic alef/hamza/ya/ta-marbuta variants and tatweel
    unified; punctuation turned into word breaks.
    """
    if not text.isascii():
        for char in _TYPOGRAPHY:
            if char in text:
                text = text.replace(char, " ")
    if text.isascii():  # fast path: NFKC and accents cannot change ASCII
        return " ".join(text.encode("ascii").translate(_ASCII_TABLE).decode("ascii").split())
    words = text.split()
    cache = _WORDS
    try:
        return "".join([cache[word] for word in words])[:-1]
    except KeyError:
        pass
    # Fold every unseen word in one pass over "word\nword\n...", then tidy the
    # spaces punctuation left so each line is the word's normalised form.
    missing = [word for word in dict.fromkeys(words) if word not in cache]
    batch = _fold("\n".join(missing))
    while "  " in batch:
        batch = batch.replace("  ", " ")
    lines = batch.replace(" \n", "\n").replace("\n ", "\n").strip(" ").split("\n")
    fresh = dict(zip(missing, [line + " " if line else "" for line in lines], strict=True))
    result = "".join([fresh[word] if word in fresh else cache[word] for word in words])[:-1]
    if len(cache) + len(fresh) > WORD_CACHE_LIMIT:
        cache.clear()
    # Long tokens (URLs, encoded blobs) rarely repeat: keep them out of memory.
    cache.update((word, folded) for word, folded in fresh.items() if len(word) <= WORD_MAX)
    return result


def has_arabic(text: str) -> bool:
    """True when the text contains Arabic letters (used to add Arabic rules)."""
    return _ARABIC_LETTER.search(text) is not None


def is_arabic_word(word: str) -> bool:
    """True when a term starts with an Arabic letter, so clitics may precede it."""
    return bool(word) and _ARABIC_LETTER.match(word) is not None
