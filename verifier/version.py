"""The package's version, as a constant: read at run time without ``importlib.metadata``.

``pyproject.toml``'s ``[project] version`` is the same string (``tests/unit/test_version.py``
holds them equal). The initramfs payload ships no distribution metadata, and importing
``importlib.metadata`` (zipfile, email, ...) cost local-mode ``guest authorize`` ~8 ms on the
host, so the EAR's ``verifier-id`` build and ``ccverify --version`` read this instead.
"""

__version__ = "0.1.0"
