"""Maps the owner-fixed top-level folders onto the ``ccverify`` import namespace.

``verifier/`` -> ``ccverify.verifier``, ``measurements/`` -> ``ccverify.measurements``,
``cli/`` -> ``ccverify.cli``; nothing installs a bare top-level package.
"""

from pathlib import Path

from setuptools import find_packages, setup

ROOTS = {"verifier": "ccverify.verifier", "measurements": "ccverify.measurements", "cli": "ccverify.cli"}

here = Path(__file__).parent
packages: list[str] = []
package_dir: dict[str, str] = {}
for folder, name in ROOTS.items():
    packages.append(name)
    package_dir[name] = folder
    for sub in find_packages(str(here / folder)):
        packages.append(f"{name}.{sub}")
        package_dir[f"{name}.{sub}"] = f"{folder}/{sub.replace('.', '/')}"

setup(packages=packages, package_dir=package_dir)
