"""The libyaml path of the manifest loader gives exactly what ruamel's round-trip loader gives.

:func:`gridctl.manifest.yamlpos.load_yaml` reads a document with libyaml's parser when
:mod:`gridctl.manifest.fastyaml` can promise the round-trip loader's data and positions, and
with the round-trip loader otherwise (``fast=False``: that loader alone). Compared here, on every
YAML file of the examples and the test manifests, on hand-picked corners of YAML, and on
mutations of those files (seeded, a fixed count): the same values of the same Python types, the
same position for every key and value — or the fast path declines and the result *is* the
round-trip loader's; and on random values written out as JSON and as PyYAML writes them (block
and flow style, escapes, keys that are not strings). Bounded and repeatable:
``GRIDCTL_FASTYAML_MUTATIONS`` mutations per file (default 12), 200 random values, fixed seeds;
the counts are printed.
"""

from __future__ import annotations

import json
import os
import platform
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from gridctl.manifest import fastyaml
from gridctl.manifest.yamlpos import Positions, YamlLoadError, load_yaml

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted([*ROOT.glob("examples/**/*.yaml"), *ROOT.glob("examples/**/*.yml"), *ROOT.glob("tests/manifests/**/*.yaml")])
MUTATIONS = int(os.environ.get("GRIDCTL_FASTYAML_MUTATIONS", "12"))

#: corners of YAML: numbers, timestamps, keys that are not strings, block scalars, empty values,
#: flow collections, comments, quoting, wide characters; and what the fast path must decline
CORNERS = [
    "a:\n- \n- x\n-\n",
    "a: {b, c: , d: 1}\n",
    "? a\n: b\n? c\n",
    "- ? a\n  : b\n",
    "a: é😀x\nb: 'é😀'\nc: [é😀, {d: é😀}]\n",
    "a: |2-\n    x\n   y\nb: |+\n  k\n\nc: >\n  a\n   more\n  b\n\n\n  c\nd: >-\n  x\n",
    "a: multi\n  line\n\n  plain\nb: 'q\n  uoted'\nc: \"esc \\t \\u00e9 \\\n  cont\"\n",
    "---\na: 1\n...\n",
    "a: [true, True, TRUE, false, yes, no, on, off, y, n, Null, NULL, ~, null]\n",
    "a: 1\nA: 2\n",
    "a: b # c\n# d\n  # e\nf: [g, # h\n  i]\n",
    "- a\n- b: c\n  d: e\n- - f\n  - g\n",
    "a: 'it''s'\nb: \"\"\nc: ''\n",
    "[a, b]\n",
    "plain\n",
    "2024-01-02\n",
    "a: {b: [c, {d: e}], f: }\n",
    "key with spaces: v\n'quoted key': v\n\"dq key\": v\n",
    "a: 2001-12-14t21:59:43.10-05:00\nb: 2002-12-14\n2002-12-14: date key\n",
    "a:   \n  - x\n",
    "a: >\n\n  x\n  \n  y\n",
    "a: \"a\\\"b\\\\c\\/\\N\\_\\L\\P\"\n",
    "a: |-  # a comment\n  x\nb: >2\n   y\nc: |+\n  z\n",
    # libyaml takes a comment right after a block scalar's header, ruamel does not
    "alice/tools:\n |# de*scription: Tools\n",
    "a: |#c\n  x\n",
    "a: >-#c\n  x\n",
    # declined: anchors and aliases, tags, merge keys, directives, duplicates, two documents, tabs
    "a: &x 1\nb: *x\n",
    "a: &t true\n",
    "a: !!str 1\n",
    "a: {<<: {b: 1}}\n",
    "%YAML 1.1\n---\na: yes\n",
    "a: b\na: c\n",
    "1: a\n1.0: b\n",
    "---\na: 1\n---\nb: 2\n",
    "a:\tb\n",
    "a: b\r\nc: d\r\n",
    "\ufeffa: b\n",
    "",
    "# only a comment\n",
    "a: " + "[" * 70 + "]" * 70 + "\n",
    "{\"a\":" * 2000 + "1" + "}" * 2000 + "\n",
] + [
    doc
    for v in ("0x1F", "0o17", "0b101", "1_000", "+1", "-0", "007", "1.5", "1.", ".5", "1e3", "-.inf", ".NaN", "12:30",
              "0xABC", "0xaBC", "1_0.5", "0.1_0", "-0.0", "1e-3", "+1e+3", "09", "2024-01-02 10:00:00", "2024-01-02T10:00:00Z")
    for doc in (f"a: {v}\n", f"- {v}\n", f"{v}: x\n", f"{v}\n")
]

#: pieces a mutation inserts: YAML's indicators, scalars of every type, line breaks and indents
PIECES = [*" \n:-#[]{},'\"|>?&*!%@`~0123456789abcxyzé.+_\\", "  ", "\n  ", ": ", "- ", "0x1F", "1e3", "true", "null", "~",
          "2024-01-02", "12:30", "0o17", ".inf", "'a''b'", '"\\x41"', "|-\n  t\n", ">\n  a\n\n  b\n", "? k\n: v\n"]


def _typed(x: Any) -> Any:
    """``x`` with the type of every value and key spelled out (1 == True == 1.0 in Python)."""
    if isinstance(x, dict):
        return ("dict", [(_typed(k), _typed(v)) for k, v in x.items()])
    if isinstance(x, list):
        return ("list", [_typed(v) for v in x])
    return (type(x).__module__, type(x).__name__, repr(x))


def _both(tmp: Path, text: str) -> tuple[str, Any, Any]:
    """(how the fast path took it, its result, the round-trip loader's result)."""
    path = tmp / "doc.yaml"
    path.write_text(text, encoding="utf-8")

    def load(fast: bool) -> Any:
        try:
            data, pos = load_yaml(path, "doc.yaml", fast=fast)
        except YamlLoadError as exc:
            return ("error", exc.diagnostic)
        return ("data", _typed(data), pos.keys, pos.values)

    took = "fast"
    try:
        fastyaml.load_fast(text, "doc.yaml", Positions())
    except fastyaml.Unsure:
        took = "declined"
    return took, load(True), load(False)


def _mutate(text: str, rnd: random.Random) -> str:
    for _ in range(rnd.randint(1, 3)):
        i = rnd.randrange(len(text) + 1)
        op = rnd.random()
        if op < 0.4:
            text = text[:i] + rnd.choice(PIECES) + text[i:]
        elif op < 0.7:
            text = text[:i] + text[i + rnd.randint(1, 4):]
        else:
            lines = text.split("\n")
            lines.insert(rnd.randrange(len(lines)), lines[rnd.randrange(len(lines))])
            text = "\n".join(lines)
    return text


def test_the_c_parser_is_installed():
    """ruamel.yaml.clib is a dependency on CPython: without it every load takes the slow path."""
    if platform.python_implementation() == "CPython":
        assert fastyaml.CParser is not None


def test_every_example_and_test_manifest_reads_the_same(tmp_path):
    assert len(FILES) > 60
    took: Counter = Counter()
    for f in FILES:
        how, fast, slow = _both(tmp_path, f.read_text(encoding="utf-8"))
        assert fast == slow, f
        took[how] += 1
    print(f"\n{len(FILES)} files: {dict(took)}")
    # the examples are what real manifests look like: all of them take the fast path
    for f in FILES:
        if "examples" in f.parts:
            assert _both(tmp_path, f.read_text(encoding="utf-8"))[0] == "fast", f


@pytest.mark.parametrize("text", CORNERS, ids=range(len(CORNERS)))
def test_corners_of_yaml_read_the_same(tmp_path, text):
    how, fast, slow = _both(tmp_path, text)
    assert fast == slow
    if any(mark in text for mark in ("&", "!!", "<<", "%YAML", "\t", "\r", "\ufeff", "[" * 70, '{"a":' * 70)):
        assert how == "declined"


def test_mutated_documents_read_the_same(tmp_path):
    rnd = random.Random(16)
    took: Counter = Counter()
    for f in FILES:
        base = f.read_text(encoding="utf-8")
        for _ in range(MUTATIONS):
            text = _mutate(base, rnd)
            how, fast, slow = _both(tmp_path, text)
            assert fast == slow, text
            took[how, fast[0]] += 1
    print(f"\n{sum(took.values())} mutated documents (fast path, outcome): {dict(took)}")
    assert took["fast", "data"] > 0 and took["declined", "error"] > 0


#: characters of random strings: indicators, quotes, escapes' targets, wide and invisible ones
CHARS = ["a", "Z", "0", " ", ":", "#", "-", "?", "|", ">", "'", '"', "\\", "\n", "\t", "\x00", "\x01", "\x7f", "\x85",
         "\xa0", "\u2028", "\u202e", "\ufeff", "é", "😀", "&", "*", "!", "%", "@", "`", "{", "}", "[", "]", ","]


def _value(rnd: random.Random, depth: int = 0) -> Any:
    r = rnd.random()
    if depth > 4 or r < 0.3:
        return rnd.choice([None, True, False, rnd.randint(-10**6, 10**6), rnd.random() * 10 ** rnd.randint(-5, 30),
                           float("inf"), _text(rnd), _text(rnd), "yes", "null", "0x1f", "1e3", "2024-01-01", "12:30", "007", "-", "~", ""])
    if r < 0.6:
        return [_value(rnd, depth + 1) for _ in range(rnd.randint(0, 4))]
    return {(_text(rnd) if rnd.random() < 0.8 else _value(rnd, 5)): _value(rnd, depth + 1) for _ in range(rnd.randint(0, 4))}


def _text(rnd: random.Random) -> str:
    return "".join(rnd.choice(CHARS) for _ in range(rnd.randint(0, 6)))


def test_random_values_written_out_read_the_same(tmp_path):
    rnd = random.Random(1616)
    took: Counter = Counter()
    for _ in range(200):
        value = _value(rnd)
        for text in (json.dumps(value, ensure_ascii=rnd.random() < 0.5) + "\n",
                     yaml.safe_dump(value, allow_unicode=rnd.random() < 0.5, default_flow_style=rnd.choice([None, False, True]))):
            how, fast, slow = _both(tmp_path, text)
            assert fast == slow, text
            took[how, fast[0]] += 1
    print(f"\n{sum(took.values())} documents (fast path, outcome): {dict(took)}")
    assert took["fast", "data"] > 100


def test_a_repeated_text_is_one_object():
    # a fleet's manifest repeats keys and short values in every repository: held once each
    text = "".join(f"r{i}:\n  visibility: private\n  collaborators: {{c01: push}}\n  note: '{'x' * 150}'\n" for i in range(3))
    data = fastyaml.load_fast(text, "doc.yaml", Positions())
    repos = list(data.values())
    assert all(r == {"visibility": "private", "collaborators": {"c01": "push"}, "note": "x" * 150} for r in repos)
    keys = [next(iter(r)) for r in repos]
    assert keys[0] is keys[1] is keys[2]
    assert repos[0]["visibility"] is repos[1]["visibility"] is repos[2]["visibility"]
    assert repos[0]["collaborators"]["c01"] is repos[2]["collaborators"]["c01"]
    # long texts (file contents, descriptions) are left as the parser made them
    assert repos[0]["note"] is not repos[1]["note"]
