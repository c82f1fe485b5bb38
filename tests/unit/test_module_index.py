"""``ModuleIndex``: which modules ``modules.alias`` gives a modalias, against a reference.

The reference is the index as it was before ``load`` stopped indexing every line (kept here:
every ``alias`` line read with ``str.split``, bucketed by literal prefix, ``fnmatchcase``): on
Debian's real ``modules.alias`` when the machine has one, and on generated texts with the
patterns' shapes that matter (short and long literal prefixes, wildcards before the colon,
exact names, other spacing, which falls back to every line).
"""

from __future__ import annotations

import os
import random
from fnmatch import fnmatchcase
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccverify.verifier.release.devices.sysfs import ModuleIndex


def reference(text: str, builtin_aliases: list[tuple[str, str]], modalias: str) -> tuple[str, ...]:
    """The modules the index gave before: every alias line, file order, then the built-in ones
    (none for an empty modalias)."""
    if not modalias:
        return ()
    aliases = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "alias":
            aliases.append((parts[1], parts[2]))
    aliases.extend(builtin_aliases)
    hits = [module for pattern, module in aliases if fnmatchcase(modalias, pattern)]
    return tuple(dict.fromkeys(hits))


def _index(tmp_path: Path, text: str, builtin: str = "") -> ModuleIndex:
    (tmp_path / "modules.alias").write_text(text)
    (tmp_path / "modules.builtin.alias").write_text(builtin)
    return ModuleIndex.load(tmp_path)


TEXT = """# Aliases extracted from modules themselves.
alias pci:v00001AF4d00001041sv*sd*bc*sc*i* virtio_pci
alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci_legacy
alias pci:v*d*sv*sd*bc02sc00i* generic_nic
alias pci:v00008086d000010D3sv*sd*bc*sc*i* e1000e
alias pci:v0000808?d*sv*sd*bc*sc*i* odd_vendor
alias p[cC]i:v*d*sv*sd*bc0[12]sc*i* bracket
alias *:v00001AF4* anything_redhat
alias virtio:d00000001v* virtio_net
alias virtio:d00000001v00001AF4 virtio_net_exact
alias acpi*:PNP0C0A:* battery
alias twofish twofish_generic
alias twofish-asm twofish_x86_64
alias pci:v00001AF4d00001041sv*sd*bc*sc*i* virtio_pci
"""
BUILTIN = "alias pci:v*d*sv*sd*bc0Csc03i* usbcore_hcd\nalias virtio:d* virtio_core\n"
MODALIASES = [
    "pci:v00001AF4d00001041sv00001AF4sd00001100bc02c00i00",
    "pci:v00001AF4d00001041sv00001AF4sd00001100bc02sc00i00",
    "pci:v00008086d000010D3sv00008086sd00000000bc02sc00i00",
    "pci:v00008080d00000001sv0sd0bc01sc00i00",
    "Pci:v1",
    "virtio:d00000001v00001AF4",
    "virtio:d00000002v00001AF4",
    "acpi:PNP0C0A:",
    "acpiX:PNP0C0A:x",
    "twofish",
    "twofish-asm",
    "two",
    "x:v00001AF4",
    "pci:v",
    "pci:v 1AF4",  # a space: every line
    "pci:v*",  # a wildcard: every line
]


@pytest.mark.parametrize("modalias", MODALIASES)
def test_the_aliases_match_as_before(tmp_path: Path, modalias: str) -> None:
    index = _index(tmp_path, TEXT, BUILTIN)
    builtin = [(line.split()[1], line.split()[2]) for line in BUILTIN.splitlines()]
    assert index.resolve(modalias) == reference(TEXT, builtin, modalias)


@pytest.mark.parametrize("line_end", ["\n", "\x0c"])
def test_other_spacing_and_line_ends_read_as_before(tmp_path: Path, line_end: str) -> None:
    """Tabs, runs of spaces, leading and trailing ones: read where the lines are found; a text
    with other line ends than newlines: every line indexed (both as ``str.split`` reads them)."""
    odd = TEXT.replace("alias virtio:d00000001v* virtio_net", "alias\tvirtio:d00000001v*  virtio_net")
    odd = odd.replace("alias twofish twofish_generic", " alias twofish twofish_generic ")
    e1000e = "pci:v00008086d000010D3sv*sd*bc*sc*i*"
    odd = odd.replace(f"alias {e1000e} e1000e", f"\x1falias {e1000e}\te1000e\t")
    # (a form feed ends a line for str.splitlines, not for the expressions; a carriage return
    # does not reach the index: the text is read with universal newlines)
    odd = odd.replace("\nalias twofish-asm", line_end + "alias twofish-asm")
    index = _index(tmp_path, odd)
    assert index._plain is (line_end == "\n")  # each way is taken
    for modalias in MODALIASES:
        assert index.resolve(modalias) == reference(odd, [], modalias), modalias
    assert "virtio_net" in index.resolve("virtio:d00000001v00001AF4")
    assert "twofish_generic" in index.resolve("twofish")


_CHARS = "pci:v0A1*?[]d-"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.text(_CHARS, min_size=1, max_size=18), st.sampled_from("abc")), max_size=30),
    st.lists(st.text("pci:v0A1d-", max_size=20), min_size=1, max_size=10),
)
def test_generated_texts_match_as_before(aliases: list[tuple[str, str]], modaliases: list[str]) -> None:
    import tempfile

    text = "".join(f"alias {pattern} {module}\n" for pattern, module in aliases)
    with tempfile.TemporaryDirectory() as folder:
        index = _index(Path(folder), text)
        for modalias in modaliases:
            assert index.resolve(modalias) == reference(text, [], modalias), (modalias, text)


DEBIAN = Path("/lib/modules")


@pytest.mark.skipif(not any(DEBIAN.glob("*/modules.alias")), reason="no kernel's modules.alias here")
def test_a_real_modules_alias_matches_as_before() -> None:
    """Debian's full ``modules.alias`` (~27,000 lines), with a concrete modalias made from each
    of 200 of its patterns."""
    folder = sorted(DEBIAN.glob("*/modules.alias"))[-1].parent
    text = (folder / "modules.alias").read_text("utf-8", "replace")
    index = ModuleIndex.load(folder)
    listed = folder / "modules.builtin.alias"
    builtin_text = listed.read_text() if listed.exists() else ""
    builtin = [(p[1], p[2]) for p in (line.split() for line in builtin_text.splitlines()) if len(p) == 3]
    patterns = [line.split()[1] for line in text.splitlines() if line.startswith("alias ")]
    rng = random.Random(int(os.environ.get("CCVERIFY_SEED", "17")))
    for pattern in rng.sample(patterns, min(200, len(patterns))):
        modalias = "".join(
            rng.choice(["", "0", "1AF4"]) if c == "*" else "A" if c in "?[]" else c for c in pattern
        )
        if builtin:  # the built-in aliases' reference needs the text file; modinfo-only: skip
            assert index.resolve(modalias) == reference(text, builtin, modalias), modalias
        else:
            expected = reference(text, [], modalias)
            assert index.resolve(modalias)[: len(expected)] == expected, modalias
