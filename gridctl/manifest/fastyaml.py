"""The fast way to what :func:`gridctl.manifest.yamlpos.load_yaml` returns: libyaml's parser
(C, from ruamel.yaml.clib) instead of ruamel's round-trip scanner, which gathers comments in
pure Python — about 13 s of CPU for a 1,000-repository manifest, against well under 1 s here.

:func:`load_fast` gives the same plain data and the same positions (``file:line:col`` of every
key and value) as the round-trip walk, or ``None`` when it cannot promise that: anything the two
parsers might read differently goes to the round-trip loader, which then also words every
error. ``None`` for

* characters outside printable text and line feeds (tabs, carriage returns, NEL and the Unicode
  line separators, a byte-order mark, other control or format characters),
* directives (``%YAML``, ``%TAG``), more or fewer than one document,
* anchors, aliases, explicit tags (``!!str``, ``!x``) and merge keys (``<<``),
* a mapping key that is itself a mapping or a list, a key given twice, nesting deeper than
  :data:`MAX_DEPTH`,
* any error the C parser reports (the round-trip loader reports it in its own words),
* no C parser installed (PyPy; a pure-Python install).

Scalars resolve by YAML 1.2's rules, as ruamel's resolver does: the same table, taken from
ruamel; numbers and timestamps are built by ruamel's round-trip constructor itself, so they are
the very same values. ``tests/core/test_fastyaml.py`` compares both loaders on every manifest of
the test suite and on mutated documents.
"""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml.events import (
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

try:  # ruamel.yaml's libyaml binding (the ruamel.yaml.clib distribution)
    from _ruamel_yaml import CParser
except ImportError:  # pragma: no cover - no C parser: the round-trip loader reads everything
    CParser = None

_NULL = "tag:yaml.org,2002:null"
_BOOL = "tag:yaml.org,2002:bool"
#: tags whose values ruamel's round-trip constructor builds here (numbers, timestamps)
_BUILT = frozenset({"tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp"})


#: collections nested deeper than this go to the round-trip loader, whose recursion decides what
#: happens (a real manifest nests a dozen levels; each level's paths are one key longer)
MAX_DEPTH = 64


# The layout of one entry of yamlpos.Positions' packed table (path -> int): both positions of a
# path, fields from the low bits up, all below 2^60 (so each int is two 30-bit digits, 32 bytes,
# as small as a CPython int above 2^30 gets). Here because the loader below writes it inline;
# Positions reads it and holds what does not fit in another form.
HAS_VALUE, HAS_KEY = 1, 2  #: bits 0-1: which of the two positions the entry holds
VALUE_COL = 2  #: bits 2-13: the value's column (1-based; 0 when there is no value)
KEY_COL = 14  #: bits 14-25: the key's column (0 when there is no key)
DELTA = 26  #: bits 26-29: the value's line minus the key's line (0 unless both are held)
FILE = 30  #: bits 30-39: the file's index in ``Positions.files``
LINE = 40  #: bits 40-59: the key's line, or the value's when there is no key (1-based)
COLS, DELTAS, FILES, LINES = 1 << 12, 1 << 4, 1 << 10, 1 << 20  #: each field's bound (exclusive)


class Unsure(Exception):  # noqa: N818 (not an error: a reason to take the other loader)
    """The document holds something only the round-trip loader reads exactly."""


_TABLE: dict[str, list[tuple[str, re.Pattern[str]]]] | None = None
_BOOLS: dict[str, bool] = {}
_CONSTRUCTOR: Any = None


def _setup() -> None:
    """YAML 1.2's implicit resolvers, as ruamel's VersionedResolver holds them (by first
    character), and a round-trip constructor for numbers and timestamps."""
    global _TABLE, _CONSTRUCTOR
    from ruamel.yaml import YAML
    from ruamel.yaml.constructor import SafeConstructor
    from ruamel.yaml.resolver import VersionedResolver

    held = VersionedResolver(version=(1, 2)).versioned_resolver
    if None in held:  # resolvers for any first character: not in YAML 1.2's table, not handled here
        raise Unsure("resolvers without a first character")
    _BOOLS.update(SafeConstructor.bool_values)
    _CONSTRUCTOR = YAML(typ="rt").constructor
    _TABLE = {str(ch): [(str(tag), rx) for tag, rx in entries] for ch, entries in held.items()}


class _Other:
    """A scalar the round-trip walk keeps as its text when it is a value (a timestamp), but as
    it is when it is a mapping key."""

    __slots__ = ("raw",)

    def __init__(self, raw: Any):
        self.raw = raw


def _typed(event: Any, entries: list[tuple[str, re.Pattern[str]]]) -> Any:
    """A plain scalar that may not be a string: resolved as ruamel's ``VersionedResolver``
    resolves it, and built as the round-trip constructor builds it."""
    value = event.value
    tag = next((t for t, rx in entries if rx.match(value)), None)
    if tag is None:
        return value  # a string
    if tag == _NULL:
        return None
    if tag == _BOOL:
        return _BOOLS[value.lower()]
    if tag not in _BUILT:
        raise Unsure(tag)  # merge keys, "=" and the like
    from ruamel.yaml.nodes import ScalarNode
    from ruamel.yaml.tag import Tag

    node = ScalarNode(Tag(suffix=tag), value, event.start_mark, event.end_mark, style=None)
    built = _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, node)
    if built is None or isinstance(built, (bool, int, float)):
        return built
    return _Other(built)


#: texts up to this long are shared (longer ones are rarely repeated: file contents, descriptions)
SHARED_MAX = 100


def load_fast(text: str, name: str, positions: Any) -> Any:
    """Plain data of ``text``, filling ``positions`` (a :class:`~gridctl.manifest.yamlpos.Positions`:
    its packed table directly) exactly as the round-trip walk does; raises :class:`Unsure` where
    it cannot."""
    if CParser is None:
        raise Unsure("no C parser")
    if not text.replace("\n", "").isprintable():
        raise Unsure("characters")
    if _TABLE is None:
        _setup()
    get = CParser(text).get_event
    try:
        get()  # StreamStart
        start = get()
        if type(start) is not DocumentStartEvent or start.version is not None or start.tags:
            raise Unsure("directives or no document")
        root = _document(get, text, name, positions)
        if type(get()) is not DocumentEndEvent or type(get()) is not StreamEndEvent:
            raise Unsure("more than one document")
    except Unsure:
        raise
    except Exception as exc:  # the C parser's errors: the round-trip loader words them
        raise Unsure(exc.__class__.__name__) from None
    return root


def _document(get: Any, text: str, name: str, positions: Any) -> Any:
    """The events of one document's root node, built into plain data and positions."""
    table = _TABLE
    assert table is not None
    # positions go straight into the packed table, in ``yamlpos``'s layout (``lines``: per 0-based
    # line, its 1-based number and the file, in place); what does not fit the layout (lines past
    # ``fits``, columns from COLS, a value DELTAS or more lines below its key) is packed by
    # ``Positions.pack``, which holds it as it is
    pos_table, pack = positions.table, positions.pack
    fid = positions.file_id(name)
    fits = min(text.count("\n") + 2, LINES - 1) if fid < FILES else 0
    lines = [(n << LINE) | (fid << FILE) for n in range(1, fits + 1)]
    both, value_only = HAS_KEY | HAS_VALUE, HAS_VALUE
    scalar_event, mapping_start, sequence_start = ScalarEvent, MappingStartEvent, SequenceStartEvent
    mapping_end, sequence_end, other, typed = MappingEndEvent, SequenceEndEvent, _Other, _typed
    # a fleet's manifest says the same short texts over and over (keys like ``visibility``, values
    # like ``push``, a secret's name in every repository): the parser makes a new string for each,
    # kept here as one object per text — at 1,000 repositories ~5 MB less held for the whole run
    shared: dict[str, str] = {}
    share = shared.setdefault
    # the collection being filled (None: none yet, the root is next) — its container, path, whether
    # it is a mapping and, in a mapping, whether a key is next (else the value of ``key``, at
    # ``kmark``); the collections around it, innermost last, in ``outer`` (locals, not a stack's
    # top: this loop runs once per node of a document of 10^5 nodes)
    container: Any = None
    cpath: tuple = ()
    in_mapping = want_key = False
    key: Any = None
    kmark: Any = None
    outer: list[tuple[Any, tuple, bool]] = []
    while True:
        event = get()
        kind = type(event)
        if kind is scalar_event:
            if event.anchor is not None or event.ctag is not None:  # (ctag: the tag as held, without the property's call)
                raise Unsure("anchor or tag")
            value: Any = event.value
            if len(value) <= SHARED_MAX:  # one object per repeated text (see ``shared``)
                value = share(value, value)
            if event.implicit[0]:  # plain: maybe not a string (quoted and block scalars are)
                entries = table.get(value[:1])
                if entries is not None:
                    value = typed(event, entries)
            elif event.style == "|" or event.style == ">":
                at = event.start_mark.index
                end = text.find("\n", at)
                if not _BLOCK_HEADER.match(text, at, len(text) if end < 0 else end):
                    raise Unsure("block scalar header")
            opened = False
        elif kind is mapping_start or kind is sequence_start:
            if event.anchor is not None or event.ctag is not None:
                raise Unsure("anchor or tag")
            value = {} if kind is mapping_start else []
            opened = True
        elif kind is mapping_end or kind is sequence_end:
            if not outer:
                return container
            container, cpath, in_mapping = outer.pop()
            want_key = in_mapping  # (a collection is a value: a key comes next in a mapping)
            continue
        else:  # an alias
            raise Unsure(kind.__name__)
        mark = event.start_mark
        if container is None:  # the root
            if not opened:
                return str(value.raw) if type(value) is other else value
            path: tuple = ()
        elif in_mapping:
            if want_key:
                if opened:
                    raise Unsure("a collection as a key")
                if type(value) is other:
                    value = value.raw
                if value in container:
                    raise Unsure("duplicate key")
                key = value
                kmark = mark
                want_key = False
                continue
            if type(value) is other:
                value = str(value.raw)
            path = cpath + (key,)
            vmark = kmark if value is None else mark  # (an empty value has no place of its own)
            kline, kcol, vcol = kmark.line, kmark.column + 1, vmark.column + 1
            delta = vmark.line - kline
            pos_table[path] = (
                lines[kline] | delta << DELTA | kcol << KEY_COL | vcol << VALUE_COL | both
                if kline < fits and (kcol | vcol) < COLS and 0 <= delta < DELTAS
                else pack((name, kline + 1, kcol), (name, kline + delta + 1, vcol))
            )
            container[key] = value
            want_key = True
        else:
            if type(value) is other:
                value = str(value.raw)
            path = cpath + (len(container),)
            vline, vcol = mark.line, mark.column + 1
            pos_table[path] = (
                lines[vline] | vcol << VALUE_COL | value_only if vline < fits and vcol < COLS else pack(None, (name, vline + 1, vcol))
            )
            container.append(value)
        if opened:
            if container is not None:
                if len(outer) + 1 >= MAX_DEPTH:
                    raise Unsure("deep nesting")
                outer.append((container, cpath, in_mapping))
            container = value
            cpath = path
            in_mapping = want_key = kind is mapping_start


_NO_KEY = object()
#: a block scalar's header as ruamel's scanner takes it: chomping and indentation indicators, then
#: a space (before a comment) or the line's end (libyaml also takes ``|#...``, ruamel refuses it)
_BLOCK_HEADER = re.compile(r"[|>](?:[+-][1-9]?|[1-9][+-]?)?(?: |$)")
