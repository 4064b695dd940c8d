"""YAML loading that remembers where every node came from.

:func:`load_yaml` returns plain Python data (dicts, lists, scalars) plus a :class:`Positions`
map from a path (a tuple of keys and indices) to ``(file, line, col)``. Both the position of a
mapping key and of its value are kept, so an error about an unknown key points at the key and
an error about a bad value points at the value.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.reader import ReaderError

from ..errors import Diagnostic
from .fastyaml import Unsure, load_fast

PathT = tuple[Any, ...]


class Pos(NamedTuple):
    """Where a node starts. (A named tuple: a 1,000-repository manifest has some 170,000.)"""

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

    def source(self, path: PathT) -> str | None:
        """``file:line`` of the entry at ``path`` (its key), where a plan says an object is declared."""
        pos = self.of(path, key=True)
        return f"{pos.file}:{pos.line}" if pos else None

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


#: how many nodes YAML aliases may add in all, by repeating what an anchor holds. Aliases repeat
#: by reference, so a few hundred bytes can stand for billions of nodes ("billion laughs"); a real
#: manifest reuses a block of settings a few dozen times at most.
ALIAS_BUDGET = 10_000


class _Walk:
    """Turns ruamel's round-trip nodes into plain data, recording positions, and counts what
    aliases add (a node met again is an alias being expanded)."""

    def __init__(self, file: str, pos: Positions):
        self.file = file
        self.pos = pos
        self.seen: set[int] = set()
        self.expanded = 0

    def _alias_cost(self, node: Any, path: PathT, inside_alias: bool) -> bool:
        first = id(node) not in self.seen
        self.seen.add(id(node))
        if inside_alias or not first:
            self.expanded += 1
            if self.expanded > ALIAS_BUDGET:
                where = self.pos.of(path) or Pos(self.file, 1, 1)
                raise YamlLoadError(Diagnostic(
                    "error", f"YAML aliases expand to more than {ALIAS_BUDGET:,} nodes",
                    "an alias (*name) repeats its anchor's content; nested aliases multiply it — "
                    "write the repeated settings out, or use defaults:", where.file, where.line, where.col,
                ))
        return inside_alias or not first

    def walk(self, node: Any, path: PathT, inside_alias: bool = False) -> Any:
        file, pos = self.file, self.pos
        if isinstance(node, CommentedMap):
            inside_alias = self._alias_cost(node, path, inside_alias)
            out: dict[Any, Any] = {}
            for k, v in node.items():
                child = path + (k,)
                if not inside_alias:
                    try:
                        kl, kc = node.lc.key(k)
                        pos.keys[child] = Pos(file, kl + 1, kc + 1)
                    except (KeyError, TypeError, AttributeError):
                        pass
                    try:
                        if v is None:
                            raise KeyError(k)  # an empty value has no place of its own: point at its key
                        vl, vc = node.lc.value(k)
                        pos.values[child] = Pos(file, vl + 1, vc + 1)
                    except (KeyError, TypeError, AttributeError):
                        if child in pos.keys:
                            pos.values[child] = pos.keys[child]
                out[k] = self.walk(v, child, inside_alias)
            return out
        if isinstance(node, CommentedSeq):
            inside_alias = self._alias_cost(node, path, inside_alias)
            items = []
            for i, v in enumerate(node):
                child = path + (i,)
                if not inside_alias:
                    try:
                        il, ic = node.lc.item(i)
                        pos.values[child] = Pos(file, il + 1, ic + 1)
                    except (KeyError, TypeError, AttributeError, IndexError):
                        pass
                items.append(self.walk(v, child, inside_alias))
            return items
        if inside_alias:
            self._alias_cost(node, path, inside_alias)
        if node is None or isinstance(node, (bool, int, float)):
            return node
        if isinstance(node, str):
            return str(node)
        # dates, timestamps and other YAML types become strings: the schema decides if that's fine
        return str(node)


def _line_col(before: str) -> tuple[int, int]:
    """1-based line and column just after ``before`` (the text preceding a position)."""
    lines = before.split("\n")
    return len(lines), len(lines[-1]) + 1


def _first_key_line(text: str, mapping_mark: Any, dup_mark: Any, key: str) -> int | None:
    """The line where a duplicated key first appears in its block mapping: the same key at the
    same column, between the mapping's start and the duplicate (None when unsure)."""
    if mapping_mark is None or dup_mark is None:
        return None
    lines = text.split("\n")
    col = dup_mark.column
    for i in range(mapping_mark.line, dup_mark.line):
        line = lines[i]
        rest = line[col:]
        if line[:col].strip(" -") == "" and any(rest.startswith(f"{k}:") for k in (key, f"'{key}'", f'"{key}"')):
            return i + 1
    return None


class YamlLoadError(Exception):
    def __init__(self, diagnostic: Diagnostic):
        super().__init__(diagnostic.summary)
        self.diagnostic = diagnostic


def load_yaml(path: Path, display: str | None = None, *, fast: bool = True) -> tuple[Any, Positions]:
    """Parse one YAML file. Syntax errors and duplicate keys raise :class:`YamlLoadError`
    with the file, line and column.

    libyaml's parser reads the document when it can promise the round-trip loader's very data
    and positions (:mod:`gridctl.manifest.fastyaml`); anything else, errors included, goes to
    ruamel's round-trip loader (the only one with ``fast=False``)."""
    name = display or str(path)
    pos = Positions()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise YamlLoadError(Diagnostic("error", "file not found", "", name)) from None
    except IsADirectoryError:
        raise YamlLoadError(Diagnostic("error", "is a directory, not a YAML file", "", name)) from None
    except UnicodeDecodeError as exc:
        line, col = _line_col(exc.object[: exc.start].decode("utf-8", "replace"))
        raise YamlLoadError(Diagnostic("error", "the file is not UTF-8 text", "", name, line, col)) from None
    except OSError as exc:
        raise YamlLoadError(Diagnostic("error", f"cannot read the file ({exc.__class__.__name__})", "", name)) from None
    if fast:
        try:
            with gc_paused():
                data = load_fast(text, name, Pos, pos)
        except Unsure:  # something only the round-trip loader reads exactly (or an error to word)
            pos = Positions()
        else:
            pos.values[()] = Pos(name, 1, 1)
            return data, pos
    try:
        with gc_paused():
            node = _yaml().load(text)
    except DuplicateKeyError as exc:
        mark = exc.problem_mark
        key = exc.problem.split('"')[1] if '"' in (exc.problem or "") else ""
        summary = f"duplicate key {key!r}" if key else "duplicate key"
        first = _first_key_line(text, exc.context_mark, mark, key) if key else None
        detail = f"each key may appear once in a mapping (first at line {first})" if first else "each key may appear once in a mapping"
        raise YamlLoadError(Diagnostic("error", summary, detail, name, mark.line + 1 if mark else None, mark.column + 1 if mark else None)) from None
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        detail = ""
        ctx = exc.context_mark
        if exc.problem and exc.context and ctx is not None and (mark is None or (ctx.line, ctx.column) != (mark.line, mark.column)):
            detail = f"{exc.context.strip()} that starts at line {ctx.line + 1}, column {ctx.column + 1}"
        if "\\t" in problem or "\t" in problem:
            detail = "YAML indentation must use spaces, not tabs"
        raise YamlLoadError(
            Diagnostic("error", f"YAML syntax error: {problem}", detail, name, mark.line + 1 if mark else None, mark.column + 1 if mark else None)
        ) from None
    except ReaderError as exc:
        line, col = _line_col(text[: exc.position])
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise YamlLoadError(Diagnostic("error", f"YAML syntax error: character U+{code:04X} is not allowed in YAML", "", name, line, col)) from None
    except Exception as exc:  # ruamel raises a few unmarked errors for odd input
        raise YamlLoadError(Diagnostic("error", f"YAML error: {exc.__class__.__name__}", "", name, 1, 1)) from None
    pos.values[()] = Pos(name, 1, 1)
    with gc_paused():
        return _Walk(name, pos).walk(node, ()), pos


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a document's nodes are built: they are all alive
    until the end, and each collection would walk every one of them again (without this, a
    1,000-repository manifest costs twice the CPU)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            # what was made meanwhile goes to the oldest generation as it is (freeze, then
            # unfreeze: the documented way to move every object there, two list splices), so
            # the collector, back on, does not start with a pass over the 10^6 objects a large
            # manifest leaves alive (and a second one to promote them again)
            gc.freeze()
            gc.unfreeze()
            gc.enable()
