"""TCB evaluation rules on hand-built TCB info / QE identity models (notes §2 steps 8, 11, 13-17)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ccverify.verifier.errors import VerificationError
from ccverify.verifier.tdx.collateral import (
    IsvTcbLevel,
    QeIdentity,
    TcbInfo,
    TcbLevel,
    TcbStatus,
    TdxModuleIdentity,
)
from ccverify.verifier.tdx.tcb import (
    TcbEvaluation,
    check_module_identity,
    check_qe_identity,
    converge_module,
    converge_qe,
    evaluate_tcb,
    match_isv_level,
    match_platform_level,
    module_id_for,
    relaunch_status,
    select_module_identity,
)

S = TcbStatus
D1 = datetime(2024, 3, 13, tzinfo=UTC)
D0 = datetime(2018, 1, 4, tzinfo=UTC)
SGX = (2, 2, 2, 2, 3, 1, 0, 5) + (0,) * 8
PCK = (3, 3, 2, 2, 4, 1, 0, 5) + (0,) * 8


def level(
    status: TcbStatus = S.UpToDate,
    *,
    sgx: tuple[int, ...] = SGX,
    pcesvn: int = 11,
    tdx: tuple[int, ...] = (5, 0, 2) + (0,) * 13,
    date: datetime = D1,
    advisories: tuple[str, ...] = (),
) -> TcbLevel:
    return TcbLevel(sgx, pcesvn, tdx, date, status, advisories)


def module(ident: str | None, *levels: IsvTcbLevel) -> TdxModuleIdentity:
    return TdxModuleIdentity(ident, bytes(48), bytes(8), b"\xff" * 8, levels)


def info(*levels: TcbLevel, modules: tuple[TdxModuleIdentity, ...] = ()) -> TcbInfo:
    return TcbInfo(
        id="TDX",
        version=3,
        issue_date=D1,
        next_update=D1,
        fmspc=bytes(6),
        pce_id=bytes(2),
        tcb_type=0,
        tcb_evaluation_data_number=17,
        tdx_module=module(None),
        tdx_module_identities=modules,
        tcb_levels=levels,
    )


def qe(*levels: IsvTcbLevel) -> QeIdentity:
    return QeIdentity(
        id="TD_QE",
        version=2,
        issue_date=D1,
        next_update=D1,
        tcb_evaluation_data_number=17,
        miscselect=0,
        miscselect_mask=0xFFFFFFFF,
        attributes=bytes.fromhex("11000000000000000000000000000000"),
        attributes_mask=bytes.fromhex("fbffffffffffffff0000000000000000"),
        mrsigner=bytes(32),
        isvprodid=2,
        tcb_levels=levels or (IsvTcbLevel(4, D1, S.UpToDate),),
    )


def svn(*head: int) -> bytes:
    return bytes(head) + bytes(16 - len(head))


def test_module_id_names() -> None:
    assert module_id_for(svn(6, 1, 3)) == "TDX_01"
    assert module_id_for(svn(6, 0x0A, 3)) == "TDX_0A"
    assert module_id_for(svn(6, 0, 3)) is None


def test_select_module_identity_case_insensitive() -> None:
    tcb = info(level(), modules=(module("tdx_0a", IsvTcbLevel(1, D1, S.UpToDate)),))
    assert select_module_identity(tcb, svn(1, 0x0A)).id == "tdx_0a"


def test_select_tdx_module_for_version_zero() -> None:
    tcb = info(level())
    assert select_module_identity(tcb, svn(5, 0, 2)).id is None


def test_module_identity_checks() -> None:
    ident = TdxModuleIdentity("TDX_01", bytes(48), bytes(8), b"\xff" * 8)
    check_module_identity(ident, bytes(48), bytes(8))
    with pytest.raises(VerificationError) as info_:
        check_module_identity(ident, bytes(48), b"\x00\x01" + bytes(6))
    assert info_.value.code == "tdx_module_mismatch"


@pytest.mark.parametrize(
    ("attributes", "mask", "seam"),
    [
        # Intel's QVL (4.1.2.4.11.2) applies no mask: a set SEAM attribute never matches
        (bytes(8), bytes(8), b"\xff" * 8),
        (bytes(8), bytes.fromhex("feffffffffffffff"), b"\x01" + bytes(7)),
        # and identity attributes that are not zero match no quote, not even an equal one
        (b"\x01" + bytes(7), b"\xff" * 8, b"\x01" + bytes(7)),
        (b"\x01" + bytes(7), b"\xff" * 8, bytes(8)),
    ],
)
def test_seam_attributes_must_be_zero_and_equal_without_mask(
    attributes: bytes, mask: bytes, seam: bytes
) -> None:
    ident = TdxModuleIdentity("TDX_01", bytes(48), attributes, mask)
    with pytest.raises(VerificationError) as info_:
        check_module_identity(ident, bytes(48), seam)
    assert info_.value.code == "tdx_module_mismatch"


def test_platform_level_first_match_in_given_order() -> None:
    tcb = info(level(S.UpToDate, pcesvn=13), level(S.SWHardeningNeeded), level(S.OutOfDate, pcesvn=5))
    sgx_level, tdx_level = match_platform_level(tcb, PCK, 11, svn(6, 1, 3))
    assert tdx_level.tcb_status is S.SWHardeningNeeded
    assert sgx_level is tdx_level


def test_sgx_level_kept_separately() -> None:
    tcb = info(level(S.UpToDate, tdx=(0, 0, 9) + (0,) * 13), level(S.OutOfDate))
    sgx_level, tdx_level = match_platform_level(tcb, PCK, 11, svn(6, 1, 3))
    assert sgx_level.tcb_status is S.UpToDate
    assert tdx_level.tcb_status is S.OutOfDate


def test_skip_tdx_components_0_and_1_only_with_module_version() -> None:
    tcb = info(level(tdx=(9, 9, 2) + (0,) * 13))
    match_platform_level(tcb, PCK, 11, svn(6, 1, 3))
    with pytest.raises(VerificationError) as info_:
        match_platform_level(tcb, PCK, 11, svn(6, 0, 3))
    assert info_.value.code == "tcb_not_supported"


def test_isv_level_order() -> None:
    levels = (IsvTcbLevel(8, D1, S.UpToDate), IsvTcbLevel(4, D0, S.OutOfDate, ("SA-1",)))
    assert match_isv_level(levels, 9, "x").tcb_status is S.UpToDate
    assert match_isv_level(levels, 5, "x").tcb_status is S.OutOfDate
    with pytest.raises(VerificationError) as info_:
        match_isv_level(levels, 3, "x")
    assert info_.value.code == "tcb_not_supported"


@pytest.mark.parametrize(
    ("platform", "mod", "expected"),
    [
        (S.UpToDate, S.UpToDate, S.UpToDate),
        (S.UpToDate, S.OutOfDate, S.OutOfDate),
        (S.SWHardeningNeeded, S.OutOfDate, S.OutOfDate),
        (S.ConfigurationNeeded, S.OutOfDate, S.OutOfDateConfigurationNeeded),
        (S.ConfigurationAndSWHardeningNeeded, S.OutOfDate, S.OutOfDateConfigurationNeeded),
        (S.OutOfDate, S.OutOfDate, S.OutOfDate),
        (S.UpToDate, S.Revoked, S.Revoked),
    ],
)
def test_converge_module(platform: TcbStatus, mod: TcbStatus, expected: TcbStatus) -> None:
    assert converge_module(platform, mod) is expected


@pytest.mark.parametrize(
    ("tcb", "qe_status", "expected"),
    [
        (S.UpToDate, S.OutOfDate, S.OutOfDate),
        (S.SWHardeningNeeded, S.OutOfDate, S.OutOfDate),
        (S.ConfigurationAndSWHardeningNeeded, S.OutOfDate, S.OutOfDateConfigurationNeeded),
        (S.UpToDate, S.Revoked, S.Revoked),
        (S.UpToDate, S.NotSupported, S.NotSupported),
        (S.ConfigurationNeeded, S.UpToDate, S.ConfigurationNeeded),
        (S.OutOfDate, S.OutOfDate, S.OutOfDate),
    ],
)
def test_converge_qe(tcb: TcbStatus, qe_status: TcbStatus, expected: TcbStatus) -> None:
    assert converge_qe(tcb, qe_status) is expected


def relaunch_info() -> TcbInfo:
    return info(
        level(S.UpToDate),
        modules=(module("TDX_01", IsvTcbLevel(8, D1, S.UpToDate), IsvTcbLevel(5, D0, S.OutOfDate)),),
    )


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, S.TDRelaunchAdvised),
        ({"sgx_status": S.ConfigurationNeeded}, S.TDRelaunchAdvisedConfigurationNeeded),
        ({"tdx_status": S.OutOfDateConfigurationNeeded}, S.TDRelaunchAdvisedConfigurationNeeded),
        ({"qe_status": S.OutOfDate}, None),
        ({"sgx_status": S.OutOfDate}, None),
        ({"tdx_status": S.UpToDate}, None),
        ({"module_status": S.UpToDate}, None),
        ({"tee_tcb_svn2": svn(7, 1, 3)}, None),
        ({"tee_tcb_svn2": svn(8, 1, 1)}, None),
        ({"tee_tcb_svn2": svn(5, 0, 2)}, S.TDRelaunchAdvised),
        ({"tee_tcb_svn2": svn(4, 0, 2)}, None),
    ],
)
def test_relaunch_conditions(kwargs: dict[str, object], expected: TcbStatus | None) -> None:
    args: dict[str, object] = {
        "tcb_info": relaunch_info(),
        "tee_tcb_svn2": svn(8, 1, 3),
        "sgx_status": S.UpToDate,
        "tdx_status": S.OutOfDate,
        "module_status": S.OutOfDate,
        "qe_status": S.UpToDate,
    }
    args.update(kwargs)
    assert relaunch_status(**args) is expected  # type: ignore[arg-type]


RELAUNCH_ARGS: dict[str, object] = {
    "sgx_status": S.UpToDate,
    "tdx_status": S.OutOfDate,
    "module_status": S.OutOfDate,
    "qe_status": S.UpToDate,
}


@pytest.mark.parametrize("svn2", [svn(8, 3, 3), svn(8, 3, 1)])
def test_relaunch_without_identity_for_tee_tcb_svn2_module_fails(svn2: bytes) -> None:
    # Intel's QVL checkForRelaunch: STATUS_TDX_MODULE_MISMATCH (not "no advice"), looked up
    # before TEE_TCB_SVN_2[2] is compared
    with pytest.raises(VerificationError) as info_:
        relaunch_status(tcb_info=relaunch_info(), tee_tcb_svn2=svn2, **RELAUNCH_ARGS)  # type: ignore[arg-type]
    assert info_.value.code == "tdx_module_identity_not_found"
    assert info_.value.expected == "TDX_03"
    assert info_.value.actual == "TDX_01"


def test_relaunch_with_tee_tcb_svn2_module_without_levels_fails() -> None:
    tcb = info(
        level(S.UpToDate), modules=(module("TDX_01", IsvTcbLevel(5, D0, S.OutOfDate)), module("TDX_03"))
    )
    with pytest.raises(VerificationError) as info_:
        relaunch_status(tcb_info=tcb, tee_tcb_svn2=svn(8, 3, 3), **RELAUNCH_ARGS)  # type: ignore[arg-type]
    assert info_.value.code == "tcb_not_supported"


def test_evaluate_relaunch_without_identity_for_tee_tcb_svn2_module_fails() -> None:
    with pytest.raises(VerificationError) as info_:
        _evaluate(relaunch_info(), tee_tcb_svn2=svn(8, 3, 3))
    assert info_.value.code == "tdx_module_identity_not_found"


def _evaluate(
    tcb: TcbInfo, *, qe_level: IsvTcbLevel | None = None, tee_tcb_svn2: bytes | None = None
) -> TcbEvaluation:
    """A v4 quote's TCB evaluation, or a v5 one (TD report 1.5) when ``tee_tcb_svn2`` is given."""
    return evaluate_tcb(
        tcb_info=tcb,
        qe_identity=qe(qe_level or IsvTcbLevel(4, D1, S.UpToDate)),
        sgx_components=PCK,
        pcesvn=11,
        tee_tcb_svn=svn(6, 1, 3),
        tee_tcb_svn2=tee_tcb_svn2,
        body_type=2 if tee_tcb_svn2 is None else 3,
        quote_version=4 if tee_tcb_svn2 is None else 5,
        qe_isvsvn=7,
    )


@pytest.mark.parametrize(
    "status",
    [
        S.SWHardeningNeeded,
        S.ConfigurationNeeded,
        S.ConfigurationAndSWHardeningNeeded,
        S.OutOfDateConfigurationNeeded,
        S.TDRelaunchAdvised,
        S.TDRelaunchAdvisedConfigurationNeeded,
        S.NotSupported,
    ],
)
def test_module_level_status_outside_qvl_module_statuses_fails(status: TcbStatus) -> None:
    # Intel's QVL: VALID_MODULE_TCB_STATUSES = UpToDate, OutOfDate, Revoked; anything else is
    # STATUS_TCB_UNRECOGNIZED_STATUS (before: converged as if UpToDate, the platform's status)
    tcb = info(level(S.UpToDate), modules=(module("TDX_01", IsvTcbLevel(6, D1, status)),))
    with pytest.raises(VerificationError) as info_:
        _evaluate(tcb)
    assert info_.value.code == "tcb_status_unrecognized"
    assert info_.value.expected == ["OutOfDate", "Revoked", "UpToDate"]
    assert info_.value.actual == status.value


@pytest.mark.parametrize("status", [S.UpToDate, S.OutOfDate, S.Revoked])
def test_module_level_statuses_qvl_knows(status: TcbStatus) -> None:
    tcb = info(level(S.UpToDate), modules=(module("TDX_01", IsvTcbLevel(6, D1, status)),))
    result = _evaluate(tcb)
    assert result.module_status is status
    assert result.status is status


@pytest.mark.parametrize(
    "status", [S.TDRelaunchAdvised, S.TDRelaunchAdvisedConfigurationNeeded, S.NotSupported]
)
def test_platform_level_status_outside_qvl_tcb_info_statuses_fails(status: TcbStatus) -> None:
    tcb = info(level(status), modules=(module("TDX_01", IsvTcbLevel(6, D1, S.UpToDate)),))
    with pytest.raises(VerificationError) as info_:
        _evaluate(tcb)
    assert info_.value.code == "tcb_status_unrecognized"
    assert info_.value.actual == status.value


def test_unmatched_level_status_is_not_judged() -> None:
    # as QVL, only the matched levels' statuses are read
    tcb = info(
        level(S.UpToDate),
        level(S.NotSupported, pcesvn=5),
        modules=(module("TDX_01", IsvTcbLevel(6, D1, S.UpToDate), IsvTcbLevel(2, D0, S.NotSupported)),),
    )
    assert _evaluate(tcb).status is S.UpToDate


def test_evaluate_union_of_advisories_and_earliest_date() -> None:
    tcb = info(
        level(S.SWHardeningNeeded, advisories=("SA-1", "SA-2")),
        modules=(module("TDX_01", IsvTcbLevel(6, D0, S.UpToDate, ("SA-2", "SA-3"))),),
    )
    result = _evaluate(tcb, qe_level=IsvTcbLevel(4, D1, S.UpToDate, ("SA-4",)))
    assert result.status is S.SWHardeningNeeded
    assert result.advisory_ids == ("SA-1", "SA-2", "SA-3", "SA-4")
    assert result.tcb_date == D0
    assert result.module_identity_id == "TDX_01"


def test_evaluate_relaunch_not_overwritten_by_qe() -> None:
    # converging the QE status (UpToDate) onto the TCB status (OutOfDate) would give OutOfDate
    result = _evaluate(relaunch_info(), tee_tcb_svn2=svn(8, 1, 3))
    assert result.status is S.TDRelaunchAdvised
    assert result.relaunch_advised is True


def test_qe_identity_checks() -> None:
    identity = qe()
    good = {
        "misc_select": 0,
        "attributes": bytes.fromhex("15000000000000000700000000000000"),
        "mr_signer": bytes(32),
        "isv_prod_id": 2,
    }
    check_qe_identity(identity, **good)  # type: ignore[arg-type]
    for field, value, code in [
        ("misc_select", 1, "qe_miscselect_mismatch"),
        ("attributes", bytes(16), "qe_attributes_mismatch"),
        ("mr_signer", b"\x01" * 32, "qe_mrsigner_mismatch"),
        ("isv_prod_id", 1, "qe_isvprodid_mismatch"),
    ]:
        with pytest.raises(VerificationError) as info_:
            check_qe_identity(identity, **{**good, field: value})  # type: ignore[arg-type]
        assert info_.value.code == code


def test_qe_miscselect_is_read_in_report_byte_order() -> None:
    # the QE identity's hex "01000000" is the report's bytes 01 00 00 00: MISCSELECT 1
    from dataclasses import replace

    identity = replace(qe(), miscselect=1, miscselect_mask=0xFFFFFFFF)
    good = {
        "attributes": bytes.fromhex("15000000000000000700000000000000"),
        "mr_signer": bytes(32),
        "isv_prod_id": 2,
    }
    check_qe_identity(identity, misc_select=1, **good)  # type: ignore[arg-type]
    with pytest.raises(VerificationError) as info_:
        check_qe_identity(identity, misc_select=0x01000000, **good)  # type: ignore[arg-type]
    assert info_.value.code == "qe_miscselect_mismatch"
    assert info_.value.expected == bytes.fromhex("01000000")
    assert info_.value.actual == bytes.fromhex("00000001")


def test_qe_level_other_than_up_to_date_counts_as_out_of_date() -> None:
    result = _evaluate(
        info(level(S.UpToDate), modules=(module("TDX_01", IsvTcbLevel(6, D1, S.UpToDate)),)),
        qe_level=IsvTcbLevel(4, D1, S.SWHardeningNeeded),
    )
    assert result.qe_status is S.SWHardeningNeeded
    assert result.status is S.OutOfDate
