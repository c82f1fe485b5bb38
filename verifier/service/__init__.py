"""The relying-party service (``ccverify serve``): challenge, attest, EAR JWT, sealed release.

``app`` (FastAPI/ASGI), ``attestation`` (the work without HTTP), ``store`` + ``migrations``
(SQLAlchemy Core: SQLite or PostgreSQL), ``config`` (TOML), ``init`` (``serve --init``),
``metrics`` and ``tls`` (the admin API's optional mutual TLS) need the ``service`` extra.
``client`` needs requests only: the guest imports it, and nothing it imports pulls in FastAPI,
SQLAlchemy or uvicorn (a test checks).
"""
