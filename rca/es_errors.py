"""Why a request to Elasticsearch failed, in one line a person can act on; and whether a server is one.

The client's errors print as nested reprs (``AuthenticationException(401, 'security_exception')``,
``ConnectionError(... [Errno 111] Connection refused)``) or not at all (a web server that is not
Elasticsearch answers a HEAD request with 404, and ``indices.exists`` says "no such index"). Every
URL in a message goes through :func:`~logrca.rca.urls.shown_url`: no password is printed.
"""

from __future__ import annotations

import re

from logrca.rca.urls import shown_url

__all__ = ["unreachable", "tls_failed", "es_trouble", "check_server", "URL_HINT"]

#: Where the URL came from, for the hints.
URL_HINT = "check --es-url or LOGRCA_ES_URL"
#: The cause deep in a transport error's text: ``[Errno 111] Connection refused``, ``timed out``, ...
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^)'\"]+)")
#: The reason in an ssl error's text: ``[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed:
#: unable to get local issuer certificate (_ssl.c:1006)``.
_SSL = re.compile(r"\[SSL(?:: \w+)?\] (.+?)\.? \(_ssl\.c")


#: What an http request to a server that hangs up gets (an https-only node, say), in words.
_HUNG_UP = "the server closed the connection without an answer"


def _chain(error: BaseException) -> list[BaseException]:
    """``error`` and its causes, outermost first (the client wraps urllib3's, which wraps ssl's)."""
    chain, cause = [], error
    while cause is not None and len(chain) < 8:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    return chain


def unreachable(url: str, error: Exception) -> str:
    """One line: Elasticsearch at ``url`` could not be reached, the innermost reason, and what to do.

    The client's connection errors nest three reprs deep (``ConnectionError(... NewConnectionError(
    HTTPConnection(host=...): Failed to establish a new connection: [Errno 111] Connection refused))``);
    the reason a person acts on is the last of them.

    >>> unreachable("http://127.0.0.1:9200", OSError("... [Errno 111] Connection refused))"))
    "Elasticsearch at http://127.0.0.1:9200 is not reachable (Connection refused); start it with 'logrca es start' or set LOGRCA_ES_URL"

    An ``http://`` URL whose server hangs up without an answer is most often a node that serves
    https only (ES 8+ as installed): the hint says so.

    >>> unreachable("http://es1:9200", OSError("RemoteDisconnected('Remote end closed connection without response')"))
    'Elasticsearch at http://es1:9200 is not reachable (the server closed the connection without an answer); does it serve https only? use https:// in LOGRCA_ES_URL'
    """
    texts = [text for cause in _chain(error) for text in (str(cause), repr(cause))]
    found = [reason for text in texts for reason in _ERRNO.findall(text)]
    hint = "start it with 'logrca es start' or set LOGRCA_ES_URL"
    if found:
        reason = found[-1].strip()
    elif "Remote end closed connection" in " ".join(texts):
        reason = _HUNG_UP
    elif "timed out" in " ".join(texts).lower() or "timeout" in type(error).__name__.lower():
        reason = "timed out"
    else:
        reason = " ".join(str(error).split())[:120] or type(error).__name__
    if url.lower().startswith("http:") and reason in (_HUNG_UP, "Connection reset by peer"):
        hint = "does it serve https only? use https:// in LOGRCA_ES_URL"
    return f"Elasticsearch at {shown_url(url)} is not reachable ({reason}); {hint}"


def tls_failed(url: str, error: Exception) -> str | None:
    """One line when the TLS handshake with ``url`` failed (the reason ssl gave, and what to set),
    else None. An unknown CA is the usual reason: a cluster's certificate signed by its own CA.

    >>> import ssl
    >>> tls_failed("https://elastic:pw@es1:9200", ssl.SSLError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] "
    ...     "certificate verify failed: self-signed certificate in certificate chain (_ssl.c:1006)"))
    "TLS handshake with Elasticsearch at https://elastic:***@es1:9200 failed (certificate verify failed: self-signed certificate in certificate chain); set LOGRCA_ES_CA_CERTS to the PEM file of the CA that signed the cluster's certificate (ES 8+: config/certs/http_ca.crt)"
    """
    import ssl

    from elastic_transport import TlsError

    chain = _chain(error)
    if not any(isinstance(cause, TlsError | ssl.SSLError) for cause in chain):
        return None
    found = [reason for cause in chain for text in (str(cause), repr(cause)) for reason in _SSL.findall(text)]
    reason = found[-1] if found else "TLS error"
    if "mismatch" in reason:
        hint = "use a host name its certificate names in LOGRCA_ES_URL"
    elif "certificate verify failed" in reason:
        hint = (
            "set LOGRCA_ES_CA_CERTS to the PEM file of the CA that signed the cluster's certificate "
            "(ES 8+: config/certs/http_ca.crt)"
        )
    else:  # e.g. "wrong version number": https to a plain-http server
        hint = f"does it serve https? {URL_HINT}"
    return f"TLS handshake with Elasticsearch at {shown_url(url)} failed ({reason}); {hint}"


def _said(error) -> str:
    """What the server said: ``security_exception: missing authentication credentials``, or the status."""
    body = error.body if isinstance(error.body, dict) else {}
    detail = body.get("error")
    if isinstance(detail, dict):
        text = ": ".join(str(part) for part in (detail.get("type"), detail.get("reason")) if part)
    else:
        text = str(detail or error.message or "")
    return " ".join(f"HTTP {error.meta.status} {text}".split())[:200]


def _is_elasticsearch(error) -> bool:
    return error.meta.headers.get("x-elastic-product", "") == "Elasticsearch"


def es_trouble(url: str, error: Exception) -> str:
    """One line for any failed request: bad credentials, a missing privilege, a server that is not
    Elasticsearch, a refused request (what it said and where to look), an untrusted certificate
    (:func:`tls_failed`), or no server (:func:`unreachable`)."""
    from elasticsearch import ApiError, AuthenticationException, AuthorizationException

    shown = shown_url(url)
    if isinstance(error, AuthenticationException):
        return (
            f"Elasticsearch at {shown} did not accept the credentials ({_said(error)}); "
            "set LOGRCA_ES_API_KEY (or user:password in the URL)"
        )
    if isinstance(error, ApiError) and not _is_elasticsearch(error):
        return (
            f"the server at {shown} is not Elasticsearch (HTTP {error.meta.status} without the "
            f"X-Elastic-Product header); {URL_HINT}"
        )
    if isinstance(error, AuthorizationException):
        return (
            f"Elasticsearch at {shown} denied the request ({_said(error)}); "
            "use an API key (LOGRCA_ES_API_KEY) with read and write privileges on logrca's indices"
        )
    if isinstance(error, ApiError):  # the server is up: e.g. BadRequestError(400, '<type>', '<reason>')
        return (
            f"Elasticsearch at {shown} refused the request: {error}; fix what it names "
            "(e.g. LOGRCA_INDEX_PREFIX, the cluster's settings)"
        )
    return tls_failed(url, error) or unreachable(url, error)


def check_server(client) -> None:
    """Raise the client's own error unless the server answers as Elasticsearch, with accepted credentials.

    One ``GET /``: Elasticsearch marks every answer with ``X-Elastic-Product`` (a 403 too: a key
    without the cluster's ``monitor`` privilege is fine here). Without this, a web server that
    answers 404 looks like Elasticsearch with no incidents. Errors: :func:`es_trouble` words them.
    """
    from elasticsearch import AuthenticationException, UnsupportedProductError

    answer = client.options(ignore_status=tuple(range(300, 600))).perform_request("GET", "/")
    meta, body = answer.meta, answer.body if isinstance(answer.body, dict) else None
    if meta.status == 401:
        raise AuthenticationException(message="authentication failed", meta=meta, body=body)
    if meta.headers.get("x-elastic-product", "") != "Elasticsearch":
        raise UnsupportedProductError(message="not Elasticsearch", meta=meta, body=body)
