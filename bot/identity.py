"""Item identity: what makes two entries the same item, within a feed and across feeds."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

_TRACKING_PREFIXES = ("utm_", "mtm_", "pk_")
_TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "ref_src",
        "ref_url",
        "cmpid",
        "ncid",
        "_ga",
        "_gl",
        "smid",
        "taid",
    }
)


def normalize_url(url: str | None) -> str | None:
    """Lower-case scheme and host, drop default ports, fragments, tracking parameters and a
    trailing slash, and sort the query, so one article reached by two feeds has one key."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return url
    host = parts.hostname.lower().removeprefix("www.")
    if port and not (
        (parts.scheme.lower() == "http" and port == 80)
        or (parts.scheme.lower() == "https" and port == 443)
    ):
        host = f"{host}:{port}"
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in _TRACKING_PARAMS and not k.lower().startswith(_TRACKING_PREFIXES)
    ]
    path = parts.path or "/"
    if len(path) > 1:
        path = path.rstrip("/")
    # http and https copies of one page are one article.
    return urlunsplit(("https", host, path, urlencode(sorted(query)), ""))


def digest(*parts: str | None) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update((p or "").encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def entry_identity(
    guid: str | None,
    link: str | None,
    title: str,
    summary: str,
    guid_repeats: bool = False,
    link_repeats: bool = False,
) -> str:
    """miniflux's ladder: guid; guid+link when the guid repeats in one document; link; else
    title+content. Hashed so a very long guid fits an index."""
    if guid and not guid_repeats:
        return digest("guid", guid)
    if guid and link:
        return digest("guid+link", guid, link)
    if link and not link_repeats:
        return digest("link", link)
    if link:
        return digest("link+title", link, title)
    return digest("content", title, summary)


def content_hash(title: str, summary: str, link: str | None) -> str:
    return digest(title, summary, link)
