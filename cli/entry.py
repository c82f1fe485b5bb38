"""The ``ccverify`` console entry point: start hashing what ``measure`` will hash, then run the app.

Importing typer and the command modules takes about as long as hashing a 100 MiB initrd, and
the two need not wait for each other: this module (standard library only, before typer is
imported) reads the file options of ``measure snp|tdx`` and lets
``ccverify.measurements.prefetch`` hash those files in a background thread meanwhile. The
measurement uses that work only for the same file and algorithms (see prefetch.py), so a wrong
guess here costs wasted work, never a wrong digest. ``CCVERIFY_NO_PREFETCH=1`` turns it off.
"""

from __future__ import annotations

import os
import sys

#: which files ``measure <target>`` hashes whole, with which algorithms, when a kernel is given
#: (as ``measurements/model.py`` does: SNP/SEV hashes table SHA-256; TDX RTMR2 initrd SHA-384;
#: the TDX kernel's Authenticode digest is not a whole-file hash)
_PLANS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "snp": (("--kernel", ("sha256",)), ("--initrd", ("sha256",))),
    "tdx": (("--initrd", ("sha384",)),),
}


def prefetch_plan(argv: list[str]) -> list[tuple[str, tuple[str, ...]]]:
    """``(path, algorithms)`` that ``ccverify`` with these arguments will hash whole."""
    if len(argv) < 2 or argv[0] != "measure" or argv[1] not in _PLANS or "--help" in argv:
        return []
    values: dict[str, str] = {}
    args = iter(argv[2:])
    for arg in args:
        if arg == "--":
            break
        name, eq, value = arg.partition("=")
        if name in ("--kernel", "--initrd"):
            given = value if eq else next(args, None)
            if given is not None:
                values[name] = given  # the last one wins, as for click
    if "--kernel" not in values:
        return []  # without a kernel neither target hashes an initrd
    return [(values[option], algorithms) for option, algorithms in _PLANS[argv[1]] if option in values]


def main() -> None:
    if not os.environ.get("CCVERIFY_NO_PREFETCH"):
        try:
            plan = prefetch_plan(sys.argv[1:])
            if plan:
                from ccverify.measurements import prefetch

                prefetch.start(plan)
        except Exception:  # only ever an optimisation: the command runs (and hashes) as without it
            pass
    from ccverify.cli.app import main as run

    run()


if __name__ == "__main__":
    main()
