"""YAML loading that remembers where every node came from.

:func:`load_yaml` returns plain Python data (dicts, lists, scalars) plus a :class:`Positions`
map from a path (a tuple of keys and indices) to ``(file, line, col)``. Both the position of a
mapping key and of its value are kept, so an error about an unknown key points at the key and
an error about a bad value points at the value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError

from ..errors import Diagnostic

PathT = tuple[Any, ...]


@dataclass(frozen=True)
class Pos:
    file: str
    line: int  # 1-based
    col: int  # 1-based


@dataclass
class Positions:
    values: dict[PathT, Pos] = field(default_factory=dict)
    keys: dict[PathT, Pos] = field(default_factory=dict)

    def of(self, path: PathT, *, key: bool = False) -> Pos | None:
        """The closest known position of ``path`` (walking up to a parent when needed)."""
        table = self.keys if key else self.values
        p = tuple(path)
        while True:
            if p in table:
                return table[p]
            if key and p in self.values:
                return self.values[p]
            if not p:
                return None
            p = p[:-1]
            table = self.values

    def merge(self, other: Positions, prefix: PathT = ()) -> None:
        for k, v in other.values.items():
            self.values[prefix + k] = v
        for k, v in other.keys.items():
            self.keys[prefix + k] = v

    def diag(self, path: PathT, summary: str, detail: str = "", *, key: bool = False, severity: str = "error") -> Diagnostic:
        pos = self.of(path, key=key)
        if pos is None:
            return Diagnostic(severity, summary, detail)
        return Diagnostic(severity, summary, detail, pos.file, pos.line, pos.col)


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.allow_duplicate_keys = False
    return y


def _walk(node: Any, path: PathT, file: str, pos: Positions) -> Any:
    if isinstance(node, CommentedMap):
        out: dict[Any, Any] = {}
        for k, v in node.items():
            child = path + (k,)
            try:
                kl, kc = node.lc.key(k)
                pos.keys[child] = Pos(file, kl + 1, kc + 1)
            except (KeyError, TypeError, AttributeError):
                pass
            try:
                vl, vc = node.lc.value(k)
                pos.values[child] = Pos(file, vl + 1, vc + 1)
            except (KeyError, TypeError, AttributeError):
                if child in pos.keys:
                    pos.values[child] = pos.keys[child]
            out[k] = _walk(v, child, file, pos)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, v in enumerate(node):
            child = path + (i,)
            try:
                il, ic = node.lc.item(i)
                pos.values[child] = Pos(file, il + 1, ic + 1)
            except (KeyError, TypeError, AttributeError, IndexError):
                pass
            items.append(_walk(v, child, file, pos))
        return items
    if node is None or isinstance(node, (bool, int, float)):
        return node
    if isinstance(node, str):
        return str(node)
    # dates, timestamps and other YAML types become strings: the schema decides if that's fine
    return str(node)


class YamlLoadError(Exception):
    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.summary)
        self.diagnostic = diagnostic


def load_yaml(path: Path, display: str | None = None) -> tuple[Any, Positions]:
    """Parse one YAML file. Syntax errors and duplicate keys raise :class:`YamlLoadError`
    with the file, line and column."""
    name = display or str(path)
    pos = Positions()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise YamlLoadError(Diagnostic("error", f"file not found: {name}")) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlLoadError(Diagnostic("error", f"cannot read {name}: {exc.__class__.__name__}")) from None
    try:
        node = _yaml().load(text)
    except DuplicateKeyError as exc:
        mark = exc.problem_mark
        key = exc.problem.split('"')[1] if '"' in (exc.problem or "") else ""
        summary = f"duplicate key {key!r}" if key else "duplicate key"
        raise YamlLoadError(
            Diagnostic("error", summary, "each key may appear once in a mapping", name, mark.line + 1 if mark else None, mark.column + 1 if mark else None)
        ) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        raise YamlLoadError(
            Diagnostic("error", f"YAML syntax error: {problem}", "", name, mark.line + 1 if mark else None, mark.column + 1 if mark else None)
        ) from None
    except Exception as exc:  # ruamel raises a few unmarked errors for odd input
        raise YamlLoadError(Diagnostic("error", f"YAML error: {exc.__class__.__name__}: {str(exc)[:200]}", "", name)) from None
    pos.values[()] = Pos(name, 1, 1)
    return _walk(node, (), name, pos), pos
