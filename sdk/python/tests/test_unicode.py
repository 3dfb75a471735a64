"""Category normalization, Go's simple case folding and resource
canonicalisation, held to values recorded from the Go implementation for
every code point (tests/testdata/go_unicode.json, see its description).

The recording was made with a throwaway program over the public API:
    for r := rune(0); r <= 0x10FFFF; r++ { … authority.NormalizeCategory(string(r)) … unicode.SimpleFold(r) … }
Python's unicodedata (Unicode 14 in Python 3.11) and Go's tables (Unicode
15) agree on every code point for these functions once the one x/text quirk
(Cherokee capitals fold to small letters) is mirrored."""

from __future__ import annotations

import json
import pathlib

import pytest

from legant._gostr import equal_fold, trim_space
from legant.constraints import normalize_category
from legant.resource import ResourceError, canonical_resource

GO = json.loads((pathlib.Path(__file__).parent / "testdata" / "go_unicode.json").read_text())


def test_normalize_category_every_code_point() -> None:
    want = {int(k): v for k, v in GO["normalize"].items()}
    diffs = [hex(cp) for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF
             and normalize_category(chr(cp)) != want.get(cp, trim_space(chr(cp)))]
    assert diffs == []


def test_equal_fold_matches_simple_fold_orbits() -> None:
    orbits = {int(k): v for k, v in GO["orbits"].items()}
    for cp, orbit in orbits.items():
        for other in orbit:
            assert equal_fold(chr(cp), chr(other)), (hex(cp), hex(other))
    # Nothing outside an orbit folds together (spot check on every letter of the BMP).
    for cp in range(0x10000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        lo = chr(cp).lower()
        if len(lo) == 1 and lo != chr(cp):
            assert equal_fold(chr(cp), lo) == (ord(lo) in orbits.get(cp, [])), hex(cp)


@pytest.mark.parametrize("s", sorted(GO["samples"]))
def test_samples(s: str) -> None:
    category, resource = GO["samples"][s]
    assert normalize_category(s) == category
    try:
        got = canonical_resource(s)
    except ResourceError:
        got = "ERROR"
    assert got == resource
