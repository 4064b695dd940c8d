"""gridctl's one logging setup: levels, text or JSON lines on stderr, and HTTP request lines.

    setup("debug", "json")        # gridctl -v --log-format json ..., or GRIDCTL_LOG=debug

Everything gridctl logs goes through the ``gridctl`` logger to standard error (standard output
stays for plans and other results). At debug level every HTTP exchange with GitHub is one line —
method, path, status and the rate-limit points left — and nothing else: never a header value, a
request or response body, or a query value other than paging (any of them could hold a token
or a secret).

All of gridctl's requests to GitHub go through PyGithub's ``Requester`` (gridctl's own raw reads
and writes use its ``requestJsonAndCheck``), which reports each exchange to the ``github.Requester``
logger at debug level with the headers and the body. :class:`RequestLines` sits on that logger
as a filter: it takes the four facts out of the record, emits them as a ``gridctl.http`` line
and drops PyGithub's record, so its headers and body never reach a handler. A record it does
not recognise is dropped too.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import Any
from urllib.parse import parse_qsl

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
FORMATS = ("text", "json")
#: query parameters whose values are shown in request lines (paging only; others show as a name)
SHOWN_PARAMS = frozenset({"page", "per_page"})
#: the logger PyGithub reports each HTTP exchange to
PYGITHUB_LOGGER = "github.Requester"

log = logging.getLogger("gridctl")
http_log = logging.getLogger("gridctl.http")


class _Stderr(logging.StreamHandler):
    """A handler writing to whatever ``sys.stderr`` is at the time (tests swap it)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"gridctl: {record.levelname.lower()}: {record.getMessage()}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and the record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update({k: v for k, v in fields.items() if k not in out})
        return json.dumps(out, sort_keys=False, default=str)


def safe_path(url: str) -> str:
    """A request's path with the query reduced to what is safe to log: paging values, and the
    other parameters' names only (``/repos/a/b/contents/x?ref=…``)."""
    path, _, query = url.partition("?")
    if "://" in path:  # an absolute URL: keep the path only
        path = "/" + path.split("://", 1)[1].partition("/")[2]
    if not query:
        return path
    shown = [f"{k}={v}" if k in SHOWN_PARAMS and v.isdigit() else f"{k}=…" for k, v in parse_qsl(query, keep_blank_values=True)]
    return path + "?" + "&".join(shown)


class RequestLines(logging.Filter):
    """On PyGithub's request logger: re-emit each exchange as a ``gridctl.http`` line (method,
    path, status, rate-limit remaining) and drop PyGithub's own record."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # PyGithub's exchange record: verb, scheme, host, url, request headers, body, status,
        # response headers, response body; anything else (a sleep notice...) is dropped
        if isinstance(args, tuple) and len(args) == 9 and isinstance(args[0], str) and isinstance(args[3], str):
            verb, url, status, headers = args[0], args[3], args[6], args[7]
            remaining = None
            if isinstance(headers, dict):
                value = {str(k).lower(): v for k, v in headers.items()}.get("x-ratelimit-remaining")
                remaining = int(value) if isinstance(value, str) and value.isdigit() else None
            request(verb, safe_path(url), status if isinstance(status, int) else None, remaining)
        return False


def request(method: str, path: str, status: int | None, remaining: int | None) -> None:
    """One HTTP request line (debug level); ``path`` must already be safe to log."""
    if not http_log.isEnabledFor(logging.DEBUG):
        return
    shown = "-" if status is None else str(status)
    left = "" if remaining is None else f" (rate limit: {remaining} left)"
    fields = {"method": method, "path": path, "status": status, "rate_limit_remaining": remaining}
    http_log.debug("%s %s %s%s", method, path, shown, left, extra={"fields": fields})


_handler: logging.Handler | None = None
_filter = RequestLines()


def level_from_env(default: str = "warning") -> str:
    value = os.environ.get("GRIDCTL_LOG", "").strip().lower()
    return value if value in LEVELS else default


def setup(level: str | None = None, fmt: str = "text") -> None:
    """Configure gridctl's logging (idempotent): ``level`` is debug, info, warning or error
    (default: ``GRIDCTL_LOG``, else warning); ``fmt`` text or json."""
    global _handler
    name = (level or level_from_env()).lower()
    if name not in LEVELS:
        raise ValueError(f"unknown log level {name!r} (debug, info, warning or error)")
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r} (text or json)")
    if _handler is not None:
        log.removeHandler(_handler)
    _handler = _Stderr()
    _handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    log.addHandler(_handler)
    log.setLevel(LEVELS[name])
    log.propagate = False
    pygithub = logging.getLogger(PYGITHUB_LOGGER)
    if _filter not in pygithub.filters:
        pygithub.addFilter(_filter)
    # PyGithub builds its exchange record only when its logger is enabled for debug
    pygithub.setLevel(logging.DEBUG if LEVELS[name] <= logging.DEBUG else logging.WARNING)


def json_lines() -> bool:
    """Whether gridctl logs JSON lines (``--log-format json``)."""
    return _handler is not None and isinstance(_handler.formatter, JsonFormatter)


def event(text: str, level: str = "info", **fields: Any) -> None:
    """A line a long-running command reports whatever the level (the controller's launches,
    dispatches, conclusions): ``gridctl: text`` on stderr, or with ``--log-format json`` one JSON
    object carrying ``fields`` (an entry id, a run id, a runner name: the correlation ids)."""
    if json_lines():
        record = logging.LogRecord("gridctl.events", LEVELS.get(level, logging.INFO), __file__, 0, text, None, None)
        record.fields = fields
        assert _handler is not None
        sys.stderr.write(_handler.format(record) + "\n")
    else:
        sys.stderr.write(f"gridctl: {text}\n" if level == "info" else f"gridctl: {level}: {text}\n")
    sys.stderr.flush()
