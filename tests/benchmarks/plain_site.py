"""The hook payload's site folder as plain files, for the benchmarks' baseline.

The payload keeps the code of its site-folder modules in one store (``cli/module_store.py``),
which the hook's launcher installs. The benchmarks' yardstick is ``python3 -c "import
cryptography.x509"`` as any Python runs it: from ``.pyc`` files, found on ``sys.path``. So the
baseline runs from a copy of the site folder with each stored module compiled back to its own
sourceless ``.pyc`` (from the same sources, by the same interpreter), not through the store.
"""

from __future__ import annotations

import json
import py_compile
import shutil
import subprocess
import sys
from pathlib import Path

from ccverify.cli import hook_payload, module_store


def plain_site(site: Path, into: Path) -> Path:
    """A copy of the payload's ``site`` folder in ``into``, its store replaced by ``.pyc`` files."""
    store = site / hook_payload.MODULE_STORE
    _tag, index = module_store.read_index(store.read_bytes())
    shutil.copytree(site, into, symlinks=True, ignore=shutil.ignore_patterns(hook_payload.MODULE_STORE))
    # where each stored module's source is, asked of a fresh interpreter
    # (by the parent's path: a few of cryptography's modules replace themselves in sys.modules
    # by objects without a spec)
    probe = (
        "import importlib, importlib.machinery, importlib.util, json, sys\n"
        "def origin(name):\n"
        "    try:\n"
        "        spec = importlib.util.find_spec(name)\n"
        "    except ValueError:\n"
        "        parent = importlib.import_module(name.rpartition('.')[0])\n"
        "        spec = importlib.machinery.PathFinder.find_spec(name, parent.__path__)\n"
        "    return None if spec is None else spec.origin\n"
        "print(json.dumps({n: origin(n) for n in json.loads(sys.stdin.read())}))\n"
    )
    own = sorted(name for name, entry in index.items() if not entry[0].startswith("/"))
    found = subprocess.run(
        [sys.executable, "-I", "-c", probe], input=json.dumps(own),
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    sources: dict[str, str | None] = json.loads(found.stdout)
    for name, (relative, _package, _offset, _size) in index.items():
        if relative.startswith("/"):
            continue  # the standard library's: the payload has its .pyc file too
        source = sources.get(name)
        if source is None or not source.endswith(".py"):
            raise RuntimeError(f"no source for the stored module {name}")
        compiled = into / relative
        compiled.parent.mkdir(parents=True, exist_ok=True)
        py_compile.compile(
            source, cfile=str(compiled), dfile=f"{hook_payload.SITE}/{relative}", doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )  # fmt: skip
    return into


def plain_stdlib(site: Path, into: Path) -> Path:
    """The standard library's modules the payload keeps only in its store, compiled back to
    ``.pyc`` files under ``into`` at their absolute places (``into`` standing for ``/``): what
    the baseline's interpreter reads from files where the hook's launcher reads the store."""
    _tag, index = module_store.read_index((site / hook_payload.MODULE_STORE).read_bytes())
    for name, (destination, _package, _offset, _size) in index.items():
        if not destination.startswith("/"):
            continue  # the site folder's (plain_site)
        source = destination.removesuffix(".pyc") + ".py"
        if not Path(source).is_file():
            raise RuntimeError(f"no source for the stored module {name} ({source})")
        compiled = into / destination.lstrip("/")
        compiled.parent.mkdir(parents=True, exist_ok=True)
        py_compile.compile(
            source, cfile=str(compiled), dfile=destination, doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )  # fmt: skip
    return into
