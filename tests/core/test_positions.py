"""The packed positions table (:class:`gridctl.manifest.yamlpos.Positions`) gives back every
position as it was written: key and value positions of any path, through ``keys``/``values``
and through ``of``, ``merge`` and the fast loader, with lines, columns, line gaps and file counts
on both sides of the packed layout's bounds (past them an entry is held as it is: manifests are
untrusted input, nothing is refused or cut). Properties run derandomized, a fixed count.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridctl.manifest import fastyaml
from gridctl.manifest.fastyaml import COLS, DELTAS, FILES, LINES
from gridctl.manifest.yamlpos import Pos, Positions, load_yaml

PROPERTY = settings(max_examples=300, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def _near(bound: int) -> st.SearchStrategy[int]:
    """Numbers around a field's bound, small ones, and far past any bound."""
    return st.one_of(st.integers(0, 3), st.integers(bound - 2, bound + 2), st.integers(1, 10**12))


files = st.sampled_from(["grid.yaml", "repos/a.yaml", "b.yaml"])
lines = st.one_of(_near(LINES), _near(DELTAS))
cols = _near(COLS)
positions = st.builds(Pos, files, lines, cols)
steps = st.one_of(st.text(max_size=3), st.integers(0, 300))
paths = st.lists(steps, max_size=4).map(tuple)
#: an entry: the key's position (or None) and the value's; a value near its key on the same file
#: half the time, so the line gap crosses its bound too
entries = st.one_of(
    st.tuples(st.none(), positions),
    st.tuples(positions, st.none()),
    st.tuples(positions, positions),
    st.builds(lambda k, gap, col: (k, Pos(k.file, k.line + gap, col)), positions, _near(DELTAS) | st.integers(-3, -1), cols),
)


@PROPERTY
@given(st.dictionaries(paths, entries, max_size=30))
def test_every_position_reads_back_as_written(table):
    pos = Positions()
    for path, (k, v) in table.items():  # through the views, one side at a time
        if k is not None:
            pos.keys[path] = k
        if v is not None:
            pos.values[path] = v
    want_keys = {p: k for p, (k, _) in table.items() if k is not None}
    want_values = {p: v for p, (_, v) in table.items() if v is not None}
    assert dict(pos.keys.items()) == want_keys
    assert dict(pos.values.items()) == want_values
    assert set(pos.keys) == set(want_keys) and len(pos.values) == len(want_values)
    for path, (k, v) in table.items():
        assert (path in pos.keys) == (k is not None) and (path in pos.values) == (v is not None)
        assert pos.keys.get(path) == k and pos.values.get(path) == v
        assert pos.of(path, key=True) == (k if k is not None else v)
        if v is not None:
            assert pos.of(path) == v
        if k is not None:
            assert pos.source(path) == f"{k.file}:{k.line}"
            assert type(pos.keys[path]) is Pos
    again = Positions(values=want_values, keys=want_keys)
    assert again == pos


@PROPERTY
@given(st.dictionaries(paths, entries, max_size=20), st.dictionaries(paths, entries, max_size=20), paths)
def test_merge_copies_each_side_under_its_prefix(mine, theirs, prefix):
    pos, other = Positions(), Positions()
    for target, table in ((pos, mine), (other, theirs)):
        if target is other:
            target.file_id("unused-first.yaml")  # the two tables' file indexes differ
        for path, (k, v) in table.items():
            target.put(path, k, v)
    want_keys = {p: k for p, (k, _) in mine.items() if k is not None}
    want_values = {p: v for p, (_, v) in mine.items() if v is not None}
    want_keys.update({prefix + p: k for p, (k, _) in theirs.items() if k is not None})
    want_values.update({prefix + p: v for p, (_, v) in theirs.items() if v is not None})
    pos.merge(other, prefix)
    assert dict(pos.keys.items()) == want_keys
    assert dict(pos.values.items()) == want_values


def test_merge_takes_only_the_paths_under_its_step():
    pos, other = Positions(), Positions()
    other.values[()] = Pos("a.yaml", 1, 1)
    other.put(("x",), Pos("a.yaml", 2, 1), Pos("a.yaml", 2, 4))
    other.put(("x", "y"), Pos("a.yaml", 3, 3), None)
    other.put(("z",), Pos("a.yaml", 4, 1), None)
    pos.merge(other, ("repos",), under=("x",))
    assert sorted(pos.table) == [("repos", "x"), ("repos", "x", "y")]
    assert pos.keys[("repos", "x", "y")] == Pos("a.yaml", 3, 3) and ("repos", "x", "y") not in pos.values


def test_more_files_than_the_layout_indexes_are_held_too():
    pos = Positions()
    for i in range(FILES + 5):
        sub = Positions()
        sub.put(("r",), Pos(f"f{i}.yaml", i + 1, 3), Pos(f"f{i}.yaml", i + 2, 5))
        pos.merge(sub, (i,))
    assert len(pos.files) == FILES + 5
    for i in range(FILES + 5):
        assert pos.keys[(i, "r")] == Pos(f"f{i}.yaml", i + 1, 3) and pos.values[(i, "r")] == Pos(f"f{i}.yaml", i + 2, 5)
    assert type(pos.table[(FILES + 4, "r")]) is tuple and type(pos.table[(0, "r")]) is int


def test_deleting_one_side_keeps_the_other():
    pos = Positions()
    pos.put(("a",), Pos("g.yaml", 5, 1), Pos("g.yaml", 6, 3))
    del pos.keys[("a",)]
    assert ("a",) not in pos.keys and pos.values[("a",)] == Pos("g.yaml", 6, 3)
    del pos.values[("a",)]
    assert pos.table == {}


def _fast_and_slow(tmp_path: Path, text: str) -> tuple[Positions, Positions]:
    f = tmp_path / "doc.yaml"
    f.write_text(text, encoding="utf-8")
    return load_yaml(f, "doc.yaml")[1], load_yaml(f, "doc.yaml", fast=False)[1]


def test_the_fast_loader_holds_what_does_not_fit_as_the_round_trip_walk_does(tmp_path):
    text = (
        "far:\n" + "# a comment\n" * (DELTAS + 3) + "  value\n"  # a value 19 lines below its key
        + "near:\n" + "#\n" * (DELTAS - 2) + "  v\n"  # 15 lines: still packed
        + "flow: {" + ", ".join(f"key{i}: [{i}, x]" for i in range(COLS // 8)) + ", empty: }\n"  # columns past 4,095
        + "list:\n- " + " " * COLS + "late\n"
    )
    fastyaml.load_fast(text, "doc.yaml", Positions())  # (the fast path takes it: no Unsure)
    fast, slow = _fast_and_slow(tmp_path, text)
    assert dict(fast.keys.items()) == dict(slow.keys.items()) and dict(fast.values.items()) == dict(slow.values.items())
    assert fast.values[("far",)] == Pos("doc.yaml", DELTAS + 5, 3) and type(fast.table[("far",)]) is tuple
    assert type(fast.table[("near",)]) is int
    empty = ("flow", "empty")
    assert fast.keys[empty] == fast.values[empty] and fast.keys[empty].col > COLS and type(fast.table[empty]) is tuple
    assert fast.values[("list", 0)].col == COLS + 3
    assert any(type(e) is tuple for p, e in fast.table.items() if p[:1] == ("flow",))


def test_lines_past_the_layout_read_back_from_the_fast_loader(tmp_path):
    f = tmp_path / "doc.yaml"
    text = "\n" * (LINES - 3) + "a: 1\nb:\n  - x\n  - y\nc: {d: e}\n"
    f.write_text(text, encoding="utf-8")
    fastyaml.load_fast(text, "doc.yaml", Positions())  # (the fast path takes it: no Unsure)
    pos: Any = load_yaml(f, "doc.yaml")[1]
    at = LINES - 2  # the line of ``a``
    assert pos.keys[("a",)] == Pos("doc.yaml", at, 1) and pos.values[("a",)] == Pos("doc.yaml", at, 4)
    assert type(pos.table[("a",)]) is int
    assert pos.values[("b", 0)] == Pos("doc.yaml", at + 2, 5) and type(pos.table[("b", 0)]) is tuple
    assert pos.values[("b", 1)] == Pos("doc.yaml", at + 3, 5)
    assert pos.keys[("c", "d")] == Pos("doc.yaml", at + 4, 5) and pos.values[("c", "d")] == Pos("doc.yaml", at + 4, 8)
