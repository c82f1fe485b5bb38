"""Schema migrations of the service's database, in order; ``migrate`` applies those not yet applied.

Each step is a function of a SQLAlchemy ``Connection`` run in one transaction with the row
that records it in ``ccverify_schema``. On PostgreSQL the steps run under an advisory lock, on
SQLite under the database's write lock (``BEGIN IMMEDIATE``), so replicas or workers starting
together migrate once. A new release appends a step; steps never change.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

metadata = sa.MetaData()

schema = sa.Table(
    "ccverify_schema",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("applied_at", sa.Float, nullable=False),
)

nonces = sa.Table(
    "nonces",
    metadata,
    sa.Column("nonce", sa.LargeBinary(32), primary_key=True),
    sa.Column("tee", sa.String(8), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False, index=True),
    # on SQLite the rows live in the primary key's tree (step 2): a nonce issued or used
    # writes one tree and the expiry index, not a rowid table besides
    sqlite_with_rowid=False,
)

reference_values = sa.Table(
    "reference_values",
    metadata,
    sa.Column("id", sa.String(512), primary_key=True),
    sa.Column("sequence", sa.BigInteger, nullable=False),
    sa.Column("platform", sa.String(8), nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("uploaded_at", sa.Float, nullable=False),
)

device_policies = sa.Table(
    "device_policies",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("uploaded_at", sa.Float, nullable=False),
)

secrets = sa.Table(
    "secrets",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    # AES-256-GCM under the configured storage key: 12-byte nonce || ciphertext || tag
    sa.Column("sealed", sa.LargeBinary, nullable=False),
    sa.Column("uploaded_at", sa.Float, nullable=False),
)

release_rules = sa.Table(
    "release_rules",
    metadata,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("reference_values", sa.String(512), nullable=False),
    sa.Column("device_policy", sa.String(128), nullable=True),
    sa.Column("secrets", sa.Text, nullable=False),  # JSON array of names
    sa.Column("uploaded_at", sa.Float, nullable=False),
)

audit = sa.Table(
    "audit",
    metadata,
    sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("actor", sa.String(64), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(512), nullable=True),
    sa.Column("outcome", sa.String(64), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),  # JSON object, never a secret byte
)


def _v1_initial(connection: sa.Connection) -> None:
    for table in (nonces, reference_values, device_policies, secrets, release_rules, audit):
        table.create(connection, checkfirst=True)


def _v2_sqlite_nonces_without_rowid(connection: sa.Connection) -> None:
    """SQLite: the nonces table ``WITHOUT ROWID`` (its outstanding nonces kept); elsewhere nothing."""
    if connection.dialect.name != "sqlite":
        return
    created = connection.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'nonces'"
    ).scalar_one()
    if "WITHOUT ROWID" in created.upper():
        return  # made by step 1 from today's metadata
    connection.exec_driver_sql(
        "CREATE TABLE nonces_v2 (nonce BLOB NOT NULL, tee VARCHAR(8) NOT NULL, "
        "expires_at FLOAT NOT NULL, PRIMARY KEY (nonce)) WITHOUT ROWID"
    )
    connection.exec_driver_sql(
        "INSERT INTO nonces_v2 (nonce, tee, expires_at) SELECT nonce, tee, expires_at FROM nonces"
    )
    connection.exec_driver_sql("DROP TABLE nonces")  # and its index
    connection.exec_driver_sql("ALTER TABLE nonces_v2 RENAME TO nonces")
    connection.exec_driver_sql("CREATE INDEX ix_nonces_expires_at ON nonces (expires_at)")


#: version -> step; append only
STEPS: dict[int, Callable[[sa.Connection], None]] = {1: _v1_initial, 2: _v2_sqlite_nonces_without_rowid}
LATEST = max(STEPS)


def migrate(engine: sa.Engine, *, now: float) -> list[int]:
    """Apply the steps the database lacks; return the versions applied."""
    applied: list[int] = []
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(7466827)"))  # "ccvrf"
        elif engine.dialect.name == "sqlite":
            # the write lock first: workers starting together on a new file migrate one after
            # the other (pysqlite runs DDL outside a transaction unless one is begun explicitly,
            # and two workers' checkfirst CREATE TABLEs raced: "table ... already exists")
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        schema.create(connection, checkfirst=True)
        done = set(connection.execute(sa.select(schema.c.version)).scalars())
        for version, step in sorted(STEPS.items()):
            if version in done:
                continue
            step(connection)
            connection.execute(sa.insert(schema).values(version=version, applied_at=now))
            applied.append(version)
    return applied
