"""One HTTP attempt for every adapter, with aiohttp errors translated once; the preflight."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy

from importer.errors import AuthError, RejectedError, RetriableTargetError, UnreachableError
from importer.retry import parse_retry_after

__all__ = [
    "RETRIABLE_STATUSES",
    "Answer",
    "describe_connection_error",
    "error_message",
    "fail",
    "json_object",
    "preflight",
    "request_json",
]

#: statuses worth another try: timeouts, "too early", rate limits and server trouble
RETRIABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
#: "not implemented" answers come from servers that do not speak the API: retrying cannot help
_NOT_THE_API = frozenset({501, 505})
#: bodies above this go as a stream (aiohttp warns that bigger raw bytes block the loop)
_LARGE_BODY = 1024 * 1024


@dataclass(frozen=True)
class Answer:
    """A response already read whole: status, headers and the body parsed as JSON (or None)."""

    status: int
    headers: CIMultiDictProxy[str]
    body: Any
    raw: bytes


async def request_json(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    body: Any = None,
    headers: dict[str, str],
    params: dict[str, str] | None = None,
    what: str,
) -> Answer:
    """One request. Connection problems become ``RetriableTargetError`` naming ``what``; a TLS
    failure or a URL that is not http(s) stops the run (``UnreachableError``)."""
    payload: bytes | io.BytesIO | None = None
    if body is not None:
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        if len(payload) > _LARGE_BODY:
            payload = io.BytesIO(payload)  # aiohttp streams a file-like body in pieces
    try:
        async with session.request(
            method, url, data=payload, headers=headers, params=params
        ) as response:
            raw = await response.read()
            status, answer_headers = response.status, response.headers
    except (aiohttp.ClientSSLError, aiohttp.InvalidURL) as exc:
        raise UnreachableError(describe_connection_error(url, exc)) from exc
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise RetriableTargetError(f"{what}: {describe_connection_error(url, exc)}") from exc
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = None
    return Answer(status, answer_headers, parsed, raw)


def fail(answer: Answer, what: str, *, auth_hint: str) -> RetriableTargetError | RejectedError:
    """The error for a non-2xx ``answer``; raises ``AuthError`` itself for 401/403.

    ``auth_hint`` says what to check (e.g. which flag carries the key).
    """
    reason = error_message(answer) or f"HTTP {answer.status}"
    if answer.status in (401, 403):
        raise AuthError(
            f"{what}: authentication failed (HTTP {answer.status}): {reason}; {auth_hint}",
            status=answer.status,
        )
    retriable = answer.status >= 500 and answer.status not in _NOT_THE_API
    if answer.status in RETRIABLE_STATUSES or retriable:
        return RetriableTargetError(
            f"{what}: HTTP {answer.status}: {reason}",
            status=answer.status,
            retry_after=parse_retry_after(answer.headers),
        )
    return RejectedError(f"{what}: HTTP {answer.status}: {reason}", status=answer.status)


def json_object(answer: Answer, url: str) -> dict[str, Any]:
    """The body of a success answer, which must be the API's JSON object: a login page or a
    proxy's HTML answering 200 is no proof that anything was stored."""
    if isinstance(answer.body, dict):
        return answer.body
    kind = answer.headers.get("Content-Type", "").split(";")[0].strip() or "no content type"
    raise RejectedError(
        f"{url} answered with success but not with the API's JSON ({kind}); "
        "is the URL the memory service, not a web page or proxy login?"
    )


def error_message(answer: Answer) -> str:
    """The server's own explanation from the usual envelope shapes, on one line."""
    parsed = answer.body
    if parsed is None:
        text = answer.raw.decode("utf-8", errors="replace")
        return " ".join(text.split())[:300]
    candidates = [parsed.get("error"), parsed] if isinstance(parsed, dict) else [parsed]
    for candidate in candidates:
        if isinstance(candidate, dict):
            for key in ("message", "detail", "msg"):
                value = candidate.get(key)
                if value:
                    return " ".join(str(value).split())[:300]
        elif isinstance(candidate, str) and candidate:
            return " ".join(candidate.split())[:300]
    return ""


def describe_connection_error(base_url: str, exc: BaseException) -> str:
    """One readable line for a failure to talk to ``base_url`` (no aiohttp internals)."""
    host = base_url.split("://", 1)[-1].split("/", 1)[0]
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"TLS certificate of {host} is not trusted ({exc.certificate_error})"
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"TLS connection to {host} failed"
    if isinstance(exc, aiohttp.InvalidURL):
        return f"{base_url} is not a valid http(s) URL"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"host {host.rsplit(':', 1)[0]} not found (DNS)"
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror if exc.os_error and exc.os_error.strerror else "refused"
        return f"cannot connect to {host} ({reason.lower()})"
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        return f"{host} did not answer in time"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return f"{host} closed the connection"
    return f"connection problem with {host} ({type(exc).__name__})"


async def preflight(session: aiohttp.ClientSession | None, url: str, api: str) -> None:
    """One short request to ``url`` before anything else: connection refused, an unknown host, a
    TLS failure, or an HTML page where the API should answer stops the run at once."""
    assert session is not None, "bind() a session first"
    base = url.rsplit("/", 1)[0]
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=10)) as response:
            content_type = response.headers.get("Content-Type", "")
            status = response.status
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise UnreachableError(describe_connection_error(base, exc)) from exc
    if 200 <= status < 300 and "html" in content_type.lower():
        raise UnreachableError(
            f"{base} answers with a web page, not the {api} API; check --api-url"
        )
