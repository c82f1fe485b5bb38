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
    lenient = TdxModuleIdentity("TDX_01", bytes(48), bytes(8), bytes(8))
    check_module_identity(lenient, bytes(48), b"\xff" * 8)  # masked out entirely
    with pytest.raises(VerificationError) as info_:
        check_module_identity(ident, bytes(48), b"\x00\x01" + bytes(6))
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
        ({"tee_tcb_svn2": svn(8, 3, 3)}, None),
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


def test_evaluate_union_of_advisories_and_earliest_date() -> None:
    tcb = info(
        level(S.SWHardeningNeeded, advisories=("SA-1", "SA-2")),
        modules=(module("TDX_01", IsvTcbLevel(6, D0, S.UpToDate, ("SA-2", "SA-3"))),),
    )
    result = evaluate_tcb(
        tcb_info=tcb,
        qe_identity=qe(IsvTcbLevel(4, D1, S.UpToDate, ("SA-4",))),
        sgx_components=PCK,
        pcesvn=11,
        tee_tcb_svn=svn(6, 1, 3),
        tee_tcb_svn2=None,
        body_type=2,
        quote_version=4,
        qe_isvsvn=7,
    )
    assert result.status is S.SWHardeningNeeded
    assert result.advisory_ids == ("SA-1", "SA-2", "SA-3", "SA-4")
    assert result.tcb_date == D0
    assert result.module_identity_id == "TDX_01"


def test_evaluate_relaunch_not_overwritten_by_qe() -> None:
    result = evaluate_tcb(
        tcb_info=relaunch_info(),
        # converging the QE status (UpToDate) onto the TCB status (OutOfDate) would give OutOfDate
        qe_identity=qe(IsvTcbLevel(4, D1, S.UpToDate)),
        sgx_components=PCK,
        pcesvn=11,
        tee_tcb_svn=svn(6, 1, 3),
        tee_tcb_svn2=svn(8, 1, 3),
        body_type=3,
        quote_version=5,
        qe_isvsvn=7,
    )
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


def test_qe_level_other_than_up_to_date_counts_as_out_of_date() -> None:
    result = evaluate_tcb(
        tcb_info=info(level(S.UpToDate), modules=(module("TDX_01", IsvTcbLevel(6, D1, S.UpToDate)),)),
        qe_identity=qe(IsvTcbLevel(4, D1, S.SWHardeningNeeded)),
        sgx_components=PCK,
        pcesvn=11,
        tee_tcb_svn=svn(6, 1, 3),
        tee_tcb_svn2=None,
        body_type=2,
        quote_version=4,
        qe_isvsvn=7,
    )
    assert result.qe_status is S.SWHardeningNeeded
    assert result.status is S.OutOfDate
