"""What the initramfs hook installs: the interpreter, the modules the guest path imports, data.

Standard library only: the initramfs generators' hooks run it at every ``dracut -f`` /
``update-initramfs -u`` (``python3 -m ccverify.cli.hook_payload --list DIR --config FILE``, see
``cli/initramfs/``), with the interpreter ccverify is installed for.

The closure is computed in two steps, so that it is what the guest verbs import and no more:

1. a static walk (``ast``) over ccverify's own modules, starting from ``GUEST_ENTRY``: every
   ``import`` in a module, function bodies included (the CLI imports the library where it
   runs), ``if TYPE_CHECKING:`` blocks excluded. ccverify modules are followed; anything else
   is noted as an external name.
2. a fresh interpreter imports the ccverify modules found and the external names, and lists
   ``sys.modules``: the third-party packages and the standard library as Python really loads
   them (rich's lazily imported renderers, pygments, typer's completion scripts... stay out).

Packages that must never reach a guest (``NEVER``: the service's web stack, test tools) are
refused if the walk meets them. Modules go in compiled (here, no source: smaller, and nothing
is compiled at boot): standard-library modules as ``.pyc`` files at their own paths (the
interpreter finds them from its prefix), the rest as one store under ``SITE``
(``MODULE_STORE``, ``cli/module_store.py``) with ccverify's package data (roots, schemas) in
the package folders. ``/usr/bin/ccverify`` in the initramfs runs ``python3 -I -S`` with
``SITE`` first on the path and installs the store before anything else. Where the guest
configuration (``--config``) chooses ``evidence_provider = "example"``, the payload also
carries that provider's pre-minted material (``EXAMPLE_EVIDENCE``, ``cli/example_evidence.py``:
EXAMPLE, NOT TRUSTED, valid 30 days from the build), which the launcher names; any other
configuration's image carries none of it.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import marshal
import os
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

#: modules whose imports (static, function bodies included) make up the guest path: the
#: console entry, the lazy root group, the ``guest`` group with its verbs
GUEST_ENTRY = (
    "ccverify.cli.entry",
    "ccverify.cli.app",
    "ccverify.cli.guest",
    "ccverify.cli.guest_evidence",
    "ccverify.cli.module_store",  # the launcher's, before anything else
)
#: modules the walk leaves out even when a guest module names them (not on the guest path)
SKIP = ("ccverify.cli.hook_payload",)  # run on the build host, by the hook
#: packages that go in whole: the CLI framework imports parts of itself inside functions (click's
#: decorators when it builds the help option, rich's renderers when it prints), which a run
#: reaches and an import does not
#: (and ``encodings``, whose codecs are imported by name when first used: utf-16-le for EFI
#: load options, idna for host names)
WHOLE = ("typer", "rich", "encodings")
#: modules a library imports inside the functions the guest path calls, which the loader's
#: imports do not reach: cryptography's X25519 and ML-KEM (remote mode's HPKE key) and its own
#: ``ec.ECDSA`` import the OpenSSL backend module to ask what OpenSSL supports
LAZILY_IMPORTED = ("cryptography.hazmat.backends.openssl.backend",)
#: guest command lines whose help the loader renders (more of the framework's lazy imports);
#: a verb that does not exist (yet) is skipped
HELP_RUNS = (
    ("guest", "--help"), ("guest", "lockdown", "--help"), ("guest", "authorize", "--help"),
    ("guest", "unlock", "--help"), ("guest", "askpass", "--help"), ("guest", "finish", "--help"),
    ("guest", "evidence", "--help"),
)  # fmt: skip
#: top-level packages that must never be in an initramfs
NEVER = (
    "fastapi", "starlette", "uvicorn", "sqlalchemy", "pydantic", "psycopg", "psycopg2",
    "pytest", "hypothesis", "jsonschema", "mypy", "IPython",
)  # fmt: skip
#: where the non-standard-library modules go inside the initramfs
SITE = "/usr/lib/ccverify/site"
#: package data a guest needs, next to a package's __init__ (ccverify's pinned roots and
#: schemas, certifi's CA bundle)
DATA_SUFFIXES = (".pem", ".json")
#: the compiled dataclass methods of the guest path (``cli/dataclass_code.py``), in ``SITE``
DATACLASS_CODE = "ccverify-dataclass-code.bin"
#: the compiled regular expressions of the guest path (``cli/regex_code.py``), in ``SITE``
REGEX_CODE = "ccverify-regex-code.bin"
#: the code of the modules under ``SITE`` in one file (``cli/module_store.py``), in ``SITE``
MODULE_STORE = "ccverify-modules.bin"
#: modules under ``SITE`` that stay ``.pyc`` files: what the launcher imports to install the
#: store (``ccverify`` itself is a namespace package: no file)
NOT_STORED = ("ccverify.cli", "ccverify.cli.module_store")
#: the standard library's modules that stay files although the guest commands import them:
#: ``encodings`` (read while the interpreter starts, before any launcher runs), ``__future__``
#: (imported by ``module_store`` itself, before it installs the store) and ``os`` (whose file
#: is the landmark the interpreter finds its standard library by)
STARTUP = ("encodings", "__future__", "os")
#: the example evidence provider's material minted at build time (``cli/example_evidence.py``:
#: EXAMPLE, NOT TRUSTED, collateral valid 30 days from the build), in ``SITE``
EXAMPLE_EVIDENCE = "EXAMPLE-NOT-TRUSTED-tdx-evidence.json"
#: the launcher installed as /usr/bin/ccverify inside the initramfs ({python} and {site} filled
#: in); before anything else is imported it raises the cycle collector's young threshold as
#: ``cli/entry.py`` does for the guest verbs (the installs' own imports come first), gives ``re``
#: the patterns and dataclasses the methods compiled at build time, and the example evidence
#: provider its pre-minted file (used only if that provider is chosen)
LAUNCHER = """#!/bin/sh
# ccverify in the initramfs (installed by the ccverify hook): isolated, no site, its own path
exec {python} -I -S -c 'import gc, sys; gc.set_threshold(50_000, 20, 100); sys.argv[0] = "ccverify"; \
sys.path.insert(0, "{site}"); \
from ccverify.cli.module_store import install; install("{site}/{store}"); \
from ccverify.cli.regex_code import install; install("{site}/{regex}"); \
from ccverify.cli.dataclass_code import install; install("{site}/{code}"); \
{example}from ccverify.cli.entry import main; main()' "$@"
"""
#: the launcher's line that names the pre-minted example evidence (only where it is shipped)
LAUNCHER_EXAMPLE = """from ccverify.cli import example_evidence; example_evidence.PREMINTED = "{site}/{example}"; \
"""


@dataclass(frozen=True)
class Item:
    """One thing to put into the initramfs: ``kind`` is ``exec`` (an ELF program or extension
    module: the generator copies its libraries too), ``file`` (a regular file) or ``pyc``
    (compile ``source`` to a sourceless .pyc at ``destination``)."""

    kind: str
    source: str
    destination: str
    #: a ``pyc`` item's module name
    module: str = ""
    #: a standard-library ``pyc`` item the guest commands import: into the module store, not a file
    stored: bool = False


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_names(source: str, module: str, is_package: bool, *, module_level: bool = False) -> set[str]:
    """Absolute names a module's ``import`` statements name (``from a import b``: ``a`` and ``a.b``).

    ``module_level``: only the statements that run when the module is imported (not those in
    function bodies)."""
    tree = ast.parse(source)
    names: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for statement in node.orelse:
                visit(statement)
            return
        if module_level and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


#: the root group imports every command module to register it; of those only ``guest`` runs
ROOT = "ccverify.cli.app"
GUEST_GROUP = "ccverify.cli.guest"


def static_closure(entry: Iterable[str] = GUEST_ENTRY) -> tuple[set[str], set[str]]:
    """(ccverify modules reachable from ``entry``, external names they import).

    A module is *used* (its functions may run: every import counts, function bodies included)
    or only *loaded* (imported, nothing of it called: its module-level imports count): the root
    group's command modules other than ``guest`` are loaded only, and so is what they import.
    """
    used: set[str] = set()
    loaded: set[str] = set()
    external: set[str] = set()
    todo = [(name, True) for name in entry]
    while todo:
        name, use = todo.pop()
        if name in SKIP or name in used or (not use and name in loaded):
            continue
        try:
            spec = importlib.util.find_spec(name)
        except ImportError:  # ``from module import function``: the parent is a module, not a package
            spec = None
        if spec is None or spec.origin is None:
            continue  # ``from pkg import function``: the name is not a module
        (used if use else loaded).add(name)
        if not spec.origin.endswith(".py"):
            continue
        is_package = spec.submodule_search_locations is not None
        source = Path(spec.origin).read_text()
        for imported in imported_names(source, name, is_package, module_level=not use):
            if imported.split(".")[0] == "ccverify":
                # the root's command modules are registered, not run (except the guest group)
                follow = use and not (
                    name == ROOT and imported.startswith("ccverify.cli.") and imported != GUEST_GROUP
                )
                parts = imported.split(".")
                for i in range(2, len(parts) + 1):  # importing a.b.c runs a.b's __init__ too
                    todo.append((".".join(parts[:i]), follow and i == len(parts)))
            else:
                external.add(imported)
    return used | loaded, external


_LOADER = """
import importlib, json, os, sys
names, help_runs, whole = (json.loads(arg) for arg in sys.argv[1:4])
code_path = sys.argv[4] if len(sys.argv) > 4 else None
regex_path = sys.argv[5] if len(sys.argv) > 5 else None
# the text of every method dataclasses writes on the guest path, compiled (cli/dataclass_code.py)
from ccverify.cli import dataclass_code
# recipes only for ccverify's own classes: their modules are in the module store of this build
recorded = dataclass_code.recorder(lambda module: module.split(".")[0] == "ccverify")
# what ``site`` loaded to set the path up (an editable install's finder, setuptools' hook):
# the initramfs runs without site (-S)
startup = {n for n in sys.modules if n in ("site", "_sitebuiltins", "sitecustomize", "usercustomize")
           or "-packages" in (getattr(sys.modules[n], "__file__", None) or "")}
for name in names:
    try:
        importlib.import_module(name)
    except ImportError:
        pass  # ``from module import function``, or an optional import the module guards itself
guest = sorted(sys.modules)  # what the guest commands import (before the help runs, the packages taken whole)
import contextlib, io
from ccverify.cli.entry import main
for run in help_runs:
    sys.argv = ["ccverify", *run]
    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        main()
if code_path is not None:  # the guest path's classes (not those of the packages imported whole below)
    with open(code_path, "wb") as out:
        modules = [m for m in recorded.modules() if m.split(".")[0] not in whole]
        out.write(dataclass_code.dump(recorded, modules, build=os.urandom(16).hex()))
if regex_path is not None:  # every pattern compiled so far (the loader's own json's too)
    from ccverify.cli import regex_code
    with open(regex_path, "wb") as out:
        out.write(regex_code.dump(regex_code.capture()))
# the packages that go in whole: import all of their modules too, for the standard-library
# modules those import; third-party packages only they pull in (rich.syntax's pygments) stay out
import os, pkgutil, sysconfig
base = set(sys.modules)
stdlib = (sysconfig.get_paths()["stdlib"], sysconfig.get_path("platstdlib", vars={"platbase": sys.base_exec_prefix}))
for package in whole:
    if package in sys.modules:
        for info in pkgutil.walk_packages(sys.modules[package].__path__, package + "."):
            if not info.name.endswith("__main__"):
                with contextlib.suppress(BaseException):
                    importlib.import_module(info.name)
for n in set(sys.modules) - base:
    file = getattr(sys.modules[n], "__file__", None) or ""
    own = n.split(".")[0] in whole
    in_stdlib = file.startswith(stdlib) and "-packages" not in file
    if not (own or in_stdlib or not file):
        startup.add(n)
def alias(n, m):  # requests.packages.urllib3 is urllib3 (but _decimal calls itself decimal)
    other = getattr(m, "__name__", n)
    return other != n and sys.modules.get(other) is m
print(json.dumps({"modules": {n: getattr(m, "__file__", None) for n, m in list(sys.modules.items())
                              if not alias(n, m) and n not in startup}, "guest": guest}))
"""


def runtime_modules(
    python: str = sys.executable,
    entry: Iterable[str] = GUEST_ENTRY,
    dataclass_code: Path | None = None,
    regex_code: Path | None = None,
    guest: set[str] | None = None,
) -> dict[str, str | None]:
    """Module name -> file, as a fresh ``python`` loads the guest path (static walk first);
    with ``dataclass_code``, that file gets the compiled methods of the guest path's dataclasses
    (``cli/dataclass_code.py``), with ``regex_code`` (which needs ``dataclass_code``) its
    compiled regular expressions (``cli/regex_code.py``), for that ``python``."""
    own, external = static_closure(entry)
    forbidden = sorted(n for n in external if n.split(".")[0] in NEVER)
    if forbidden:
        raise RuntimeError(
            f"the guest path imports {', '.join(forbidden)}, which must not reach an initramfs"
        )
    names = (
        sorted(own) + sorted(n for n in external if not n.startswith("__future__")) + list(LAZILY_IMPORTED)
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    out = subprocess.run(
        [python, "-I", "-c", _LOADER, json.dumps(names), json.dumps(HELP_RUNS), json.dumps(WHOLE),
         *([str(dataclass_code)] if dataclass_code is not None else []),
         *([str(regex_code)] if dataclass_code is not None and regex_code is not None else [])],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    if out.returncode != 0:
        tail = "\n".join(out.stderr.strip().splitlines()[-5:])
        raise RuntimeError(f"{python} could not load the guest path (exit {out.returncode}):\n{tail}")
    result = json.loads(out.stdout)
    if guest is not None:
        guest.update(result["guest"])
    modules: dict[str, str | None] = result["modules"]
    return modules


def site_destination(module: str, file: str) -> Path:
    """Where a module's file goes under ``SITE``: by its dotted name, so an editable install
    (ccverify's folders mapped onto the namespace) lands as a regular one would."""
    parts = module.split(".")
    path = Path(file)
    folder = parts if path.name.startswith("__init__.") else parts[:-1]
    return Path(SITE).joinpath(*folder) / path.name


def payload(python: str = sys.executable, staging: Path | None = None) -> list[Item]:
    """Everything the initramfs needs for ``ccverify guest ...``, in a stable order; with
    ``staging``, the compiled dataclass methods and regular expressions too (written there,
    ``cli/dataclass_code.py``, ``cli/regex_code.py``)."""
    code_file = None if staging is None else staging / DATACLASS_CODE
    regex_file = None if staging is None else staging / REGEX_CODE
    guest: set[str] = set()
    modules = runtime_modules(python, dataclass_code=code_file, regex_code=regex_file, guest=guest)
    paths = json.loads(
        subprocess.run(
            [python, "-I", "-c", "import json, sys, sysconfig; print(json.dumps([sysconfig.get_paths()"
             "['stdlib'], sysconfig.get_path('platstdlib', vars={'platbase': sys.base_exec_prefix}), sys.executable,"
             " sys.version_info[:2]]))"],
            capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip
    # the standard library: where os and the extension modules live (not a venv's own lib/)
    stdlib = {Path(paths[0]).resolve(), Path(paths[1]).resolve()}
    interpreter = os.path.realpath(paths[2])
    # a shared libpython (pyenv, --enable-shared builds) goes first, so it is the stripped copy
    items = [Item("exec", lib, lib) for lib in _libpython(interpreter)]
    items.append(Item("exec", interpreter, interpreter))
    data_done: set[Path] = set()
    whole: dict[str, Path] = {}
    for name in sorted(modules):
        file = modules[name]
        if not file or name in NEVER or name.split(".")[0] in NEVER:
            if file and name.split(".")[0] in NEVER:
                raise RuntimeError(f"{name} was loaded by the guest path and must not reach an initramfs")
            continue
        real = Path(file).resolve()
        in_site = "site-packages" in real.parts or "dist-packages" in real.parts
        if any(real.is_relative_to(d) for d in stdlib) and not in_site:
            dest_dir = None
            destination = real
        else:
            destination = site_destination(name, str(real))
            dest_dir = destination.parent
        if name in WHOLE and real.name.startswith("__init__."):
            whole[name] = real.parent
        if real.suffix == ".py":
            # the standard library's, on the guest path; the start-up's stay files
            stored = dest_dir is None and name in guest and name.split(".")[0] not in STARTUP
            items.append(Item("pyc", str(real), str(destination.with_suffix(".pyc")), name, stored))
        else:  # extension modules
            items.append(Item("exec", str(real), str(destination)))
        if dest_dir is not None and real.parent not in data_done and real.name.startswith("__init__."):
            data_done.add(real.parent)
            for data in sorted(real.parent.iterdir()):
                if data.suffix in DATA_SUFFIXES and data.is_file():
                    items.append(Item("file", str(data), str(dest_dir / data.name)))
    have = {item.source for item in items}
    for package, folder in sorted(whole.items()):
        for source in sorted(folder.rglob("*.py")):
            relative = source.relative_to(folder).with_suffix("")
            module = ".".join((package, *relative.parts)).removesuffix(".__init__")
            if str(source) not in have and "__pycache__" not in source.parts:
                in_stdlib = (
                    any(source.is_relative_to(d) for d in stdlib) and "site-packages" not in source.parts
                )
                destination = source if in_stdlib else site_destination(module, str(source))
                items.append(Item("pyc", str(source), str(destination.with_suffix(".pyc")), module))
    if code_file is not None:
        items.append(Item("file", str(code_file), f"{SITE}/{DATACLASS_CODE}"))
    if regex_file is not None:
        items.append(Item("file", str(regex_file), f"{SITE}/{REGEX_CODE}"))
    return items


def _libpython(interpreter: str) -> list[str]:
    try:
        out = subprocess.run(["ldd", interpreter], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    libs = []
    for line in out.splitlines():
        name, _, rest = line.strip().partition(" => ")
        if name.startswith("libpython") and rest.startswith("/"):
            libs.append(os.path.realpath(rest.split()[0]))
    return libs


def compile_to(items: Iterable[Item], staging: Path) -> list[tuple[str, str, str]]:
    """Compile the ``pyc`` items under ``staging``; (kind, file to copy, destination) for all.
    The modules under ``SITE`` (but ``NOT_STORED``) go into one store file
    (``cli/module_store.py``), listed last, and so do the standard library's modules the guest
    commands import (``Item.stored``), under their files' absolute places: the hook's commands
    then find them without searching the standard library's folders (a ``stat`` and a read per
    module, slow under an emulated CPU). The others become ``.pyc`` files: what the
    interpreter's start-up reads before any launcher runs (``STARTUP``), and the standard
    library's modules only the packages taken whole or the help texts import."""
    import py_compile
    import shutil

    from ccverify.cli import module_store

    strip = shutil.which("strip")
    out = []
    stored: list[tuple[str, str, bool, bytes]] = []
    for item in items:
        in_site = item.destination.startswith(f"{SITE}/") and item.module not in NOT_STORED
        if item.kind == "pyc" and (in_site or item.stored):
            # compiled as py_compile compiles (dont_inherit, the file named as it would be); a
            # site-folder module's place relative to the store's folder, the standard library's
            # absolute
            code = compile(Path(item.source).read_bytes(), item.destination, "exec", dont_inherit=True)
            place = item.destination[len(SITE) + 1 :] if in_site else item.destination
            stored.append((item.module, place, place.endswith("/__init__.pyc"), marshal.dumps(code)))
        elif item.kind == "pyc":
            compiled = staging / item.destination.lstrip("/")
            compiled.parent.mkdir(parents=True, exist_ok=True)
            py_compile.compile(
                item.source, cfile=str(compiled), dfile=item.destination, doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )  # fmt: skip
            out.append(("file", str(compiled), item.destination))
        elif item.kind == "exec" and strip:
            # a stripped copy (symbols are most of an unstripped libpython or extension module)
            stripped = staging / item.destination.lstrip("/")
            stripped.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(item.source, stripped)
            result = subprocess.run([strip, "--strip-unneeded", str(stripped)], capture_output=True)
            out.append(("exec", str(stripped) if result.returncode == 0 else item.source, item.destination))
        else:
            out.append((item.kind, item.source, item.destination))
    # the dataclass table's recipes are followed only with the store of the same build
    build = ""
    for _kind, source, destination in out:
        if destination == f"{SITE}/{DATACLASS_CODE}":
            from ccverify.cli import dataclass_code

            build = dataclass_code.read_build(Path(source).read_bytes())
    store = staging / MODULE_STORE
    store.write_bytes(module_store.dump(stored, build))
    out.append(("file", str(store), f"{SITE}/{MODULE_STORE}"))
    return out


def _example_evidence(staging: Path) -> Path | None:
    """The example evidence provider's pre-minted file (``cli/example_evidence.py``), written
    into ``staging``: the quote template and collateral valid from now for 30 days, so a boot
    with ``evidence_provider = "example"`` does not mint the example PKI's collateral (without
    it, or once it has expired, the provider mints at run time)."""
    from datetime import UTC, datetime

    try:
        from ccverify.cli import example_evidence

        path = staging / EXAMPLE_EVIDENCE
        example_evidence.write(path, datetime.now(UTC))
    except Exception as error:  # the provider mints at run time instead
        print(f"ccverify hook: W: no pre-minted example evidence ({error})", file=sys.stderr)
        return None
    return path


def main(argv: list[str] | None = None) -> int:
    """``python3 -m ccverify.cli.hook_payload --list STAGING [--config GUEST_TOML]``: compile
    into STAGING, print ``kind<TAB>source<TAB>destination`` lines (``exec`` or ``file``) for the
    generator's hook, the launcher last (``file``, written into STAGING). With ``--config`` (the
    hooks pass the guest configuration) the example evidence provider's pre-minted material goes
    in only when the configuration chooses that provider: a production image carries none of
    the example PKI's material."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (2, 4) or args[0] != "--list" or (len(args) == 4 and args[2] != "--config"):
        print(
            "usage: python3 -m ccverify.cli.hook_payload --list STAGING_DIR [--config GUEST_TOML]",
            file=sys.stderr,
        )
        return 2
    staging = Path(args[1])
    staging.mkdir(parents=True, exist_ok=True)
    try:
        wants_example = len(args) == 2 or _chooses_example(Path(args[3]))
        items = payload(staging=staging)
    except (RuntimeError, subprocess.CalledProcessError, OSError) as error:
        print(f"ccverify hook: cannot compute the guest payload: {error}", file=sys.stderr)
        return 1
    lines = compile_to(items, staging)
    example = _example_evidence(staging) if wants_example else None
    if example is not None:
        lines.append(("file", str(example), f"{SITE}/{EXAMPLE_EVIDENCE}"))
    launcher = staging / "usr/bin/ccverify"
    launcher.parent.mkdir(parents=True, exist_ok=True)
    interpreter = next(item for item in items if item.kind == "exec" and "libpython" not in item.destination)
    example_line = "" if example is None else LAUNCHER_EXAMPLE.format(site=SITE, example=EXAMPLE_EVIDENCE)
    launcher.write_text(
        LAUNCHER.format(
            python=interpreter.destination,
            site=SITE,
            store=MODULE_STORE,
            regex=REGEX_CODE,
            code=DATACLASS_CODE,
            example=example_line,
        )
    )
    launcher.chmod(0o755)
    lines.append(("file", str(launcher), "/usr/bin/ccverify"))
    for kind, source, destination in lines:
        print(f"{kind}\t{source}\t{destination}")
    return 0


def _chooses_example(config: Path) -> bool:
    """Whether the guest configuration chooses the example evidence provider (a configuration
    that cannot be read stops the build, as the hooks do: ``RuntimeError``)."""
    from ccverify.verifier.errors import CCVerifyError
    from ccverify.verifier.release.guest_config import load_guest_config

    try:
        return load_guest_config(config).evidence_provider == "example"
    except CCVerifyError as error:
        raise RuntimeError(f"the guest configuration {config}: {error}") from None


if __name__ == "__main__":
    raise SystemExit(main())
