"""YAML loading that remembers where every node came from.

:func:`load_yaml` returns plain Python data (dicts, lists, scalars) plus a :class:`Positions`
map from a path (a tuple of keys and indices) to ``(file, line, col)``. Both the position of a
mapping key and of its value are kept, so an error about an unknown key points at the key and
an error about a bad value points at the value.

How the positions are held: one dict, path -> one int packing both positions of that path (the
layout: :data:`gridctl.manifest.fastyaml.LINE` and the fields next to it); the file names are a
list of their own, and a :class:`Pos` is only made when one is read. ``Positions.keys`` and
``Positions.values`` are mutable mapping views of that one dict (the key positions, the value
positions). An entry that does not fit the layout (a column past 4,095, a line past 2^20 - 1, a
value more than 15 lines below its key, its key and value in two files, more than 1,024 files)
is held as it is, a pair ``(key Pos | None, value Pos | None)`` in the same dict: every
position reads back as written, however large (``tests/core/test_positions.py``).

What it saves: the positions of a 1,000-repository manifest (``tests/bench/bench_plan.py``'s
reference shape: 72,083 paths, 68,082 with a key) were two dicts of that many entries and a
``Pos`` of 64 bytes for nearly every entry, 21.6 MB by tracemalloc; now 10.3 MB (5.4 MB of path
tuples, 2.6 MB of dict, 2.3 MB of ints at 32 bytes each). The peak RSS of a process that loads
that manifest went from 71.7 MB to 59.2 MB. Loading costs no more CPU: a path is one int and one
dict store where it was two tuples and two stores.
"""

from __future__ import annotations

import gc
from collections.abc import ItemsView, Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.reader import ReaderError

from ..errors import Diagnostic
from .fastyaml import (
    COLS,
    DELTA,
    DELTAS,
    FILE,
    FILES,
    HAS_KEY,
    HAS_VALUE,
    KEY_COL,
    LINE,
    LINES,
    VALUE_COL,
    Unsure,
    load_fast,
)

PathT = tuple[Any, ...]


class Pos(NamedTuple):
    """Where a node starts (made when a position is read; the table holds packed ints)."""

    file: str
    line: int  # 1-based
    col: int  # 1-based


class Positions:
    """Where each path's key and value were written (see the module's docstring for how)."""

    __slots__ = ("table", "files", "_file_ids", "_keys", "_values")

    def __init__(self, values: Mapping[PathT, Any] | None = None, keys: Mapping[PathT, Any] | None = None):
        #: path -> packed int (or a pair of positions that do not fit); filled directly by the fast loader
        self.table: dict[PathT, Any] = {}
        #: the file names the packed ints' ``FILE`` field indexes
        self.files: list[str] = []
        self._file_ids: dict[str, int] = {}
        self._keys = _Side(self, True)
        self._values = _Side(self, False)
        for path, p in (values or {}).items():
            self._values[path] = p
        for path, p in (keys or {}).items():
            self._keys[path] = p

    @property
    def keys(self) -> _Side:
        """path -> position of the mapping key that path ends in (a mutable view)."""
        return self._keys

    @property
    def values(self) -> _Side:
        """path -> position of the value at that path (a mutable view)."""
        return self._values

    def file_id(self, file: str) -> int:
        """The index of ``file`` in :attr:`files` (added when new)."""
        i = self._file_ids.get(file)
        if i is None:
            i = self._file_ids[file] = len(self.files)
            self.files.append(file)
        return i

    def pack(self, key: Any, value: Any) -> Any:
        """One entry of :attr:`table`: ``key`` and ``value`` positions (``(file, line, col)``
        or None, not both None) as one int, or as a pair ``(key Pos | None, value Pos | None)`` when they do not fit."""
        anchor = key if key is not None else value
        file, line, _ = anchor
        fid = self.file_id(file)
        kcol = vcol = delta = bits = 0
        if key is not None:
            bits, kcol = HAS_KEY, key[2]
        if value is not None:
            bits |= HAS_VALUE
            vcol = value[2]
            if key is not None:
                delta = value[1] - line
                if value[0] != file:
                    delta = -1  # two files: held as a pair
        if fid < FILES and 0 <= line < LINES and 0 <= kcol < COLS and 0 <= vcol < COLS and 0 <= delta < DELTAS:
            return line << LINE | fid << FILE | delta << DELTA | kcol << KEY_COL | vcol << VALUE_COL | bits
        return (None if key is None else _as_pos(key), None if value is None else _as_pos(value))

    def side(self, entry: Any, key: bool) -> Pos | None:
        """The key's (or the value's) position held by one entry of :attr:`table`."""
        if type(entry) is not int:
            return entry[0] if key else entry[1]  # type: ignore[no-any-return]
        if key:
            if not entry & HAS_KEY:
                return None
            return Pos(self.files[entry >> FILE & (FILES - 1)], entry >> LINE, entry >> KEY_COL & (COLS - 1))
        if not entry & HAS_VALUE:
            return None
        line = (entry >> LINE) + (entry >> DELTA & (DELTAS - 1))
        return Pos(self.files[entry >> FILE & (FILES - 1)], line, entry >> VALUE_COL & (COLS - 1))

    def get(self, path: PathT, *, key: bool = False) -> Pos | None:
        """The key's (or the value's) position of exactly ``path``, None when not held."""
        entry = self.table.get(path)
        return None if entry is None else self.side(entry, key)

    def put(self, path: PathT, key: Any, value: Any) -> None:
        """Hold ``key`` and ``value`` (positions or None) as ``path``'s, replacing both."""
        if key is None and value is None:
            self.table.pop(path, None)
        else:
            self.table[path] = self.pack(key, value)

    def of(self, path: PathT, *, key: bool = False) -> Pos | None:
        """The closest known position of ``path`` (walking up to a parent when needed)."""
        table, side = self.table, self.side
        p = tuple(path)
        want_key = key
        while True:
            entry = table.get(p)
            if entry is not None:
                found = side(entry, True) if want_key else None
                if found is None:
                    found = side(entry, False)
                if found is not None:
                    return found
            if not p:
                return None
            p = p[:-1]
            want_key = False

    def source(self, path: PathT) -> str | None:
        """``file:line`` of the entry at ``path`` (its key), where a plan says an object is declared."""
        pos = self.of(path, key=True)
        return f"{pos.file}:{pos.line}" if pos else None

    def merge(self, other: Positions, prefix: PathT = (), under: PathT = ()) -> None:
        """Copy ``other``'s positions of the paths starting with ``under``, each at ``prefix``
        + its path; where a path is held already, each of its two positions ``other`` holds
        replaces the one held."""
        ids = [self.file_id(f) for f in other.files]
        table, n = self.table, len(under)
        for path, entry in other.table.items():
            if path[:n] != under:
                continue
            at = prefix + path
            if type(entry) is int:
                fid = ids[entry >> FILE & (FILES - 1)]
                if fid < FILES:
                    entry = entry & ~((FILES - 1) << FILE) | fid << FILE
                else:
                    entry = self.pack(other.side(entry, True), other.side(entry, False))
            held = table.get(at)
            if held is not None:
                k, v = self.side(entry, True), self.side(entry, False)
                entry = self.pack(k if k is not None else self.side(held, True), v if v is not None else self.side(held, False))
            table[at] = entry

    def diag(self, path: PathT, summary: str, detail: str = "", *, key: bool = False, severity: str = "error") -> Diagnostic:
        pos = self.of(path, key=key)
        if pos is None:
            return Diagnostic(severity, summary, detail)
        return Diagnostic(severity, summary, detail, pos.file, pos.line, pos.col)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Positions):
            return NotImplemented
        return dict(self.keys.items()) == dict(other.keys.items()) and dict(self.values.items()) == dict(other.values.items())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Positions({len(self.table)} paths in {len(self.files)} files)"


def _as_pos(p: Any) -> Pos:
    return p if type(p) is Pos else Pos(*p)


class _Side(MutableMapping[PathT, Pos]):
    """The key positions (or the value positions) of a :class:`Positions`, as a mapping."""

    __slots__ = ("_pos", "_key", "_bit")

    def __init__(self, pos: Positions, key: bool):
        self._pos, self._key = pos, key
        self._bit = HAS_KEY if key else HAS_VALUE

    def __getitem__(self, path: PathT) -> Pos:
        entry = self._pos.table.get(path)
        found = None if entry is None else self._pos.side(entry, self._key)
        if found is None:
            raise KeyError(path)
        return found

    def get(self, path: PathT, default: Any = None) -> Any:
        entry = self._pos.table.get(path)
        found = None if entry is None else self._pos.side(entry, self._key)
        return default if found is None else found

    def __contains__(self, path: object) -> bool:
        entry = self._pos.table.get(path) if isinstance(path, tuple) else None
        if entry is None:
            return False
        if type(entry) is int:
            return bool(entry & self._bit)
        return entry[0 if self._key else 1] is not None

    def __iter__(self) -> Iterator[PathT]:
        bit, i = self._bit, 0 if self._key else 1
        for path, entry in self._pos.table.items():
            if (entry & bit) if type(entry) is int else entry[i] is not None:
                yield path

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __setitem__(self, path: PathT, p: Any) -> None:
        pos = self._pos
        other = pos.get(path, key=not self._key)
        pos.put(path, p if self._key else other, other if self._key else p)

    def __delitem__(self, path: PathT) -> None:
        if path not in self:
            raise KeyError(path)
        pos = self._pos
        other = pos.get(path, key=not self._key)
        pos.put(path, None if self._key else other, other if self._key else None)

    def items(self) -> _Items:
        return _Items(self)

    def __repr__(self) -> str:
        return f"{'keys' if self._key else 'values'}({dict(self.items())!r})"


class _Items(ItemsView[PathT, Pos]):
    _mapping: _Side

    def __iter__(self) -> Iterator[tuple[PathT, Pos]]:
        side = self._mapping
        pos, key, i = side._pos, side._key, 0 if side._key else 1
        bit = side._bit
        for path, entry in pos.table.items():
            if type(entry) is int:
                if entry & bit:
                    yield path, pos.side(entry, key)  # type: ignore[misc]
            elif entry[i] is not None:
                yield path, entry[i]


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
                    kpos = vpos = None
                    try:
                        kl, kc = node.lc.key(k)
                        kpos = Pos(file, kl + 1, kc + 1)
                    except (KeyError, TypeError, AttributeError):
                        pass
                    try:
                        if v is None:
                            raise KeyError(k)  # an empty value has no place of its own: point at its key
                        vl, vc = node.lc.value(k)
                        vpos = Pos(file, vl + 1, vc + 1)
                    except (KeyError, TypeError, AttributeError):
                        vpos = kpos
                    if kpos is not None or vpos is not None:
                        pos.put(child, kpos, vpos)
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
                        pos.put(child, None, Pos(file, il + 1, ic + 1))
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
                data = load_fast(text, name, pos)
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
