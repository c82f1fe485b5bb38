"""The service's SQLite store shared by several processes, as ``ccverify serve --workers N``
runs it: a new file migrated by all workers at once, and nonces issued by one, used by another."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ccverify.verifier.errors import InputError
from ccverify.verifier.service import migrations
from ccverify.verifier.service.store import Store

_KEY = bytes(range(32))
_WORKERS = 6


def _open_store(url: str, barrier: Any, out: Any) -> None:
    barrier.wait()  # every process opens the new file at the same moment
    try:
        store = Store(url, _KEY, now=1.0)
        store.close()
        out.put("ok")
    except Exception as error:  # reported to the test, which names it
        out.put(f"{type(error).__name__}: {error}")


def test_workers_migrating_a_new_file_together_all_start(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    for attempt in range(3):
        url = f"sqlite:///{tmp_path / f'race-{attempt}.db'}"
        barrier, out = context.Barrier(_WORKERS), context.Queue()
        processes = [context.Process(target=_open_store, args=(url, barrier, out)) for _ in range(_WORKERS)]
        for process in processes:
            process.start()
        outcomes = [out.get(timeout=120) for _ in processes]
        for process in processes:
            process.join(30)
        assert outcomes == ["ok"] * _WORKERS, outcomes
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            versions = connection.execute(sa.select(migrations.schema.c.version)).scalars().all()
        engine.dispose()
        assert sorted(versions) == sorted(migrations.STEPS)  # each step applied once


def _v1_database(path: Path, nonce: bytes, expires_at: float) -> str:
    """A database as step 1 made it before step 2 existed: nonces in a rowid table."""
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TABLE nonces (nonce BLOB NOT NULL, tee VARCHAR(8) NOT NULL, "
            "expires_at FLOAT NOT NULL, PRIMARY KEY (nonce))"
        )
        connection.exec_driver_sql("CREATE INDEX ix_nonces_expires_at ON nonces (expires_at)")
        migrations.schema.create(connection)
        migrations.STEPS[1](connection)  # the other tables (the nonces table exists)
        connection.execute(sa.insert(migrations.schema).values(version=1, applied_at=0.0))
        connection.exec_driver_sql(
            "INSERT INTO nonces (nonce, tee, expires_at) VALUES (?, ?, ?)", (nonce, "tdx", expires_at)
        )
    engine.dispose()
    return url


def test_a_v1_database_is_migrated_with_its_outstanding_nonces(tmp_path: Path) -> None:
    nonce = bytes(range(32))
    url = _v1_database(tmp_path / "v1.db", nonce, 1e12)
    store = Store(url, _KEY, now=2.0)
    try:
        with store.engine.connect() as connection:
            created = connection.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'nonces'"
            ).scalar_one()
            indexes = (
                connection.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'nonces'"
                )
                .scalars()
                .all()
            )
            versions = connection.execute(sa.select(migrations.schema.c.version)).scalars().all()
        assert "WITHOUT ROWID" in created.upper()
        assert "ix_nonces_expires_at" in indexes
        assert sorted(versions) == [1, 2]
        assert store.outstanding_nonces(0.0) == 1
        assert store.consume_nonce(nonce) == ("tdx", 1e12)  # the issued nonce survived the step
        assert store.consume_nonce(nonce) is None
    finally:
        store.close()


def test_a_nonce_is_used_once_among_threads_of_two_stores(tmp_path: Path) -> None:
    """Two stores on one file (two workers) and eight threads (each its own connection and
    writers' lock) using one nonce at once: exactly one gets it."""
    import threading

    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first, second = Store(url, _KEY, now=1.0), Store(url, _KEY, now=1.0)
    try:
        for _ in range(5):  # 40 threads: more than a pool holds, each thread's connection returns
            nonce = first.issue_nonce("snp", 1e12)
            got: list[object] = []
            barrier = threading.Barrier(8)

            def use(store: Store, nonce: bytes, got: list[object], barrier: threading.Barrier) -> None:
                barrier.wait()
                got.append(store.consume_nonce(nonce))

            threads = [
                threading.Thread(target=use, args=((first, second)[i % 2], nonce, got, barrier))
                for i in range(8)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            assert len(got) == 8 and [g for g in got if g is not None] == [("snp", 1e12)]
        assert (tmp_path / "shared.db-ccverify.lock").exists()
    finally:
        first.close()
        second.close()


def test_without_the_writers_lock_file_the_nonces_still_work(tmp_path: Path) -> None:
    """The lock only orders writers: a lock file that cannot be opened leaves SQLite's own."""
    database = tmp_path / "nolock.db"
    (tmp_path / "nolock.db-ccverify.lock").mkdir()  # a directory: not a file to lock
    store = Store(f"sqlite:///{database}", _KEY, now=1.0)
    try:
        nonce = store.issue_nonce("tdx", 5.0)
        assert store.consume_nonce(nonce) == ("tdx", 5.0)
        assert store.consume_nonce(nonce) is None
    finally:
        store.close()


def test_the_admin_writes_stay_transactional_beside_the_guest_path(tmp_path: Path) -> None:
    """The guest path's connection runs in autocommit; the pool's others still roll back."""
    store = Store(f"sqlite:///{tmp_path / 'tx.db'}", _KEY, now=1.0)
    try:
        store.issue_nonce("tdx", 9.0)  # the thread's writer exists now
        try:
            with store.engine.begin() as connection:
                connection.execute(
                    sa.insert(migrations.nonces).values(nonce=b"x" * 32, tee="tdx", expires_at=9.0)
                )
                raise RuntimeError("abandoned")
        except RuntimeError:
            pass
        assert store.consume_nonce(b"x" * 32) is None  # rolled back
        assert store.outstanding_nonces(0.0) == 1
    finally:
        store.close()


def test_a_database_other_than_sqlite_or_postgresql_is_refused() -> None:
    for url in ("mysql+pymysql://u@127.0.0.1/db", "oracle://u@127.0.0.1/db", "not a url"):
        with pytest.raises(InputError, match="SQLite or PostgreSQL"):
            Store(url, _KEY, now=1.0)
