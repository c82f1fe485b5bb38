"""``verifier/release/devices/glob.py`` against ``fnmatch.fnmatchcase``, which it stands for."""

from __future__ import annotations

from fnmatch import fnmatchcase

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccverify.verifier.release.devices.glob import match


@pytest.mark.parametrize(
    ("name", "pattern"),
    [
        ("pci:v00001AF4d00001041sv00001AF4sd00001100bc02sc00i00", "pci:v00001AF4d*sv*sd*bc*sc*i*"),
        ("pci:v00001AF4d00001041sv00001AF4sd00001100bc02sc00i00", "pci:v*d*sv*sd*bc02sc00i*"),
        ("pci:v00001AF4d00001041sv00001AF4sd00001100bc02sc00i00", "pci:v*d*sv*sd*bc03sc00i*"),
        ("aXbXc", "a*X*c"), ("aXc", "a*X*X*c"), ("ab", "a**b"), ("", "*"), ("", ""), ("a", ""),
        ("abc", "abc"), ("abc", "ab"), ("abab", "*ab"), ("aab", "a*ab"), ("ab", "a*ab"),
        ("a/b", "a*b"), ("ABC", "abc"), ("a?c", "a?c"), ("abc", "a[bc]c"), ("a]c", "a]c"),
    ],
)  # fmt: skip
def test_examples_agree(name: str, pattern: str) -> None:
    assert match(name, pattern) is fnmatchcase(name, pattern)


@settings(max_examples=3000, deadline=None)
@given(st.text("ab*?[]!:", max_size=10), st.text("ab:[]?*", max_size=12))
def test_any_pattern_agrees(pattern: str, name: str) -> None:
    assert match(name, pattern) is fnmatchcase(name, pattern)


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.text("abc", max_size=3), min_size=1, max_size=5), st.text("abc", max_size=12))
def test_star_patterns_agree(pieces: list[str], name: str) -> None:
    pattern = "*".join(pieces)
    assert match(name, pattern) is fnmatchcase(name, pattern)
