"""URLs as logrca shows and stores them: no password of a URL's userinfo, no webhook's secret path.

Every message that names a server goes through :func:`shown_url`; every alert target stored on an
incident (and so printed by ``incident show --json``) goes through :func:`redacted_target`.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["MASK", "shown_url", "redacted_target", "check_es_url"]

#: What stands for a hidden part.
MASK = "***"
#: A redacted target: the kept part, the mask, and a short fingerprint of the whole URL.
_REDACTED = re.compile(r"^[a-z][a-z0-9+.-]*://[^/]*(/[^/]*)?/\*\*\*#[0-9a-f]{6}$")


def _netloc(parts) -> str:
    """The host and port, with the userinfo's password (if any) masked: ``user:***@host:9200``."""
    host = parts.netloc.rpartition("@")[2]
    if "@" not in parts.netloc:
        return host
    user, has_password, _ = parts.netloc.rpartition("@")[0].partition(":")
    return f"{user}:{MASK}@{host}" if has_password else f"{user}@{host}"


def shown_url(url: str) -> str:
    """``url`` with the password of its userinfo and every query value (and a fragment) masked, for
    messages; anything else as it is. A token passed as ``?api_key=...`` is as secret as a password.

    >>> shown_url("http://elastic:changeme@127.0.0.1:9200")
    'http://elastic:***@127.0.0.1:9200'
    >>> shown_url("http://127.0.0.1:9200/?api_key=abc&pretty")
    'http://127.0.0.1:9200/?api_key=***&pretty'
    >>> shown_url("http://127.0.0.1:9200")
    'http://127.0.0.1:9200'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.rpartition("@")[2].partition("?")[0] if "@" in url or "?" in url else url
    if "@" not in parts.netloc and not parts.query and not parts.fragment:
        return url
    query = "&".join(
        f"{name}={MASK}" if has_value else name
        for name, has_value, _ in (pair.partition("=") for pair in parts.query.split("&"))
    )
    return urlunsplit(
        parts._replace(netloc=_netloc(parts), query=query, fragment=MASK if parts.fragment else "")
    )


def redacted_target(url: str) -> str:
    """A webhook URL without its secret: scheme, host, the first path segment (when more follow),
    the rest masked, and a fingerprint of the whole URL so that an operator tells channels apart.

    A Slack or pager webhook URL is itself the credential (its path or query holds the token).
    Redacting twice changes nothing.

    >>> redacted_target("https://hooks.slack.com/services/T0/B0/XXXX")  # doctest: +ELLIPSIS
    'https://hooks.slack.com/services/***#...'
    """
    if _REDACTED.match(url):
        return url
    fingerprint = hashlib.sha256(url.encode()).hexdigest()[:6]
    try:
        parts = urlsplit(url)
    except ValueError:
        return f"{MASK}#{fingerprint}"
    segments = parts.path.split("/")[1:]
    kept = f"/{segments[0]}" if len(segments) > 1 else ""
    return f"{parts.scheme}://{_netloc(parts)}{kept}/{MASK}#{fingerprint}"


def check_es_url(url: str) -> str:
    """``url`` if the Elasticsearch client can use it (http or https, a host), else ValueError saying why.

    >>> check_es_url("notaurl")
    Traceback (most recent call last):
    ...
    ValueError: 'notaurl' is not an Elasticsearch URL: expected http://HOST:PORT or https://HOST[:PORT], e.g. http://127.0.0.1:9200
    """
    from elastic_transport.client_utils import url_to_node_config  # what the client itself parses

    try:
        parts = urlsplit(url)
        url_to_node_config(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{shown_url(url)!r} is not an Elasticsearch URL: expected http://HOST:PORT or "
            "https://HOST[:PORT], e.g. http://127.0.0.1:9200"
        )
    return url
