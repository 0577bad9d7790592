"""Secrets out of URLs and messages: passwords masked for display, secret query values scrubbed from spans.

Two uses, two markers:

- :func:`display_url` / :func:`display_text`: what errors, logs and CLI output may show. A URL's password becomes
  ``***`` (``postgresql://bot:***@db/usage``) and so do the values of secret query keys
  (``https://hooks.example/x?token=***``).
- :func:`scrub_url` / :func:`scrub_query`: what span attributes may carry (``url.full``, ``url.query``,
  ``http.url``, ``http.target``). Secret query values become ``[REDACTED]``, the marker the content scrubber and the
  header sanitizer use, and a URL's user:password is dropped.

A query key is secret when, lower-cased with ``-``, ``_`` and ``.`` removed, it is one of :data:`SECRET_QUERY_KEYS`
or ends with one of :data:`SECRET_QUERY_KEY_SUFFIXES` (``api_key``, ``X-Amz-Signature``, ``client_secret``,
``refresh_token``...), or, as written, ends with ``key`` after a separator (``auth_key``, ``signing-key``).
Nothing here raises: a string that is not a URL comes back unchanged, or masked by pattern.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from typing import Final

__all__ = [
    "SECRET_QUERY_KEYS",
    "SECRET_QUERY_KEY_SUFFIXES",
    "display_origin",
    "display_text",
    "display_url",
    "is_secret_key",
    "scrub_query",
    "scrub_url",
    "url_password",
]

SECRET_QUERY_KEYS: Final[frozenset[str]] = frozenset(
    {"key", "sig", "code", "auth", "pwd", "pass", "jwt", "session", "sessionid", "sid", "otp", "ticket", "hmac"}
)
"""Query keys (normalised: lower case, no ``-``/``_``/``.``) whose values are secrets."""

SECRET_QUERY_KEY_SUFFIXES: Final[tuple[str, ...]] = (
    "token",
    "secret",
    "password",
    "passwd",
    "signature",
    "apikey",
    "accesskey",
    "secretkey",
    "privatekey",
    "accesskeyid",
    "subscriptionkey",
    "credential",
    "credentials",
    "authorization",
)
"""Normalised query keys ending with one of these are secret too (``access_token``, ``X-Goog-Signature``...)."""

_MASK: Final = "***"
_REDACTED: Final = "[REDACTED]"
_NORMALISE = str.maketrans("", "", "-_.")
_SCHEME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-")
_URL_TAIL = re.compile(r"[^\s'\"<>]+")
_PASSWORD_PAIR = re.compile(r"(?i)\b(password|passwd|pwd)(\s*=\s*)('[^']*'|\"[^\"]*\"|[^\s&;,]+)")


@functools.lru_cache(maxsize=1024)  # query keys repeat: the same few names on every request
def is_secret_key(name: str) -> bool:
    """True when a query key names a secret (``api_key``, ``token``, ``X-Amz-Signature``; case-insensitive)."""
    try:
        normalised = urllib.parse.unquote(name).strip().lower().translate(_NORMALISE)
    except Exception:
        normalised = name.lower().translate(_NORMALISE)
    if normalised in SECRET_QUERY_KEYS or normalised.endswith(SECRET_QUERY_KEY_SUFFIXES):
        return True
    # ``auth_key``, ``signing-key``, ``hmac.key``: "key" after a separator (not ``monkey``, ``turkey``)
    lowered = name.lower().strip()
    return lowered.endswith(("_key", "-key", ".key", "%5fkey")) or (
        "%" in lowered and urllib.parse.unquote(lowered).endswith(("_key", "-key", ".key"))
    )


def _replace_values(query: str, marker: str) -> str:
    if not query:
        return query
    pairs = query.split("&")
    changed = False
    for i, pair in enumerate(pairs):
        name, sep, value = pair.partition("=")
        if sep and value and is_secret_key(name):
            pairs[i] = f"{name}={marker}"
            changed = True
    return "&".join(pairs) if changed else query


def scrub_query(query: str) -> str:
    """A raw query string with the values of secret keys replaced by ``[REDACTED]``; the other pairs are kept.

    Example::

        scrub_query("q=hi&api_key=abc")  # 'q=hi&api_key=[REDACTED]'
    """
    try:
        return _replace_values(query, _REDACTED)
    except Exception:
        return _REDACTED


def scrub_url(url: str) -> str:
    """A URL (or ``/path?query`` target) fit for a span attribute: secret query values ``[REDACTED]``, no password.

    Example::

        scrub_url("https://u:pw@h/v1?key=AIza...&alt=sse")  # 'https://u@h/v1?key=[REDACTED]&alt=sse'
    """
    try:
        head, netloc, rest = _split_netloc(url)
        userinfo, at, host = netloc.rpartition("@")
        netloc = f"{userinfo.partition(':')[0]}@{host}" if at else netloc
        path, sep, query = rest.partition("?")
        return head + netloc + path + sep + _replace_values(query, _REDACTED)
    except Exception:
        return _REDACTED


def display_url(url: str) -> str:
    """A URL, DSN or path as errors, logs and CLI output may show it: its password and secret query values ``***``.

    Anything that is not a URL (a file path, ``:memory:``) comes back unchanged; so does a URL without secrets. A
    URL too malformed to parse still has whatever sits between ``user:`` and the last ``@`` masked.

    Example::

        display_url("postgresql://bot:s3cret@db/usage")  # 'postgresql://bot:***@db/usage'
        display_url("https://hooks.example/alert?token=abc")  # 'https://hooks.example/alert?token=***'
    """
    try:
        head, netloc, rest = _split_netloc(url)
        userinfo, at, host = netloc.rpartition("@")
        user, colon, _password = userinfo.partition(":")
        if at and colon:
            netloc = f"{user}:{_MASK}@{host}"
        path, sep, query = rest.partition("?")
        return head + netloc + path + sep + _replace_values(query, _MASK)
    except Exception:
        return "(a URL withheld: it may contain a secret)"


def display_origin(url: str) -> str:
    """Only the scheme and host of a URL whose path may itself be a secret (a Slack webhook): ``https://h/***``."""
    head, netloc, rest = _split_netloc(url)
    if not head:
        return _MASK
    host = netloc.rpartition("@")[2]
    return f"{head}{host}/{_MASK}" if rest.strip("/") else f"{head}{host}"


def _split_netloc(url: str) -> tuple[str, str, str]:
    """(``scheme://``, ``user:password@host:port``, the rest) without urllib, which rejects malformed hosts."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme or any(c in scheme for c in "/?#@ "):
        userinfo, at, _ = url.rpartition("@")
        if not at or "/" in userinfo or ":" not in userinfo:
            return "", "", url
        scheme, sep, rest = "", "", url  # user:password@host without a scheme
    end = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    return scheme + sep, rest[:end], rest[end:]


def display_text(text: str, *secrets: str | None) -> str:
    """``text`` (an error message, a driver's exception) with every URL in it passed through :func:`display_url`,
    ``password=...`` pairs masked, and each of ``secrets`` (e.g. the password of the URL the caller used, raw and
    percent-decoded) replaced by ``***``.

    Example::

        display_text(
            'connection to "postgresql://u:pw@h/db" failed'
        )  # 'connection to "postgresql://u:***@h/db" failed'
    """
    try:
        for secret in secrets:
            if secret and len(secret) >= 3:
                text = text.replace(secret, _MASK)
            elif secret:  # a 1-2 character secret: masked where it stands alone, so words holding it stay readable
                text = re.sub(rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])", _MASK, text)
        text = _mask_urls(text)
        return _PASSWORD_PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}{_MASK}", text)
    except Exception:
        return "(message withheld: it may contain a secret)"


def _mask_urls(text: str) -> str:
    """Every ``scheme://...`` in ``text`` through :func:`display_url`. Linear: it starts from each ``://`` and
    reads the scheme backwards (a regex starting at every letter re-read a long run like ``a.a.a....`` from each
    start: quadratic, ~12 minutes for a 1,000,000-character message)."""
    if "://" not in text:
        return text
    parts: list[str] = []
    pos = 0
    found = text.find("://")
    while found != -1:
        start = found
        while start > pos and text[start - 1] in _SCHEME_CHARS:
            start -= 1
        while start < found and not text[start].isalpha():  # a scheme starts with a letter
            start += 1
        tail = _URL_TAIL.match(text, found + 3)
        if start == found or tail is None:
            found = text.find("://", found + 3)
            continue
        parts += (text[pos:start], display_url(text[start : tail.end()]))
        pos = tail.end()
        found = text.find("://", pos)
    parts.append(text[pos:])
    return "".join(parts)


def url_password(url: str) -> list[str]:
    """The password in ``url``, as written and percent-decoded (for :func:`display_text`); [] when none."""
    try:
        userinfo = _split_netloc(url)[1].rpartition("@")[0]
        _, colon, password = userinfo.partition(":")
        if not colon or not password:
            return []
        return sorted({password, urllib.parse.unquote(password)}, key=len, reverse=True)
    except Exception:
        return []
