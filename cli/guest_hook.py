"""``ccverify guest install-hook --dracut|--initramfs-tools [--config FILE]``: the initramfs hook.

Installs ccverify's hook for an initramfs generator from the package data in
``cli/initramfs/``; the distribution's own ``update-initramfs -u`` / ``dracut -f`` then build
it in:

* ``--initramfs-tools``: ``hooks/ccverify`` (the payload, the configuration, the keyscript),
  ``scripts/init-top/ccverify`` (stage 1 ``guest lockdown``, before ``init-top/udev``'s
  coldplug), ``scripts/local-top/ccverify`` (stage 2 ``guest authorize``, after
  ``configure_networking``, before ``local-top/cryptroot``), ``scripts/local-premount/ccverify``
  (``guest finish``) into ``/etc/initramfs-tools``;
* ``--dracut``: the module ``90ccverify`` (``module-setup.sh``, the hook scripts and the
  systemd units ``ccverify-lockdown``/``-authorize``/``-askpass``/``-finish.service``) into
  ``/usr/lib/dracut/modules.d``.

Both put ``keyscript`` and ``finish`` into ``/usr/lib/ccverify``. The hook runs
``python3 -m ccverify.cli.hook_payload`` with this interpreter at each build: the Python
interpreter, the modules the ``guest`` verbs import and ccverify's data go in, nothing else.
``--config`` (default ``/etc/ccverify/guest.toml``) goes in as ``/etc/ccverify/guest.toml``
with the files of its folder (keep the trust anchors, policies and reference values it names
there); a ``crypttab`` file in that folder (crypttab(5) lines with
``keyscript=/usr/lib/ccverify/keyscript``) is added to the initramfs's crypttab.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_CONFIG = Path("/etc/ccverify/guest.toml")
TARGETS = {
    "initramfs-tools": Path("/etc/initramfs-tools"),
    "dracut": Path("/usr/lib/dracut/modules.d"),
}
LIB_DIR = Path("/usr/lib/ccverify")


def _package_data() -> Path:
    return Path(__file__).resolve().parent / "initramfs"


def _fill(text: str, python: str, config: Path, lib: Path) -> str:
    return text.replace("@PYTHON@", python).replace("@CONFIG@", str(config)).replace("@LIB@", str(lib))


def install(
    generator: str,
    *,
    config: Path,
    into: Path | None = None,
    lib_dir: Path = LIB_DIR,
    python: str | None = None,
) -> list[Path]:
    """Install the hook for ``generator`` (``dracut`` or ``initramfs-tools``); the files written."""
    from ccverify.verifier.errors import InputError

    if generator not in TARGETS:
        raise InputError(f"unknown generator {generator!r}: dracut or initramfs-tools")
    config = config.absolute()
    if not config.is_file():
        raise InputError(f"--config {config}: no such file (the guest configuration the initramfs carries)")
    python = python or sys.executable
    target = into or TARGETS[generator]
    data = _package_data()
    plan: list[tuple[Path, Path]] = []  # (package file, destination)
    for name in ("keyscript", "finish"):
        plan.append((data / "lib" / name, lib_dir / name))
    if generator == "initramfs-tools":
        base = data / "initramfs-tools"
        plan += [(f, target / f.relative_to(base)) for f in sorted(base.rglob("*")) if f.is_file()]
    else:
        module = target / "90ccverify"
        plan += [(f, module / f.name) for f in sorted((data / "dracut" / "90ccverify").iterdir())]
        plan += [(f, module / f.name) for f in sorted((data / "systemd").glob("*.service"))]
    written = []
    for source, destination in plan:
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(_fill(source.read_text(), python, config, lib_dir))
        destination.chmod(0o644 if destination.suffix == ".service" else 0o755)
        written.append(destination)
    return written


def install_hook(
    dracut: Annotated[bool, typer.Option("--dracut", help="Install the dracut module (90ccverify).")] = False,
    initramfs_tools: Annotated[
        bool, typer.Option("--initramfs-tools", help="Install the initramfs-tools hook and boot scripts.")
    ] = False,
    config: Annotated[
        Path,
        typer.Option("--config", help="Guest configuration the initramfs carries (with its folder's files)."),
    ] = DEFAULT_CONFIG,
    into: Annotated[
        Path | None,
        typer.Option(
            "--into",
            help="Generator directory (default /etc/initramfs-tools, /usr/lib/dracut/modules.d); for image builds and tests.",
        ),
    ] = None,
    lib_dir: Annotated[
        Path, typer.Option("--lib-dir", help="Where the keyscript and finish scripts go.")
    ] = LIB_DIR,
) -> None:
    """Install ccverify's initramfs hook; then `update-initramfs -u` or `dracut -f` builds it in."""
    from ccverify.cli._common import fail, guarded
    from ccverify.verifier.errors import InputError

    if dracut == initramfs_tools:
        fail(InputError("give exactly one of --dracut and --initramfs-tools"))
    generator = "dracut" if dracut else "initramfs-tools"
    written = guarded(lambda: install(generator, config=config, into=into, lib_dir=lib_dir))
    for path in written:
        print(f"installed {path}")
    rebuild = "update-initramfs -u" if generator == "initramfs-tools" else "dracut -f"
    print(
        f"ccverify hook installed for {generator} (configuration {config.absolute()}); run `{rebuild}` to build it in"
    )
