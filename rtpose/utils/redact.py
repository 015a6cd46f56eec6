"""The one redaction of secrets in what rtpose shows: URLs and ``host:port`` addresses that may carry credentials.

Every message, log line, JSON header, metric label and file name that quotes a source, a server, a
detector or weights URL or a mirror passes it through :func:`redact` first. Credentials that must be
used (a mirror's ``user:password@``) are taken apart by :func:`split_credentials`, never printed.
"""

from __future__ import annotations

import re

#: Query parameters whose values are hidden: any key that contains one of these words (``pwd``, ``api_key``,
#: ``X-Amz-Signature``, ``access_token``, ``user`` …). Hiding a harmless value is better than showing a secret.
_SECRET_KEY_WORDS = ("pass", "pwd", "token", "key", "auth", "secret", "sig", "cred", "session", "user", "login",
                     "usr", "account")
_QUERY_PARAM = re.compile(r"([?&;])([^=&;#?]*)=([^&;#?]*)")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
#: ``user:password@host`` without a scheme (``--server user:pw@host:8001``), as a whole value or inside a sentence.
_BARE_CREDENTIALS = re.compile(r"(?<![\w/@:.%+-])([\w.%+-]+):([^\s'\"<>/@]+(?:@[^\s'\"<>/@]+)*)@([\w.-]+(?::\d+)?)")


def redact_url(url: str) -> str:
    """``url`` fit to be shown: the password of ``scheme://user:password@host`` and secret query values hidden.

    Passwords may hold ``@``, ``:`` or ``/`` (the credentials end at the last ``@`` before the query); a
    user name alone (``https://TOKEN@host``) may itself be a token and is hidden too. Query values of keys
    such as ``user``, ``pwd``, ``password``, ``pass``, ``token``, ``key``, ``auth``, ``signature`` become ``***``.
    ``user:password@host:port`` without a scheme keeps ``user:***@host:port``. Anything else comes back unchanged.
    """
    text = str(url)
    scheme, sep, rest = text.partition("://")
    if not sep or not scheme or not _SCHEME.fullmatch(scheme):
        return _BARE_CREDENTIALS.sub(lambda m: f"{m.group(1)}:***@{m.group(3)}", text)
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    head, tail = rest[:cut], rest[cut:]
    at = head.rfind("@")
    if at > 0:
        cred, host = head[:at], head[at + 1:]
        user, colon, _password = cred.partition(":")
        head = f"{user}:***@{host}" if colon and user and "/" not in user else f"***@{host}"
    slash = head.find("/", head.rfind("@") + 1)
    if slash >= 0:  # path parameters (``/live;password=…``) count as query values
        head, tail = head[:slash], head[slash:] + tail
    if tail:
        def hide(match: re.Match) -> str:
            sep_, key, value = match.groups()
            secret = value and any(word in key.lower() for word in _SECRET_KEY_WORDS)
            return f"{sep_}{key}={'***' if secret else value}"

        tail = _QUERY_PARAM.sub(hide, tail)
    return f"{scheme}://{head}{tail}"


def redact_text(text: str) -> str:
    """``text`` with every URL and ``user:password@host`` in it redacted (messages that quote user input)."""
    text = _URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), str(text))
    return _BARE_CREDENTIALS.sub(lambda m: f"{m.group(1)}:***@{m.group(3)}", text)


def redact(value: object) -> str:
    """Anything rtpose is about to show (a URL, a ``host:port``, a path, a whole sentence) with its secrets hidden.

    Idempotent: redacting twice changes nothing. Values without secrets come back unchanged.
    """
    text = str(value)
    if "://" in text and not any(c.isspace() for c in text):
        return redact_url(text)
    return redact_text(text)


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``scheme://user:password@host/path`` → ``("scheme://host/path", "user", "password")`` (percent-decoded).

    For a URL whose credentials are to be sent (HTTP basic authentication) rather than shown; a URL without
    credentials comes back with ``None, None``.
    """
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(str(url))
    if "@" not in parts.netloc:
        return str(url), None, None
    cred, _, host = parts.netloc.rpartition("@")
    user, colon, password = cred.partition(":")
    return urlunsplit(parts._replace(netloc=host)), unquote(user), unquote(password) if colon else None


__all__ = ["redact", "redact_text", "redact_url", "split_credentials"]
