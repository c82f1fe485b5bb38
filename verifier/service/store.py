"""The service's state through SQLAlchemy Core: SQLite (one file, WAL) or PostgreSQL (psycopg 3).

Nonces, reference values, device policies, secrets (AES-256-GCM under the configured storage
key, the name as associated data, so a ciphertext cannot be moved to another name), release
rules and the audit log. A nonce is consumed by one ``DELETE ... RETURNING``: of any number of
concurrent attempts, on any number of replicas sharing the database, exactly one gets the row.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets as _random
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ccverify.verifier.errors import InputError, VerificationError
from ccverify.verifier.service import migrations as m

NONCE_BYTES = 32

# built once (building a statement costs more than running it)
_AUDIT = sa.insert(m.audit)


@dataclass(frozen=True)
class StoredReferenceValues:
    id: str
    sequence: int
    platform: str
    body: bytes
    sha256: str
    uploaded_at: float


@dataclass(frozen=True)
class Rule:
    name: str
    reference_values: str
    device_policy: str | None
    secrets: tuple[str, ...]
    uploaded_at: float
    #: of the reference values the rule names, when read back (None: not stored)
    platform: str | None = None
    rv_sha256: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "reference_values": self.reference_values,
            "device_policy": self.device_policy,
            "secrets": list(self.secrets),
        }


def audit_row(
    now: float, actor: str, action: str, subject: str | None, outcome: str, detail: Mapping[str, Any]
) -> dict[str, Any]:
    return {"at": now, "actor": actor, "action": action, "subject": subject, "outcome": outcome,
            "detail": json.dumps(dict(detail), sort_keys=True)}  # fmt: skip


def engine_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (SQLAlchemy's default driver is psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, *, pool_size: int = 10) -> sa.Engine:
    full = engine_url(url)
    if full.startswith("sqlite"):
        engine = sa.create_engine(full, connect_args={"timeout": 10, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()

        return engine
    if not full.startswith("postgresql"):
        # the statements here are SQLite's and PostgreSQL's (INSERT ... ON CONFLICT, RETURNING)
        raise InputError(f"database URL {url!r}: ccverify stores its state in SQLite or PostgreSQL")
    try:
        return sa.create_engine(full, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as error:
        raise InputError(f"database URL {url!r}: {error}") from None


class Store:
    """All reads and writes of the service's state."""

    def __init__(self, url: str, storage_key: bytes, *, now: float, pool_size: int = 10) -> None:
        self.engine = make_engine(url, pool_size=pool_size)
        self._aead = AESGCM(storage_key)
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        self._sql_issue = f"INSERT INTO nonces (nonce, tee, expires_at) VALUES ({mark}, {mark}, {mark})"
        self._sql_consume = f"DELETE FROM nonces WHERE nonce = {mark} RETURNING tee, expires_at"
        self._sqlite = self.engine.dialect.name == "sqlite"
        database = self.engine.url.database if self._sqlite else None
        #: beside a SQLite file: the lock the guest path's writers queue on (``_SqliteWriter``)
        self._writers_lock = f"{database}-ccverify.lock" if database and database != ":memory:" else None
        self._local = threading.local()
        self._held: weakref.WeakSet[_SqliteWriter] = weakref.WeakSet()  # live threads' writers
        self._held_lock = threading.Lock()
        try:
            # the writers' lock around the first connection too: a new file is made a WAL file
            # by the first process to connect, and one connecting meanwhile can be refused
            # ("database is locked") without SQLite's busy handler being asked
            with _exclusive(self._writers_lock):
                m.migrate(self.engine, now=now)
        except sa.exc.OperationalError as error:
            raise InputError(f"database {url!r}: {error.orig}") from None

    def close(self) -> None:
        with self._held_lock:
            held = list(self._held)
            self._held.clear()
        for writer in held:
            writer.close()
        self.engine.dispose()

    # nonces -----------------------------------------------------------------------------

    def issue_nonce(self, tee: str, expires_at: float) -> bytes:
        nonce = _random.token_bytes(NONCE_BYTES)
        self._raw(self._sql_issue, (nonce, tee, expires_at))
        return nonce

    def consume_nonce(self, nonce: bytes) -> tuple[str, float] | None:
        """Delete the nonce and return (tee, expires_at); None if it is not (or no longer) there."""
        row = self._raw(self._sql_consume, (nonce,), fetch=True)
        return None if row is None else (str(row[0]), float(row[1]))

    def _raw(self, sql: str, params: tuple[Any, ...], *, fetch: bool = False) -> Any:
        """One statement in its own transaction on a pooled DBAPI connection: the two statements
        every attestation runs, without SQLAlchemy's per-execution machinery. On SQLite, each
        thread keeps a connection of its own for them (``_SqliteWriter``)."""
        if self._sqlite:
            return self._raw_sqlite(sql, params, fetch)
        connection = self.engine.raw_connection()
        try:
            return _one_statement(connection, sql, params, fetch)
        except Exception:
            connection.rollback()
            raise
        finally:
            connection.close()  # back to the pool

    def _raw_sqlite(self, sql: str, params: tuple[Any, ...], fetch: bool) -> Any:
        writer: _SqliteWriter | None = getattr(self._local, "writer", None)
        if writer is None:
            writer = self._local.writer = _SqliteWriter(self.engine.raw_connection(), self._writers_lock)
            with self._held_lock:
                self._held.add(writer)
        try:
            return writer.run(sql, params, fetch)
        except Exception:
            self._local.writer = None  # a connection that failed is not used again
            with self._held_lock:
                self._held.discard(writer)
            writer.close(failed=True)
            raise

    def purge_nonces(self, now: float) -> int:
        with self.engine.begin() as c:
            return c.execute(sa.delete(m.nonces).where(m.nonces.c.expires_at <= now)).rowcount

    def outstanding_nonces(self, now: float) -> int:
        with self.engine.connect() as c:
            count = c.execute(
                sa.select(sa.func.count()).select_from(m.nonces).where(m.nonces.c.expires_at > now)
            ).scalar_one()
        return int(count)

    # reference values -------------------------------------------------------------------

    def put_reference_values(self, rv_id: str, sequence: int, platform: str, body: bytes, now: float) -> bool:
        """Store a verified set; refuse an older sequence (or other bytes at the same sequence)
        for the same id. Returns False when the same bytes were already stored.

        Each step is one statement that decides by itself (an insert that does nothing when
        the id exists, then an update only of an older sequence), so uploads racing each other
        on any number of workers or replicas never store an older sequence over a newer one."""
        digest = hashlib.sha256(body).hexdigest()
        table = m.reference_values
        values = {
            "sequence": sequence,
            "platform": platform,
            "body": body,
            "sha256": digest,
            "uploaded_at": now,
        }
        with self.engine.begin() as c:
            # RETURNING, not rowcount: psycopg's rowcount of an INSERT here is -1
            new = self._insert(table).values(id=rv_id, **values).on_conflict_do_nothing()
            if c.execute(new.returning(table.c.id)).first() is not None:
                return True
            newer = sa.update(table).where(table.c.id == rv_id, table.c.sequence < sequence).values(**values)
            if c.execute(newer.returning(table.c.id)).first() is not None:
                return True
            row = c.execute(sa.select(table.c.sequence, table.c.sha256).where(table.c.id == rv_id)).one()
        if row.sha256 == digest:
            return False
        raise VerificationError(
            "refvalues_rollback",
            f"reference values {rv_id!r}: sequence {sequence} is not newer than the stored one",
            expected=f"> {row.sequence}",
            actual=sequence,
        )

    def reference_values(self, rv_id: str) -> StoredReferenceValues | None:
        t = m.reference_values
        with self.engine.connect() as c:
            row = c.execute(sa.select(t).where(t.c.id == rv_id)).first()
        return None if row is None else StoredReferenceValues(*row)

    # device policies and secrets --------------------------------------------------------

    def put_device_policy(self, name: str, body: bytes, now: float) -> None:
        self._upsert(
            m.device_policies,
            "name",
            name,
            {"body": body, "sha256": hashlib.sha256(body).hexdigest(), "uploaded_at": now},
        )

    def device_policy(self, name: str) -> bytes | None:
        t = m.device_policies
        with self.engine.connect() as c:
            value = c.execute(sa.select(t.c.body).where(t.c.name == name)).scalar_one_or_none()
        return None if value is None else bytes(value)

    def put_secret(self, name: str, value: bytes, now: float) -> None:
        nonce = os.urandom(12)
        sealed = nonce + self._aead.encrypt(nonce, value, b"ccverify secret " + name.encode())
        self._upsert(m.secrets, "name", name, {"sealed": sealed, "uploaded_at": now})

    def secrets(self, names: Iterable[str]) -> dict[str, bytes]:
        """The named secrets, decrypted; a missing one is left out (the caller decides)."""
        wanted = list(names)
        if not wanted:
            return {}
        t = m.secrets
        with self.engine.connect() as c:
            rows = c.execute(sa.select(t.c.name, t.c.sealed).where(t.c.name.in_(wanted))).all()
        out: dict[str, bytes] = {}
        for name, sealed in rows:
            blob = bytes(sealed)
            try:
                out[name] = self._aead.decrypt(blob[:12], blob[12:], b"ccverify secret " + name.encode())
            except InvalidTag:
                raise VerificationError(
                    "secret_undecryptable",
                    f"secret {name!r} does not decrypt under the configured storage key",
                ) from None
        return out

    def secret_names(self) -> list[str]:
        with self.engine.connect() as c:
            return list(c.execute(sa.select(m.secrets.c.name).order_by(m.secrets.c.name)).scalars())

    # release rules ----------------------------------------------------------------------

    def put_rule(self, rule: Rule) -> None:
        self._upsert(
            m.release_rules,
            "name",
            rule.name,
            {
                "reference_values": rule.reference_values,
                "device_policy": rule.device_policy,
                "secrets": json.dumps(list(rule.secrets)),
                "uploaded_at": rule.uploaded_at,
            },
        )

    def rules(self) -> list[Rule]:
        """Every rule, with the platform and digest of the reference values it names."""
        t, rv = m.release_rules, m.reference_values
        query = (
            sa.select(t, rv.c.platform, rv.c.sha256)
            .select_from(t.outerjoin(rv, rv.c.id == t.c.reference_values))
            .order_by(t.c.name)
        )
        with self.engine.connect() as c:
            rows = c.execute(query).all()
        return [
            Rule(r.name, r.reference_values, r.device_policy, tuple(json.loads(r.secrets)), r.uploaded_at,
                 r.platform, r.sha256)
            for r in rows
        ]  # fmt: skip

    # audit ------------------------------------------------------------------------------

    def audit(
        self,
        now: float,
        actor: str,
        action: str,
        subject: str | None,
        outcome: str,
        detail: Mapping[str, Any],
    ) -> None:
        self.audit_many([audit_row(now, actor, action, subject, outcome, detail)])

    def audit_many(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            with self.engine.begin() as c:
                c.execute(_AUDIT, rows)

    def audit_entries(self, after: int, limit: int) -> list[dict[str, Any]]:
        t = m.audit
        with self.engine.connect() as c:
            rows = c.execute(sa.select(t).where(t.c.id > after).order_by(t.c.id).limit(limit)).all()
        return [
            {"id": r.id, "at": r.at, "actor": r.actor, "action": r.action, "subject": r.subject,
             "outcome": r.outcome, "detail": json.loads(r.detail)}
            for r in rows
        ]  # fmt: skip

    # -----------------------------------------------------------------------------------

    def _upsert(self, table: sa.Table, key: str, value: str, columns: Mapping[str, Any]) -> None:
        """Insert or replace the row, in one statement (uploads of one name racing each other on
        several workers or replicas: the last one stays, none fails)."""
        insert = self._insert(table).values({key: value, **columns})
        with self.engine.begin() as c:
            c.execute(insert.on_conflict_do_update(index_elements=[table.c[key]], set_=dict(columns)))

    def _insert(self, table: sa.Table) -> Any:
        """The dialect's INSERT, which has ``ON CONFLICT`` (SQLite >= 3.24, PostgreSQL)."""
        if self._sqlite:
            return sqlite_insert(table)
        return postgresql_insert(table)


def _one_statement(connection: Any, sql: str, params: tuple[Any, ...], fetch: bool) -> Any:
    """``sql`` on a DBAPI ``connection``, committed; its first row when ``fetch``."""
    cursor = connection.cursor()
    try:
        cursor.execute(sql, params)
        row = cursor.fetchone() if fetch else None
    finally:
        cursor.close()
    connection.commit()
    return row


def _open_lock(path: str | None) -> int | None:
    """The writers' lock file (``_SqliteWriter``) opened; None without one, or if it cannot be."""
    if path is None:
        return None
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return None


def _lock(fd: int | None) -> bool:
    """Whether the writers' lock is now held (waiting for it as long as another holds it)."""
    if fd is None:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
        return False  # SQLite's busy handler orders this one
    return True


@contextlib.contextmanager
def _exclusive(path: str | None) -> Iterator[None]:
    """The writers' lock while the block runs; none if it cannot be had."""
    fd = _open_lock(path)
    _lock(fd)
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)  # and with it the lock


class _SqliteWriter:
    """One thread's SQLite connection for the guest path's single statements.

    Each statement is its own transaction (autocommit: SQLite holds the write lock for the
    statement only, not until a later ``COMMIT`` from Python). Around it, an exclusive
    ``flock`` on a file beside the database: the workers of ``ccverify serve --workers N``
    (and threads) writing nonces wait for each other in the kernel, woken as soon as the
    other is done, instead of in SQLite's busy handler, which sleeps 1 ms and more at a
    time with the worker's whole event loop stopped. The lock only orders the writers;
    SQLite's own locking keeps them correct, with or without it (a file that cannot be
    opened or locked: no lock). When its thread ends, the writer's connection goes back to
    the pool, as it was."""

    def __init__(self, connection: Any, lock_path: str | None) -> None:
        self.connection = connection
        self._driver = connection.driver_connection
        isolation = self._driver.isolation_level
        self._driver.isolation_level = None  # autocommit: each statement its own transaction
        self._lock = _open_lock(lock_path)
        self._release = weakref.finalize(self, _release_writer, connection, isolation, self._lock)
        self._release.atexit = False

    def run(self, sql: str, params: tuple[Any, ...], fetch: bool) -> Any:
        locked = _lock(self._lock)
        try:
            # in autocommit the statement's end (its cursor closed) ends its transaction, and
            # the commit finds none to commit
            return _one_statement(self._driver, sql, params, fetch)
        finally:
            if locked:
                fcntl.flock(self._lock, fcntl.LOCK_UN)  # type: ignore[arg-type]

    def close(self, *, failed: bool = False) -> None:
        if not failed:
            self._release()
        elif self._release.detach() is not None:
            if self._lock is not None:
                os.close(self._lock)
            self.connection.invalidate()  # closed, never back in the pool


def _release_writer(connection: Any, isolation: str | None, lock: int | None) -> None:
    if lock is not None:
        os.close(lock)
    connection.driver_connection.isolation_level = isolation  # the pool's connections begin transactions
    connection.close()
