"""The guest's evidence providers, for ``guest authorize`` and ``guest evidence``: no typer here
(the console entry's guest fast path, ``cli/guest_run.py``, runs this at every boot).

``make_provider`` turns the ``--evidence-provider`` choice into a provider (see
``cli/guest_evidence.py`` for the choices); ``ExampleEvidenceProvider`` is the ``example`` one:
quotes minted by the project's example PKI, loudly not hardware, verifiable only where
``EXAMPLE-ROOT-NOT-TRUSTED-intel.pem`` is named explicitly. It lives in the CLI because
production layers never import ``verifier.testing``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ccverify.cli._common import stderr

if TYPE_CHECKING:
    from ccverify.verifier.release.guest import EvidenceProvider, GuestEvidence

EVIDENCE_PROVIDERS = ("auto", "configfs", "sev-guest", "example")
NOT_HARDWARE = (
    "NOT HARDWARE EVIDENCE: --evidence-provider example minted this quote with ccverify's example PKI "
    "(EXAMPLE-ROOT-NOT-TRUSTED-intel.pem) and supplies the sample's event log; it proves nothing about "
    "this machine and verifies only where that example root is named explicitly"
)


class ExampleEvidenceProvider:
    """Example evidence for any REPORT_DATA, without a TEE (tests, demos). Not hardware."""

    name = "example"

    def __init__(self, *, now: datetime, warn: bool = True) -> None:
        self.now = now
        self.warn = warn

    def get(self, report_data: bytes) -> GuestEvidence:
        from ccverify.cli.example_evidence import from_preminted
        from ccverify.verifier.release.guest import GuestEvidence, require_report_data

        data = require_report_data(report_data)
        if self.warn:
            stderr.print(f"warning: {NOT_HARDWARE}", highlight=False, markup=False)
        # the initramfs's pre-minted template (cli/example_evidence.py), else minted here
        preminted = from_preminted(data, self.now)
        if preminted is not None:
            quote, collateral, event_log = preminted
        else:
            from ccverify.verifier.testing.sample import mint_tdx_quote, sample_tdx_event_log

            quote, collateral = mint_tdx_quote(data, now=self.now)
            event_log = sample_tdx_event_log()
        return GuestEvidence(
            tee="tdx",
            evidence=quote,
            aux_blob=None,
            event_log=event_log,
            provider_name="example (ccverify example PKI; NOT hardware)",
            report_data=data,
            hardware=False,
            collateral=collateral,
        )


def make_provider(
    choice: str,
    *,
    now: datetime,
    configfs_root: Path | None = None,
    sysfs_root: Path | None = None,
    dev_root: Path | None = None,
) -> EvidenceProvider:
    """The provider ``--evidence-provider`` names (``EVIDENCE_PROVIDERS``)."""
    from ccverify.verifier.errors import InputError
    from ccverify.verifier.release import guest

    configfs = configfs_root or guest.CONFIGFS_ROOT
    sysfs = sysfs_root or guest.SYSFS_ROOT
    dev = dev_root or guest.DEV_ROOT
    if choice == "example":
        return ExampleEvidenceProvider(now=now)
    if choice == "configfs":
        return guest.ConfigfsTsmProvider(configfs, sysfs_root=sysfs)
    if choice == "sev-guest":
        from ccverify.verifier.release.sev_guest import SevGuestProvider  # (ctypes: only for it)

        return SevGuestProvider(dev / "sev-guest")
    if choice == "auto":
        return guest.default_provider(configfs_root=configfs, dev_root=dev, sysfs_root=sysfs)
    raise InputError(f"--evidence-provider: one of {', '.join(EVIDENCE_PROVIDERS)}, got {choice!r}")
