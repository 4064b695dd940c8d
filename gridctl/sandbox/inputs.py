"""Untrusted request input, refused the way github.com refuses it, before it can reach a handler.

* **JSON bodies** (:func:`parse_json`). GitHub answers a body it cannot parse with
  ``400 {"message": "Problems parsing JSON"}``, and a body that is JSON but not the object an
  operation takes with ``400 {"message": "Body should be a JSON object"}`` (GitHub Docs,
  "Troubleshooting the REST API",
  https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api).
  Besides broken syntax, the sandbox treats as unparsable what no JSON document can mean or what
  could hurt it: text that is not UTF-8, nesting deeper than :data:`MAX_JSON_DEPTH` (checked
  *before* parsing, so a body of ten thousand ``[`` never reaches a recursive parser), the
  non-standard ``NaN``/``Infinity`` and numbers that overflow to infinity, and ``\\uD800``-style
  escapes that leave a lone surrogate (not a character, so not storable as text).
* **file paths** (:func:`path_problem`) in the contents API and git trees: Git refuses tree
  entries that are empty, ``.``, ``..``, ``.git`` in any letter case or disguise (git-fsck's
  ``hasDotgit``, which also recognises the NTFS and HFS+ spellings), contain a NUL byte (the
  tree format ends each name with one), or are longer than 4096 bytes (git-fsck's
  ``largePathname`` default) — https://git-scm.com/docs/git-fsck#_fsck_messages. github.com
  checks pushed objects with fsck, and its APIs answer such paths with a 422.
* **control-route fields** (:func:`str_field` and friends): the ``/_sandbox`` routes take JSON
  objects too; a field of the wrong type or out of range is a 422 naming the field, in the words
  the OpenAPI request validation uses for GitHub's own routes.

This module imports only :mod:`.errors`.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from .errors import ApiError

#: the deepest nesting of arrays/objects a body may have (GitHub's request bodies need about 5)
MAX_JSON_DEPTH = 64
#: git-fsck ``largePathname``: the default largest tree entry name, in bytes
MAX_PATH_COMPONENT_BYTES = 4096

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
#: code points HFS+ ignores in file names, so ``.g\u200cit`` is ``.git`` on a Mac (git's is_hfs_dotgit)
_HFS_IGNORABLE = re.compile("[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]")


def bad_json() -> ApiError:
    return ApiError(400, "Problems parsing JSON")


def too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when ``text`` nests arrays/objects deeper than ``limit`` (strings do not count)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for m in _BRACKET.finditer(_STRING.sub('""', text)):
        if m.group() in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes | str) -> Any:
    """The JSON value of a request body, or ``ApiError(400, "Problems parsing JSON")``."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise bad_json() from None
    if too_deep(text):
        raise bad_json()
    try:
        value = json.loads(text, parse_float=_finite, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise bad_json() from None
    if _SURROGATE_ESCAPE.search(text):
        try:  # a surrogate pair made one character; a lone half cannot be encoded
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise bad_json() from None
    return value


# -- file paths -----------------------------------------------------------------------------------
def is_dotgit(name: str) -> bool:
    """``.git`` as git-fsck's hasDotgit sees it: any case, HFS+-ignorable code points removed,
    trailing dots and spaces dropped (NTFS), or the NTFS short name ``git~1``."""
    bare = _HFS_IGNORABLE.sub("", name).rstrip(". ").lower()
    return bare in (".git", "git~1")


def path_problem(path: str) -> str | None:
    """Why ``path`` (``a/b/c``, no leading slash) cannot name an entry of a git tree, or None."""
    if not path:
        return "is empty"
    if "\x00" in path:
        return "contains a NUL character"
    for part in path.split("/"):
        if part in ("", ".", ".."):
            return "contains an empty, '.' or '..' component"
        if is_dotgit(part):
            return "contains a '.git' component"
        if len(part.encode("utf-8", "surrogatepass")) > MAX_PATH_COMPONENT_BYTES:
            return f"has a component longer than {MAX_PATH_COMPONENT_BYTES} bytes"
    return None


def shown(value: str, limit: int = 80) -> str:
    """``value`` quoted for an error message, cut to ``limit`` characters."""
    text = json.dumps(value[:limit], ensure_ascii=True)
    return text if len(value) <= limit else text[:-1] + '..."'


# -- control-route fields ---------------------------------------------------------------------------
_MISSING: Any = object()


def _invalid(key: str, value: Any, what: str) -> ApiError:
    return ApiError(422, f"Invalid request.\n\nFor 'properties/{key}', {json.dumps(value)[:100]} is not {what}.")


def json_object(body: Any) -> dict:
    """A control route's body: a JSON object (an empty body reads as ``{}``)."""
    if not isinstance(body, dict):
        raise ApiError(400, "Body should be a JSON object")
    return body


def str_field(body: dict, key: str, default: Any = _MISSING, *, max_length: int = 1000) -> Any:
    """``body[key]`` as a string of 1..``max_length`` characters (``default`` when absent/null)."""
    value = body.get(key)
    if value is None:
        if default is _MISSING:
            raise ApiError(422, f"Invalid request.\n\n\"{key}\" wasn't supplied.")
        return default
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise _invalid(key, value, f"a string of 1 to {max_length} characters")
    return value


def number_field(body: dict, key: str, default: Any = _MISSING, *, low: float, high: float, integer: bool = False) -> Any:
    """``body[key]`` as a number within ``[low, high]`` (booleans are not numbers)."""
    value = body.get(key)
    if value is None:
        if default is _MISSING:
            raise ApiError(422, f"Invalid request.\n\n\"{key}\" wasn't supplied.")
        return default
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok or not low <= value <= high:
        raise _invalid(key, value, f"{'an integer' if integer else 'a number'} from {_plain(low)} to {_plain(high)}")
    return value


def _plain(number: float) -> str:
    """``316224000``, not ``3.16224e+08``."""
    return str(int(number)) if float(number).is_integer() else str(number)


def bool_field(body: dict, key: str, default: Any = _MISSING) -> Any:
    value = body.get(key)
    if value is None:
        if default is _MISSING:
            raise ApiError(422, f"Invalid request.\n\n\"{key}\" wasn't supplied.")
        return default
    if not isinstance(value, bool):
        raise _invalid(key, value, "a boolean")
    return value


def str_list_field(body: dict, key: str, default: Any = _MISSING, *, max_items: int = 100, max_length: int = 1000) -> Any:
    """``body[key]`` as a list of non-empty strings."""
    value = body.get(key)
    if value is None:
        if default is _MISSING:
            raise ApiError(422, f"Invalid request.\n\n\"{key}\" wasn't supplied.")
        return default
    if (
        not isinstance(value, list)
        or len(value) > max_items
        or not all(isinstance(v, str) and v and len(v) <= max_length for v in value)
    ):
        raise _invalid(key, value, f"an array of at most {max_items} non-empty strings")
    return value
