"""The initramfs payload's module store (``cli/module_store.py``): modules found and run from one
file, looking as they would from their ``.pyc``; a store for another interpreter refused."""

from __future__ import annotations

import marshal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ccverify.cli import module_store


def _code(source: str, file: str) -> bytes:
    return marshal.dumps(compile(source, file, "exec", dont_inherit=True))


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A store of a package ``pkg`` (data file beside it, one submodule stored, one left as a
    file) and a module ``solo``, in ``tmp_path/site``."""
    site = tmp_path / "site"
    (site / "pkg").mkdir(parents=True)
    (site / "pkg" / "data.txt").write_text("beside the package\n")
    # a submodule the store does not hold, found in the package's folder as a .pyc would be
    (site / "pkg" / "loose.py").write_text("WHERE = 'loose'\n")
    entries = [
        ("pkg", "pkg/__init__.pyc", True, _code("NAME = 'pkg'\nfrom pkg import inner\n", "pkg/__init__.pyc")),
        ("pkg.inner", "pkg/inner.pyc", False, _code("import os\nHERE = os.path.dirname(__file__)\n", "x")),
        ("solo", "solo.pyc", False, _code("def f():\n    return 42\n", "solo.pyc")),
    ]
    path = site / "modules.bin"
    path.write_bytes(module_store.dump(entries))
    return path


def _run(store: Path, code: str) -> subprocess.CompletedProcess[str]:
    prelude = (
        "import sys\n"
        f"sys.path.insert(0, {str(store.parent)!r})\n"
        "from ccverify.cli import module_store\n"
        f"module_store.install({str(store)!r})\n"
    )
    return subprocess.run([sys.executable, "-I", "-c", prelude + code], capture_output=True, text=True)


def test_stored_modules_import_as_from_their_files(store: Path) -> None:
    site = store.parent
    done = _run(
        store,
        "import pkg, solo, pkg.loose, importlib.resources\n"
        "print(pkg.NAME, solo.f(), pkg.inner.HERE, pkg.loose.WHERE)\n"
        "print(pkg.__file__, pkg.__spec__.origin, pkg.__path__, solo.__file__)\n"
        "print(type(pkg.__spec__.loader).__name__, type(pkg.loose.__spec__.loader).__name__)\n"
        "print(importlib.resources.files('pkg').joinpath('data.txt').read_text().strip())\n",
    )
    assert done.returncode == 0, done.stderr
    first, second, third, fourth = done.stdout.splitlines()
    assert first == f"pkg 42 {site / 'pkg'} loose"
    init = site / "pkg/__init__.pyc"
    assert second == f"{init} {init} {[str(site / 'pkg')]} {site / 'solo.pyc'}"
    assert third == "_Store SourceFileLoader"  # the loose submodule: the ordinary finder
    assert fourth == "beside the package"


def test_a_name_the_store_does_not_hold_is_found_as_before(store: Path) -> None:
    done = _run(store, "import json, pkg\nimport nosuchmodule\n")
    assert done.returncode == 1
    assert "ModuleNotFoundError: No module named 'nosuchmodule'" in done.stderr


def test_the_index_reads_back(store: Path) -> None:
    made_for, index = module_store.read_index(store.read_bytes())
    assert made_for == module_store.tag()
    assert sorted(index) == ["pkg", "pkg.inner", "solo"]
    assert index["pkg"][:2] == ("pkg/__init__.pyc", True) and index["solo"][:2] == ("solo.pyc", False)


def test_a_name_given_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="module a given twice"):
        module_store.dump([("a", "a.pyc", False, b""), ("a", "b.pyc", False, b"")])


def test_a_store_for_another_interpreter_is_refused(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module_store, "tag", lambda: "cpython-399 3.99.0 O0")
    store.write_bytes(module_store.dump([("solo", "solo.pyc", False, _code("X = 1\n", "solo.pyc"))]))
    done = _run(store, "print('ran')\n")
    assert done.returncode == 2
    assert "was made for 'cpython-399 3.99.0 O0', not this interpreter" in done.stderr
    assert "ran" not in done.stdout and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (lambda data: b"not a store at all" + data, "not a ccverify module store"),
        (lambda data: data[: len(module_store.MAGIC) + 12], "cannot be read"),
    ],
)
def test_a_damaged_store_is_refused(store: Path, damage: Callable[[bytes], bytes], says: str) -> None:
    store.write_bytes(damage(store.read_bytes()))
    done = _run(store, "print('ran')\n")
    assert done.returncode == 2
    assert says in done.stderr and "ran" not in done.stdout and "Traceback" not in done.stderr


def test_a_missing_store_is_refused(tmp_path: Path) -> None:
    done = _run(tmp_path / "absent.bin", "print('ran')\n")
    assert done.returncode == 2
    assert "cannot open the module store" in done.stderr and "Traceback" not in done.stderr


def test_code_cut_short_is_an_import_error(store: Path) -> None:
    data = store.read_bytes()
    store.write_bytes(data[:-5])  # the last module's code (solo) loses its end
    done = _run(store, "import pkg\nprint('pkg ok')\nimport solo\n")
    assert "pkg ok" in done.stdout
    assert done.returncode == 1 and "solo's code is cut short" in done.stderr


def test_a_standard_library_module_at_its_own_place(tmp_path: Path) -> None:
    """The payload stores the standard library's modules under their files' absolute places:
    one is run from the store and names that file; one this interpreter has frozen is still
    the frozen one (faster than any store)."""
    site = tmp_path / "site"
    site.mkdir()
    place = tmp_path / "lib" / "colorsys.pyc"
    entries = [
        ("colorsys", str(place), False, _code("WHERE = 'store'\n", str(place))),
        ("runpy", "/elsewhere/runpy.pyc", False, _code("WHERE = 'store'\n", "runpy.pyc")),
    ]
    path = site / "modules.bin"
    path.write_bytes(module_store.dump(entries))
    done = _run(
        path,
        "import sys\nassert 'runpy' not in sys.modules\nimport colorsys, runpy\n"
        "print(colorsys.WHERE, colorsys.__file__)\n"
        "print(getattr(runpy, 'WHERE', 'frozen'), runpy.__spec__.origin)\n",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [f"store {place}", "frozen frozen"]
