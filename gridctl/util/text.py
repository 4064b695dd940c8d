"""Untrusted text made safe to print: on a terminal and in a GitHub Actions log.

Manifests come from pull requests, task output from workers, names from API bodies: any of them
may hold terminal escape sequences (colour, cursor moves, a fake prompt), bidi overrides that
reorder what a reviewer reads, or a line break followed by a workflow command. GitHub Actions
runs a log line as a workflow command (``::error::``, ``::add-mask::``, ``::stop-commands::``)
when, leading whitespace aside, it starts with ``::`` — see "Workflow commands for GitHub
Actions", https://docs.github.com/en/actions/reference/workflow-commands-for-github-actions.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

#: control, format (bidi overrides, zero-width), line/paragraph separators, lone surrogates
_UNSAFE = ("Cc", "Cf", "Zl", "Zp", "Cs")


def printable(text: Any, *, newlines: bool = False) -> str:
    """``text`` with every control or format character written as ``\\xNN`` / ``\\uNNNN``;
    with ``newlines``, line feeds and tabs stay as they are."""
    out = []
    for ch in str(text):
        if newlines and ch in "\n\t":
            out.append(ch)
        elif unicodedata.category(ch) in _UNSAFE:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def no_commands(text: str) -> str:
    """Every line of ``text`` kept from starting a workflow command: a line that would start
    with ``::`` (after its indentation) has its first colon written ``\\x3a``."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        body = line.lstrip()
        if body.startswith("::"):
            lines[i] = line[: len(line) - len(body)] + "\\x3a" + body[1:]
    return "\n".join(lines)


def safe(text: Any, *, newlines: bool = False) -> str:
    """:func:`printable`, then :func:`no_commands`: what any echoed input goes through."""
    return no_commands(printable(text, newlines=newlines))


_URL_TAIL = re.compile(r"(?:^|:)([A-Za-z][A-Za-z0-9+.-]*://.*)$")


def address_parts(address: str) -> list[str]:
    """An address's parts (``kind:scope:key``), split at colons — except in a URL, which is always
    the last part (a webhook's key) and stays whole: ``hook alice/demo https://h.example:8443/x``."""
    m = _URL_TAIL.search(address)
    if m is None:
        return [p for p in address.split(":") if p]
    head = address[: m.start()]
    return [p for p in head.split(":") if p] + [m.group(1)]


def team_slug(name: str) -> str:
    """The slug GitHub gives a team called ``name``: special characters replaced, words
    lower-cased, spaces turned into ``-`` ("My TEam Näme" -> ``my-team-name``; GitHub Docs, "Get a
    team by name", https://docs.github.com/en/rest/teams/teams#get-a-team-by-name)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    out, dash = [], False
    for ch in ascii_name.lower():
        if ch.isalnum() or ch == "_":
            out.append(ch)
            dash = False
        elif out and not dash:
            out.append("-")
            dash = True
    return "".join(out).strip("-")
