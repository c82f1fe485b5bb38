"""``ccverify verify QUOTE`` for Intel TDX: verify the quote, apply the policy, print the verdict.

Collateral: ``--collateral`` is a cache directory, an offline bundle, or a QuoteCollateralV3
JSON file. A cache directory is refreshed from Intel PCS for what it lacks (written back to it)
unless ``--offline``; files are used as they are. Without ``--collateral`` the collateral comes
from the user cache (``$XDG_CACHE_HOME/ccverify/collateral``, what ``collateral fetch`` fills)
and, for what it lacks and unless ``--offline``, from PCS (``CCVERIFY_PCS_URL`` overrides the
server).

The policy is the ``"tdx"`` object of ``--policy`` (default: TCB status UpToDate only, no DEBUG
TD, revocation checked). ``--trust-root`` replaces the pinned Intel SGX Root CA; the output
says which root was used and whether it is the production one.

Exit 0 verified and accepted; 1 verification failed or the policy refused (expired collateral
and revoked certificates included); 2 unreadable input; 3 collateral needed but unavailable.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ccverify.cli import _appraise
from ccverify.cli._common import VerifyOptions, about, guarded, pcs_client, read_file
from ccverify.cli._common import load_policy as load_policy_file
from ccverify.verifier.errors import CollateralError, InputError, PolicyError
from ccverify.verifier.evidence.tdx_quote import TdxQuote
from ccverify.verifier.jsonable import iso8601
from ccverify.verifier.tdx.collateral import TdxCollateral
from ccverify.verifier.tdx.validate import TdxPolicy
from ccverify.verifier.tdx.verify import TdxVerdict, verify_tdx


def load_policy(path: Path | None) -> TdxPolicy:
    """The ``"tdx"`` object of a policy file, or the default policy."""
    policy: TdxPolicy | None = load_policy_file(path, "tdx")
    return TdxPolicy() if policy is None else policy


def _trust_root(opts: VerifyOptions) -> bytes | None:
    if opts.trust_root is None:
        return None
    with about("--trust-root", opts.trust_root):
        from ccverify.verifier.x509load import certificate

        data = read_file(opts.trust_root, "--trust-root", "certificate")
        try:
            certificate(data)
        except Exception as error:  # what verify_tdx would refuse, named by the option here
            from ccverify.verifier.x509load import in_words

            raise InputError(f"not a PEM or DER X.509 certificate ({in_words(error)})") from None
        return data


def _collateral(opts: VerifyOptions, quote: TdxQuote, at: datetime) -> TdxCollateral:
    from ccverify.verifier.collateral.cache import CollateralCache, default_cache_dir
    from ccverify.verifier.collateral.tdx_loader import load_collateral

    path = opts.collateral
    if path is not None and not path.exists():
        raise InputError(f"--collateral {path}: no such directory or file")
    if path is None and opts.offline:
        path = default_cache_dir()  # the cache `collateral fetch` fills
        if not path.is_dir():
            raise CollateralError(
                f"--offline without --collateral: the default cache {path} does not exist "
                "(fill it with 'ccverify collateral fetch', or give --collateral)",
                missing="TDX collateral",
            )
    if path is not None and (path.is_file() or opts.offline):
        with about("--collateral", path):
            return load_collateral(path, allow_missing_crl=opts.allow_missing_crl)
    # the PCS client (requests) only here: a collateral file (the guest's example provider
    # writes one) is read without it
    from ccverify.verifier.collateral.pcs import gather_tdx_collateral

    cache = CollateralCache(path if path is not None else default_cache_dir())
    collateral, _entries = gather_tdx_collateral(
        quote, at=at, cache=cache, client=pcs_client(opts.pcs_url, opts.timeout), origin=f"cache {cache.directory}"
    )
    return dataclasses.replace(collateral, allow_missing_crl=True) if opts.allow_missing_crl else collateral


def verify_evidence(opts: VerifyOptions) -> tuple[TdxVerdict, TdxPolicy, PolicyError | None]:
    """The verdict under the policy, and the policy's refusal (None: accepted)."""
    policy = load_policy(opts.policy)
    quote = TdxQuote.from_bytes(opts.evidence)
    at = opts.at or datetime.now(UTC)
    collateral = _collateral(opts, quote, at)
    try:
        verdict = verify_tdx(quote, collateral, at=at, trust_root=_trust_root(opts), policy=policy)
    except PolicyError as refusal:
        if not isinstance(refusal.verdict, TdxVerdict):
            raise
        return refusal.verdict, policy, refusal
    return verdict, policy, None


def _rows(verdict: TdxVerdict) -> list[tuple[str, Any]]:
    body = verdict.quote.body
    coll = verdict.collateral

    def window(item: Any) -> str:
        return (
            "-"
            if item is None
            else f"{iso8601(item.issue_date)} .. {iso8601(item.next_update)} ({item.source})"
        )

    return [
        ("TCB status", verdict.status.value),
        (
            "platform / module / QE",
            f"{verdict.platform_status.value} / "
            f"{verdict.module_status.value if verdict.module_status else '-'} / {verdict.qe_status.value}",
        ),
        ("advisory IDs", list(verdict.advisory_ids)),
        ("TCB date", verdict.tcb_date),
        ("TCB evaluation data number", verdict.tcb_evaluation_data_number),
        ("FMSPC", verdict.fmspc),
        ("TDX module identity", verdict.tdx_module_identity or "tdxModule"),
        ("PCK CA", verdict.pck.ca),
        ("root", f"{verdict.root.subject} sha256 {verdict.root.sha256}"),
        ("production root", verdict.root.production),
        ("TCB info", window(coll.tcb_info)),
        ("QE identity", window(coll.qe_identity)),
        ("PCK CRL", window(coll.pck_crl)),
        ("root CA CRL", window(coll.root_ca_crl)),
        ("revocation checked", coll.revocation_checked),
        ("collateral valid until", verdict.earliest_next_update),
        ("quote version", verdict.quote.header.version),
        ("MRTD", body.mr_td),
        ("RTMR0", body.rtmrs[0]),
        ("RTMR1", body.rtmrs[1]),
        ("RTMR2", body.rtmrs[2]),
        ("RTMR3", body.rtmrs[3]),
        ("MRSEAM", body.mr_seam),
        ("TEE_TCB_SVN", body.tee_tcb_svn),
        ("TD attributes", body.td_attributes_flags),
        ("XFAM", body.xfam),
        ("REPORTDATA", body.report_data),
        ("verified at", verdict.at),
    ]


def run(opts: VerifyOptions) -> None:
    """Verify a TDX quote as ``opts`` says; print the verdict; exit 0 accepted, 1 refused."""
    verdict, policy, refusal = guarded(lambda: verify_evidence(opts), "verify" if opts.json else None)
    _appraise.conclude(opts, "tdx", verdict, policy, refusal, f"{opts.evidence_path} (TDX quote)", _rows(verdict))
