"""``ccverify verify REPORT`` for SEV-SNP: verify the report, apply the policy, print the verdict.

Certificates come from ``--vcek``/``--vlek``/``--cert-chain``/``--cert-table``; a missing VCEK is
looked up in ``--collateral`` (a cache directory or an offline bundle; without it, the user's
cache ``$XDG_CACHE_HOME/ccverify/collateral``, as TDX's collateral) and then, unless
``--offline``, fetched from AMD KDS (and cached when ``--collateral`` is a directory; the
environment variable ``CCVERIFY_KDS_URL`` points the client at a KDS mirror). A verified report
needs its KDS CRL (``--crl``, the certificate table's, else from ``--collateral`` or AMD KDS, as
TDX's CRLs) unless ``--allow-missing-crl``: none to be had, exit 3 naming the KDS CRL URL; with
the option, the verdict records that no CRL was checked
and the default policy still refuses it (``revocation_not_checked``). The
policy is the ``"snp"`` object of ``--policy`` (default: revocation checked, DEBUG and CXL forbidden).
Exit 0 verified and accepted, 1 verification or policy failure, 2 bad input, 3 collateral missing.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ccverify.cli import _appraise
from ccverify.cli._common import VerifyOptions, announce, guarded
from ccverify.cli._common import load_policy as load_policy_file
from ccverify.verifier.errors import (
    CCVerifyError,
    CollateralError,
    InputError,
    ParseError,
    PolicyError,
    VerificationError,
)
from ccverify.verifier.jsonable import to_jsonable
from ccverify.verifier.snp.validate import SnpPolicy
from ccverify.verifier.snp.verify import (
    SnpCertificates,
    SnpVerdict,
    fetch_snp_certs,
    load_snp_certs,
    verify_snp,
)


def _client(opts: VerifyOptions) -> Any:
    from ccverify.verifier.collateral.bundle import CollateralBundle
    from ccverify.verifier.collateral.cache import CollateralCache, CollateralSource, default_cache_dir
    from ccverify.verifier.collateral.http import timeout_from
    from ccverify.verifier.collateral.kds import KDS_BASE_URL, KdsClient

    cache: CollateralCache | None = None
    sources: list[CollateralSource] = []
    if opts.collateral is not None:
        if opts.collateral.is_dir():
            cache = CollateralCache(opts.collateral)
        elif opts.collateral.is_file():
            sources.append(CollateralBundle.load(opts.collateral))
        else:
            raise InputError(f"--collateral {opts.collateral}: no such directory or bundle file")
    else:  # as TDX: the user's cache (what `collateral fetch` fills), read and, online, written
        cache = CollateralCache(default_cache_dir())
    base_url = os.environ.get("CCVERIFY_KDS_URL") or KDS_BASE_URL
    return KdsClient(
        base_url=base_url,
        cache=cache,
        sources=sources,
        offline=opts.offline,
        timeout=timeout_from(opts.timeout),
        on_retry=announce,
    )


def _certificates(opts: VerifyOptions) -> SnpCertificates:
    try:
        certs = load_snp_certs(
            vcek=opts.vcek, vlek=opts.vlek, chain=opts.cert_chain, table=opts.cert_table, crl=opts.crl
        )
    except CCVerifyError as error:
        _name_the_option(error, opts)
        raise
    if certs.vcek is None and certs.vlek is None:
        certs = fetch_snp_certs(opts.evidence, certs, _client(opts), at=opts.at, product=opts.product)
    return certs


#: how ``load_snp_certs`` names its sources, and the option each one was given as
_SOURCES = (
    ("vcek", "--vcek"),
    ("vlek", "--vlek"),
    ("chain", "--cert-chain"),
    ("crl", "--crl"),
    ("table", "--cert-table"),
    ("trust root", "--trust-root"),
)


def _name_the_option(error: CCVerifyError, opts: VerifyOptions) -> None:
    """Reword ``error`` to name the option its file was given as (``--cert-chain FILE``, not
    ``chain: FILE``); a certificate table that does not parse is ``--cert-table FILE: ...``."""
    text = str(error)
    for name, option in _SOURCES:
        path = getattr(opts, option[2:].replace("-", "_"))
        for said in (f"{name}: {path}", f"{name} {path}"):
            if path is not None and said in text and f"--{said}" not in text:
                error.args = (text.replace(said, f"{option} {path}", 1),)
                if isinstance(error, VerificationError):
                    error.detail = error.detail.replace(said, f"{option} {path}", 1)
                return
    if isinstance(error, ParseError) and error.structure.startswith("CertTable") and opts.cert_table is not None:
        error.args = (f"--cert-table {opts.cert_table}: {text}",)


def load_policy(path: Path | None) -> SnpPolicy:
    """The ``"snp"`` object of a policy file, or the default policy."""
    policy: SnpPolicy | None = load_policy_file(path, "snp")
    return SnpPolicy() if policy is None else policy


def verify_evidence(opts: VerifyOptions) -> tuple[SnpVerdict, SnpPolicy, PolicyError | None]:
    """The verdict under the policy, and the policy's refusal (None: accepted)."""
    policy = load_policy(opts.policy)
    certificates = _certificates(opts)
    try:
        verdict, refusal = _under_policy(opts, certificates, policy)
    except CCVerifyError as error:
        _name_the_option(error, opts)
        raise
    if not verdict.crl_checked and not opts.allow_missing_crl:
        # as TDX's CRLs: the KDS CRL of the chain that verified, from --collateral, then KDS
        try:
            crl = _client(opts).crl(verdict.product, verdict.key_type.value, at=verdict.at)
        except CollateralError as error:
            raise CollateralError(
                "no AMD KDS CRL given (--crl, or in a certificate table; --allow-missing-crl verifies "
                f"without revocation checks), and {error.detail}",
                missing=error.missing,
            ) from None
        certificates = certificates.with_(crl=crl, crl_source="kds")
        verdict, refusal = _under_policy(opts, certificates, policy)
    return verdict, policy, refusal


def _under_policy(
    opts: VerifyOptions, certificates: SnpCertificates, policy: SnpPolicy
) -> tuple[SnpVerdict, PolicyError | None]:
    """The verdict ``verify_snp`` reached under ``policy``, and the policy's refusal if any."""
    try:
        verdict = verify_snp(
            opts.evidence,
            certificates,
            at=opts.at,
            product=opts.product,
            trust_root=opts.trust_root,
            policy=policy,
        )
    except PolicyError as error:
        if not isinstance(error.verdict, SnpVerdict):
            raise
        return error.verdict, error
    return verdict, None


def _rows(verdict: SnpVerdict) -> list[tuple[str, Any]]:
    report = verdict.report
    tcb = verdict.tcb
    rows: list[tuple[str, Any]] = [
        ("product", f"{to_jsonable(verdict.product)} ({verdict.product_source})"),  # as the JSON spells it
        ("signing key", verdict.key_type.value),
        ("root", f"{verdict.root.subject} sha256 {verdict.root.sha256}"),
        ("production root", verdict.root.production),
        ("chip binding", verdict.chip_binding),
        ("csp_id", verdict.csp_id),
        ("reported TCB", _tcb(tcb.reported)),
        ("certificate TCB", _tcb(tcb.certificate)),
        ("current TCB", _tcb(tcb.current)),
        ("committed TCB", _tcb(tcb.committed)),
        ("launch TCB", _tcb(tcb.launch)),
        ("report version", report.version),
        ("firmware", "{}.{}.{}".format(*report.current_version)),
        ("measurement", report.measurement),
        ("report_data", report.report_data),
        ("host_data", report.host_data),
        ("guest policy", _policy(report.policy)),
        ("vmpl", report.vmpl),
        ("CRL checked", verdict.crl_checked),
        ("verified at", verdict.at),
    ]
    rows.extend(("note", note) for note in verdict.notes)
    return rows


def _tcb(parts: Any) -> str:
    """The TCB as ``show`` decodes it: the same names (``bl_spl=4 tee_spl=0 ...``)."""
    shown = to_jsonable(parts)
    return " ".join(f"{name}={value}" for name, value in shown.items() if value is not None)


def _policy(policy: Any) -> str:
    """The guest policy as ``show`` decodes it: raw, ABI, then the bits that are set."""
    shown = to_jsonable(policy)
    flags = [name for name, value in shown.items() if value is True]
    abi = f"abi {shown.get('abi_major')}.{shown.get('abi_minor')}"
    return f"0x{policy.raw:x} ({abi}; {', '.join(flags) or 'no bits set'})"


def run(opts: VerifyOptions) -> None:
    """Verify an SNP report as ``opts`` says; print the verdict; exit 0 accepted, 1 refused."""
    verdict, policy, refusal = guarded(lambda: verify_evidence(opts), "verify" if opts.json else None)
    _appraise.conclude(
        opts, "snp", verdict, policy, refusal, f"{opts.evidence_path} (SEV-SNP report)", _rows(verdict)
    )
