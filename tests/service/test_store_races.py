"""Admin writes racing each other on two stores (two workers or replicas), on SQLite and on a
real PostgreSQL: an upload of a name another one is uploading at the same moment never fails,
and reference values never go back to an older sequence, whatever the order."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ccverify.verifier.errors import VerificationError
from ccverify.verifier.service.store import Rule, Store

_KEY = bytes(range(32))
_THREADS = 12


@pytest.fixture(params=["sqlite", "postgresql"])
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Store, Store]]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'race.db'}"
    else:
        url = request.getfixturevalue("postgres")
    first, second = Store(url, _KEY, now=1.0), Store(url, _KEY, now=1.0)
    try:
        yield first, second
    finally:
        first.close()
        second.close()


def _together(calls: list[Callable[[], object]]) -> list[BaseException | None]:
    """Run the calls in threads released at once; each one's exception (or None)."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[BaseException | None] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            calls[index]()
        except BaseException as error:  # collected for the test's assertion
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return outcomes


def _stored_or_refused(outcomes: list[BaseException | None]) -> None:
    """Each upload stored (or found already stored), or refused as not newer: nothing else."""
    for outcome in outcomes:
        assert outcome is None or (
            isinstance(outcome, VerificationError) and outcome.code == "refvalues_rollback"
        ), repr(outcome)


def test_the_same_secret_uploaded_at_once_never_fails(stores: tuple[Store, Store]) -> None:
    for _ in range(4):
        name = f"s-{uuid.uuid4().hex[:12]}"
        values = [bytes([i]) * 16 for i in range(_THREADS)]
        outcomes = _together(
            [
                lambda i=i, name=name, values=values: stores[i % 2].put_secret(name, values[i], 2.0)
                for i in range(_THREADS)
            ]
        )
        assert outcomes == [None] * _THREADS, [repr(o) for o in outcomes if o is not None]
        assert stores[0].secrets([name])[name] in values


def test_the_same_rule_uploaded_at_once_never_fails(stores: tuple[Store, Store]) -> None:
    for _ in range(4):
        name = f"r-{uuid.uuid4().hex[:12]}"
        outcomes = _together(
            [
                lambda i=i, name=name: stores[i % 2].put_rule(Rule(name, f"rv-{i}", None, (f"k{i}",), 2.0))
                for i in range(_THREADS)
            ]
        )
        assert outcomes == [None] * _THREADS, [repr(o) for o in outcomes if o is not None]
        (stored,) = [r for r in stores[1].rules() if r.name == name]
        index = int(stored.reference_values.split("-")[1])
        assert stored.secrets == (f"k{index}",)  # one upload whole, not a mix of two


def test_reference_values_never_go_back_to_an_older_sequence(stores: tuple[Store, Store]) -> None:
    for _ in range(4):
        rv_id = f"rv-{uuid.uuid4().hex[:12]}"
        assert stores[0].put_reference_values(rv_id, 2, "tdx", b"body 2", 1.0) is True
        # half the uploads are sequence 3, half sequence 5, all at once
        outcomes = _together(
            [
                lambda i=i, rv_id=rv_id: stores[i % 2].put_reference_values(
                    rv_id, 5 if i % 2 else 3, "tdx", b"body %d" % (5 if i % 2 else 3), 2.0
                )
                for i in range(_THREADS)
            ]
        )
        _stored_or_refused(outcomes)
        stored = stores[1].reference_values(rv_id)
        assert stored is not None and stored.sequence == 5 and stored.body == b"body 5"


def test_a_new_ids_first_uploads_at_once_store_one_and_refuse_or_repeat_the_rest(
    stores: tuple[Store, Store],
) -> None:
    rv_id = f"rv-{uuid.uuid4().hex[:12]}"
    outcomes = _together(
        [
            lambda i=i: stores[i % 2].put_reference_values(rv_id, 7, "snp", b"body %d" % (i % 3), 1.0)
            for i in range(_THREADS)
        ]
    )
    _stored_or_refused(outcomes)
    stored = stores[0].reference_values(rv_id)
    assert stored is not None and stored.sequence == 7 and stored.body in (b"body 0", b"body 1", b"body 2")
