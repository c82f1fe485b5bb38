"""TCB evaluation of a TDX quote: module identity, level matching, status convergence, relaunch.

Implements the format notes (``notes/tdx.md``) §2 steps 8, 11 and 13-17 (Intel QVL semantics):

- step 8: the TDX module identity is ``tcbInfo.tdxModule``, or ``TDX_%02X`` of TEE_TCB_SVN[1]
  when that is non-zero; MRSIGNERSEAM must equal its mrsigner, and SEAMATTRIBUTES must be all
  zero and equal its attributes (as Intel's QVL: no mask).
- step 11: the QE report against the QE identity (miscselect and attributes under their
  masks, mrsigner, isvprodid), then its TCB level by ISVSVN.
- step 13: the first platform level (in Intel's QVL order: descending by SGX components, then
  PCESVN, then TDX components, however the JSON lists them; ``parse_tcb_info`` sorts) whose 16 SGX components
  and PCESVN are <= the PCK certificate's and whose 16 TDX components are <= TEE_TCB_SVN,
  skipping TDX components 0 and 1 when TEE_TCB_SVN[1] > 0. The first level passing the SGX
  part alone is kept as the SGX level (used by the relaunch check).
- step 14: the module's TCB level (TEE_TCB_SVN[0] >= isvsvn; levels by ISVSVN, descending, as
  QVL orders them), converged with the platform's.
  A matched level whose status such a level cannot have (a module level other than UpToDate,
  OutOfDate, Revoked; a platform level TDRelaunchAdvised* or NotSupported) raises
  ``tcb_status_unrecognized``, as Intel's QVL refuses it.
- step 15: TD relaunch advice for v5 quotes with a TD report 1.5 (TEE_TCB_SVN_2); when the
  advice would be judged by TEE_TCB_SVN_2's module and the TCB info has no identity for it,
  ``tdx_module_identity_not_found`` (no TCB level for it: ``tcb_not_supported``), as QVL.
- step 16: convergence with the QE's status (without overwriting a relaunch result).
- step 17: advisories are the union of the matched platform, module and QE levels.

No matching level anywhere raises ``VerificationError("tcb_not_supported")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ccverify.verifier.errors import Code, VerificationError
from ccverify.verifier.tdx.collateral import (
    IsvTcbLevel,
    QeIdentity,
    TcbInfo,
    TcbLevel,
    TcbStatus,
    TdxModuleIdentity,
)

__all__ = [
    "MODULE_LEVEL_STATUSES",
    "PLATFORM_LEVEL_STATUSES",
    "TcbEvaluation",
    "TcbStatus",
    "check_level_status",
    "check_module_identity",
    "check_qe_identity",
    "converge_module",
    "converge_qe",
    "evaluate_tcb",
    "masked",
    "match_isv_level",
    "match_platform_level",
    "module_id_for",
    "relaunch_status",
    "select_module_identity",
]

S = TcbStatus
_CONFIG = frozenset({S.ConfigurationNeeded, S.ConfigurationAndSWHardeningNeeded})
_OK_OR_HARDENING = frozenset({S.UpToDate, S.SWHardeningNeeded})

#: the statuses a matched platform level / module level may carry (Intel's QVL, TcbStatus.h:
#: VALID_TCB_INFO_STATUSES / VALID_MODULE_TCB_STATUSES); QVL answers any other one with
#: STATUS_TCB_UNRECOGNIZED_STATUS, so it must not reach convergence, where an unknown module
#: status would leave the platform's status standing
PLATFORM_LEVEL_STATUSES = frozenset(
    _OK_OR_HARDENING | _CONFIG | {S.OutOfDate, S.OutOfDateConfigurationNeeded, S.Revoked}
)
MODULE_LEVEL_STATUSES = frozenset({S.UpToDate, S.OutOfDate, S.Revoked})


@dataclass(frozen=True)
class TcbEvaluation:
    """Everything TCB evaluation found; ``status`` is the final, converged status."""

    status: TcbStatus
    platform_status: TcbStatus  # the matched platform level's status (SGX + TDX components)
    sgx_status: TcbStatus  # the first level passing the SGX components alone
    module_status: TcbStatus | None  # None when the module is judged by the platform level
    qe_status: TcbStatus
    platform_level: TcbLevel
    module_identity_id: str | None
    module_level: IsvTcbLevel | None
    qe_level: IsvTcbLevel
    advisory_ids: tuple[str, ...]
    tcb_date: datetime
    relaunch_advised: bool


def module_id_for(tee_tcb_svn: bytes) -> str | None:
    """``TDX_%02X`` of the module major version, or None for version 0 (``tdxModule``)."""
    return None if tee_tcb_svn[1] == 0 else f"TDX_{tee_tcb_svn[1]:02X}"


def select_module_identity(
    tcb_info: TcbInfo, tee_tcb_svn: bytes, field: str = "TEE_TCB_SVN"
) -> TdxModuleIdentity:
    """Step 8: the module identity that judges this quote's TDX module (``field``: which SVN
    names it, for the message; step 15 asks for TEE_TCB_SVN_2's)."""
    ident = module_id_for(tee_tcb_svn)
    if ident is None:
        if tcb_info.tdx_module is None:
            raise VerificationError(
                Code.TDX_MODULE_IDENTITY_NOT_FOUND,
                "the TCB info has no tdxModule for a module of major version 0",
            )
        return tcb_info.tdx_module
    module = tcb_info.module_identity(ident)
    if module is None:
        known = [m.id for m in tcb_info.tdx_module_identities]
        raise VerificationError(
            Code.TDX_MODULE_IDENTITY_NOT_FOUND,
            f"the TCB info has no TDX module identity {ident} ({field}[1] = {tee_tcb_svn[1]})",
            expected=ident,
            actual=", ".join(str(k) for k in known) or "none",
        )
    return module


def masked(value: bytes, mask: bytes) -> bytes:
    """``value & mask`` byte by byte (equal lengths, else ``ValueError``)."""
    return bytes(a & m for a, m in zip(value, mask, strict=True))


def check_module_identity(module: TdxModuleIdentity, mr_signer_seam: bytes, seam_attributes: bytes) -> None:
    """Step 8: MRSIGNERSEAM equal to the identity's mrsigner; SEAMATTRIBUTES all zero and equal
    to the identity's attributes (its attributesMask is not applied)."""
    name = module.id or "tdxModule"
    if mr_signer_seam != module.mrsigner:
        raise VerificationError(
            Code.TDX_MODULE_MISMATCH,
            f"MRSIGNERSEAM does not match the TCB info's {name} mrsigner",
            expected=module.mrsigner,
            actual=mr_signer_seam,
        )
    # Why not "SEAMATTRIBUTES & attributesMask == attributes": Intel's QVL (QuoteVerifier.cpp,
    # 4.1.2.4.11.2) answers STATUS_TDX_MODULE_MISMATCH unless every byte of the quote's
    # SEAMATTRIBUTES is 0 and equal to the identity's attributes, and it does not apply the
    # mask: a set SEAM attribute, even one a mask would hide, is a module the TCB info does not
    # vouch for. A masked comparison would accept quotes Intel's verifier refuses.
    if any(module.attributes):
        raise VerificationError(
            Code.TDX_MODULE_MISMATCH,
            f"the TCB info's {name} attributes are not all zero, so no SEAMATTRIBUTES can match "
            "them (Intel's QVL requires both to be zero)",
            expected=bytes(len(module.attributes)),
            actual=module.attributes,
        )
    if seam_attributes != module.attributes:
        raise VerificationError(
            Code.TDX_MODULE_MISMATCH,
            f"SEAMATTRIBUTES must be all zero, as the TCB info's {name} attributes are "
            "(attributesMask is not applied)",
            expected=module.attributes,
            actual=seam_attributes,
        )


def match_platform_level(
    tcb_info: TcbInfo, sgx_components: tuple[int, ...], pcesvn: int, tee_tcb_svn: bytes
) -> tuple[TcbLevel, TcbLevel]:
    """Step 13: (SGX level, SGX+TDX level) in Intel's order; ``tcb_not_supported`` if none."""
    skip = 2 if tee_tcb_svn[1] > 0 else 0
    sgx_level: TcbLevel | None = None
    for level in tcb_info.tcb_levels:
        if pcesvn < level.pcesvn or any(
            have < need for have, need in zip(sgx_components, level.sgx_components, strict=True)
        ):
            continue
        if sgx_level is None:
            sgx_level = level
        if all(tee_tcb_svn[i] >= level.tdx_components[i] for i in range(skip, 16)):
            return sgx_level, level
    if sgx_level is None:
        raise VerificationError(
            Code.TCB_NOT_SUPPORTED,
            "no TCB level of the TCB info matches the PCK certificate's SGX components and PCESVN "
            f"({list(sgx_components)}, PCESVN {pcesvn}); the platform's TCB is not supported",
        )
    raise VerificationError(
        Code.TCB_NOT_SUPPORTED,
        "no TCB level of the TCB info matches the quote's TEE_TCB_SVN "
        f"{tee_tcb_svn.hex()} (SGX components matched level {sgx_level.tcb_date.date()}); "
        "the platform's TCB is not supported",
    )


def match_isv_level(levels: tuple[IsvTcbLevel, ...], isvsvn: int, what: str) -> IsvTcbLevel:
    """The first level (descending order as given) with ``isvsvn <= ours``."""
    for level in levels:
        if isvsvn >= level.isvsvn:
            return level
    lowest = min((level.isvsvn for level in levels), default=None)
    raise VerificationError(
        Code.TCB_NOT_SUPPORTED,
        f"no TCB level of the {what} matches ISVSVN {isvsvn}",
        expected=f">= {lowest}" if lowest is not None else "a TCB level",
        actual=isvsvn,
    )


def check_qe_identity(
    qe: QeIdentity, *, misc_select: int, attributes: bytes, mr_signer: bytes, isv_prod_id: int
) -> None:
    """Step 11: the QE report is from the quoting enclave the QE identity describes."""
    if misc_select & qe.miscselect_mask != qe.miscselect:
        # shown as the QE identity writes them: the 4 bytes in report (little-endian) order
        raise VerificationError(
            Code.QE_MISCSELECT_MISMATCH,
            "QE report MISCSELECT (under miscselectMask) does not match the QE identity",
            expected=qe.miscselect.to_bytes(4, "little"),
            actual=(misc_select & qe.miscselect_mask).to_bytes(4, "little"),
        )
    attributes_masked = masked(attributes, qe.attributes_mask)
    if attributes_masked != qe.attributes:
        raise VerificationError(
            Code.QE_ATTRIBUTES_MISMATCH,
            "QE report ATTRIBUTES (under attributesMask) do not match the QE identity",
            expected=qe.attributes,
            actual=attributes_masked,
        )
    if mr_signer != qe.mrsigner:
        raise VerificationError(
            Code.QE_MRSIGNER_MISMATCH,
            "QE report MRSIGNER is not the QE identity's",
            expected=qe.mrsigner,
            actual=mr_signer,
        )
    if isv_prod_id != qe.isvprodid:
        raise VerificationError(
            Code.QE_ISVPRODID_MISMATCH,
            "QE report ISVPRODID is not the QE identity's",
            expected=qe.isvprodid,
            actual=isv_prod_id,
        )


def _made_out_of_date(status: TcbStatus) -> TcbStatus:
    """``status`` when a component it depends on is OutOfDate (steps 14 and 16)."""
    if status in _OK_OR_HARDENING:
        return S.OutOfDate
    if status in _CONFIG:
        return S.OutOfDateConfigurationNeeded
    return status


def converge_module(platform: TcbStatus, module: TcbStatus) -> TcbStatus:
    """Step 14: the platform status adjusted by the module's."""
    if module is S.Revoked:
        return S.Revoked
    if module is S.OutOfDate:
        return _made_out_of_date(platform)
    return platform


def converge_qe(tcb: TcbStatus, qe: TcbStatus) -> TcbStatus:
    """Step 16: the TCB status adjusted by the QE's."""
    if qe is S.OutOfDate:
        return _made_out_of_date(tcb)
    if qe is S.Revoked:
        return S.Revoked
    if qe is S.NotSupported:
        return S.NotSupported
    return tcb


def relaunch_status(
    *,
    tcb_info: TcbInfo,
    tee_tcb_svn2: bytes,
    sgx_status: TcbStatus,
    tdx_status: TcbStatus,
    module_status: TcbStatus | None,
    qe_status: TcbStatus,
) -> TcbStatus | None:
    """Step 15: ``TDRelaunchAdvised[ConfigurationNeeded]`` when a relaunch would reach the latest TCB."""
    if qe_status in (S.OutOfDate, S.Revoked, S.NotSupported):
        return None
    if sgx_status not in (_OK_OR_HARDENING | _CONFIG):
        return None
    if tdx_status not in (S.OutOfDate, S.OutOfDateConfigurationNeeded):
        return None
    if module_status is not S.OutOfDate:
        return None
    latest = tcb_info.tcb_levels[0]
    if tee_tcb_svn2[1] == 0:
        reachable = tee_tcb_svn2[0] >= latest.tdx_components[0]
    else:
        # Intel's QVL (checkForRelaunch) refuses the quote here rather than just withholding
        # the advice: a module version the TCB info has no identity (or no TCB level) for
        # cannot be judged, so "relaunch and you are up to date" cannot be said either
        module = select_module_identity(tcb_info, tee_tcb_svn2, "TEE_TCB_SVN_2")
        if not module.tcb_levels:
            raise VerificationError(
                Code.TCB_NOT_SUPPORTED,
                f"the TCB info's TDX module identity {module.id} (TEE_TCB_SVN_2's module) has no TCB level",
            )
        reachable = tee_tcb_svn2[0] >= module.tcb_levels[0].isvsvn
    if not reachable or tee_tcb_svn2[2] < latest.tdx_components[2]:
        return None
    configuration = sgx_status in _CONFIG or tdx_status is S.OutOfDateConfigurationNeeded
    return S.TDRelaunchAdvisedConfigurationNeeded if configuration else S.TDRelaunchAdvised


def check_level_status(status: TcbStatus, allowed: frozenset[TcbStatus], what: str) -> None:
    """``tcb_status_unrecognized`` unless a matched level's status is one ``allowed`` there."""
    if status not in allowed:
        raise VerificationError(
            Code.TCB_STATUS_UNRECOGNIZED,
            f"{what} has TCB status {status.value}, which such a level cannot have "
            "(Intel's QVL: unrecognized TCB status)",
            expected=sorted(s.value for s in allowed),
            actual=status.value,
        )


def _union(*groups: tuple[str, ...]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for group in groups:
        for ident in group:
            seen.setdefault(ident, None)
    return tuple(seen)


def evaluate_tcb(
    *,
    tcb_info: TcbInfo,
    qe_identity: QeIdentity,
    sgx_components: tuple[int, ...],
    pcesvn: int,
    tee_tcb_svn: bytes,
    tee_tcb_svn2: bytes | None,
    body_type: int,
    quote_version: int,
    qe_isvsvn: int,
) -> TcbEvaluation:
    """Steps 11 (QE TCB), 13-17: the converged TCB status of a quote whose signatures verified."""
    qe_level = match_isv_level(qe_identity.tcb_levels, qe_isvsvn, "QE identity")
    sgx_level, level = match_platform_level(tcb_info, sgx_components, pcesvn, tee_tcb_svn)
    check_level_status(
        sgx_level.tcb_status, PLATFORM_LEVEL_STATUSES, "the TCB level matched by SGX components"
    )
    check_level_status(level.tcb_status, PLATFORM_LEVEL_STATUSES, "the matched TCB level")
    status = level.tcb_status
    module_level: IsvTcbLevel | None = None
    module_id = module_id_for(tee_tcb_svn)
    if module_id is not None:
        module = tcb_info.module_identity(module_id)
        if module is None:  # checked by select_module_identity already; kept for direct callers
            raise VerificationError(Code.TDX_MODULE_IDENTITY_NOT_FOUND, f"no TDX module identity {module_id}")
        module_level = match_isv_level(module.tcb_levels, tee_tcb_svn[0], f"TDX module identity {module_id}")
        check_level_status(
            module_level.tcb_status, MODULE_LEVEL_STATUSES, f"the matched TCB level of TDX module {module_id}"
        )
        status = converge_module(status, module_level.tcb_status)
    # QVL judges the QE as OK, revoked or out of date: any other level status counts as out of date
    qe_status = qe_level.tcb_status if qe_level.tcb_status in (S.UpToDate, S.Revoked) else S.OutOfDate
    relaunch: TcbStatus | None = None
    if quote_version >= 5 and body_type == 3 and tee_tcb_svn2 is not None:
        relaunch = relaunch_status(
            tcb_info=tcb_info,
            tee_tcb_svn2=tee_tcb_svn2,
            sgx_status=sgx_level.tcb_status,
            tdx_status=status,
            module_status=module_level.tcb_status if module_level else None,
            qe_status=qe_status,
        )
    final = relaunch if relaunch is not None else converge_qe(status, qe_status)
    advisories = _union(
        level.advisory_ids, module_level.advisory_ids if module_level else (), qe_level.advisory_ids
    )
    return TcbEvaluation(
        status=final,
        platform_status=level.tcb_status,
        sgx_status=sgx_level.tcb_status,
        module_status=module_level.tcb_status if module_level else None,
        qe_status=qe_level.tcb_status,
        platform_level=level,
        module_identity_id=module_id,
        module_level=module_level,
        qe_level=qe_level,
        advisory_ids=advisories,
        tcb_date=min(level.tcb_date, qe_level.tcb_date, *((module_level.tcb_date,) if module_level else ())),
        relaunch_advised=relaunch is not None,
    )
