"""The ``ccverify`` console entry point: start hashing what ``measure`` will hash, then run it.

Hashing the initrd is most of ``measure``'s time, and nothing else needs to wait for it:
this module (standard library only, before anything else is imported) reads the file options
of ``measure snp|tdx`` and lets ``ccverify.measurements.prefetch`` hash those files in a
background thread from the first milliseconds on, largest first. The measurement uses that
work only for the same file and algorithms (see prefetch.py), so a wrong guess here costs
wasted work, never a wrong digest. ``CCVERIFY_NO_PREFETCH=1`` turns it off.

Well-formed ``measure snp|tdx`` arguments (``cli/measure_args.py``) then run the command's
code (``cli/measure_run.py``) without typer, whose import and command building would cost
the core that is not hashing a third of its work; before its imports, this thread hashes the
files the background thread has not begun (the kernel, while the thread hashes the initrd).
The initramfs hook's own ``guest`` command lines (``cli/guest_args.py``: ``lockdown``,
``authorize``, ``finish`` with ``--config``, ``unlock``) run the command's code
(``cli/guest_run.py``) without typer too: the hook runs them at every boot, where importing
typer and building the app would be a large part of each stage's time.
Everything else, and any doubt about the arguments, goes to the typer app, which words every
usage error.
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
    argv = sys.argv[1:]
    prefetching = False
    if not os.environ.get("CCVERIFY_NO_PREFETCH"):
        try:
            plan = prefetch_plan(argv)
            if plan:
                from ccverify.measurements import prefetch

                prefetch.start(plan)
                prefetching = True
        except Exception:  # only ever an optimisation: the command runs (and hashes) as without it
            pass
    fast = None
    if argv[:1] == ["measure"]:
        from ccverify.cli.measure_args import parse

        fast = parse(argv)
    elif argv[:1] == ["guest"]:
        # The hook's verbs import ~280 modules at every boot, ~100,000 objects: with the
        # default thresholds (a young collection every 700 allocations, a full one every
        # hundred of those) the cycle collector walked them over and over, a tenth of local
        # authorize's time, to find nothing (module objects live until exit). The collector
        # still runs, after every 50,000 allocations, so a verb that waits (askpass, a remote
        # authorize retrying) still frees its cycles.
        import gc

        gc.set_threshold(50_000, 20, 100)
        from ccverify.cli.guest_args import parse as parse_guest

        guest = parse_guest(argv)
        if guest is not None:
            _run_guest(*guest)
            return
    if fast is None:
        from ccverify.cli.app import main as run

        run()
        return
    target, options = fast
    try:
        if prefetching:
            from ccverify.measurements import prefetch

            prefetch.assist()  # the measurement will take the files: hash the rest here, now
        from ccverify.cli import measure_run

        getattr(measure_run, target)(**options)
        sys.stdout.flush()
        sys.stderr.flush()
    except KeyboardInterrupt:  # as every other command: 128 + SIGINT
        sys.stderr.write("\naborted\n")
        sys.exit(130)
    except BrokenPipeError:  # as click does: stdout went away (`| head`); quiet, exit 1
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the final flush at exit cannot fail again
        sys.exit(1)
    # Done and flushed; the interpreter's teardown (freeing the ~200 modules loaded) would add
    # a tenth to the command's time and nothing it needs: no file is open, no atexit hook
    # matters, the prefetch thread is a daemon. An error exits above, the ordinary way.
    os._exit(0)


def _run_guest(verb: str, options: dict[str, object]) -> None:
    """``cli.guest_run.<verb>(**options)``, ending as the typer app ends a command (exit 0,
    130 on Ctrl-C, 1 quietly when stdout went away; a failure's ``SystemExit`` as it is)."""
    try:
        from ccverify.cli import guest_run

        getattr(guest_run, verb)(**options)
        sys.stdout.flush()
        sys.stderr.flush()
    except KeyboardInterrupt:
        sys.stderr.write("\naborted\n")
        sys.exit(130)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(1)
    # Done and flushed, as measure's fast path: the teardown of the ~300 modules loaded (a sixth
    # of local authorize's time, a seventh of lockdown's) has nothing to finish. Every file the
    # verbs write is written through a descriptor or a closed file object (state, secrets,
    # RTMR3 log, sysfs); no thread runs and no atexit hook matters. A failure exits above, the
    # ordinary way.
    os._exit(0)


if __name__ == "__main__":
    main()
