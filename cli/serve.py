"""``ccverify serve``: the relying-party service (FastAPI on uvicorn; the ``service`` extra).

``--init DIR`` writes a working configuration (``DIR/config.toml``, fresh keys, a self-signed
TLS certificate, the admin token in ``DIR/admin-token``) and exits; without it the service runs
from ``--config``. ``--port``, ``--workers``, ``--host`` and ``--database`` go into the
configuration with ``--init`` and override it when serving.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from ccverify.cli._common import fail, guarded, stdout
from ccverify.verifier.errors import InputError

_INIT = "Options of --init"


def serve(
    config: Annotated[Path | None, typer.Option(help="Configuration file (default: ./config.toml).")] = None,
    init: Annotated[
        Path | None,
        typer.Option(
            "--init", help="Write a working configuration into this folder, then exit.", rich_help_panel=_INIT
        ),
    ] = None,
    trust_root: Annotated[
        list[Path] | None,
        typer.Option(
            help="Evidence root to trust INSTEAD of the pinned production roots (test/example PKIs; repeatable).",
            rich_help_panel=_INIT,
        ),
    ] = None,
    trust_anchor: Annotated[
        list[Path] | None,
        typer.Option(
            help="Reference-value / device-policy signer (PEM key or certificate; repeatable).",
            rich_help_panel=_INIT,
        ),
    ] = None,
    collateral: Annotated[
        list[Path] | None,
        typer.Option(
            help="TDX collateral (QuoteCollateralV3 JSON or offline bundle) used before the cache and PCS (repeatable).",
            rich_help_panel=_INIT,
        ),
    ] = None,
    verification_time: Annotated[
        str | None,
        typer.Option(
            help="Verify evidence at this fixed time (ISO 8601): recorded samples only, never in production.",
            rich_help_panel=_INIT,
        ),
    ] = None,
    no_tls: Annotated[
        bool,
        typer.Option(
            "--no-tls", help="Plain HTTP (loopback demos and benchmarks only).", rich_help_panel=_INIT
        ),
    ] = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="Never fetch collateral from Intel PCS.", rich_help_panel=_INIT)
    ] = False,
    host: Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default 8443).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default 1).")] = None,
    database: Annotated[
        str | None,
        typer.Option(
            help="SQLAlchemy URL: sqlite:///FILE (default, in the config folder) or postgresql://... for replicas."
        ),
    ] = None,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json", help="With --init: print the envelope (schema cli/schemas/serve-init.schema.json)."
        ),
    ] = False,
) -> None:
    """Run the relying-party service (challenge, attest, EAR JWT, HPKE-sealed release)."""
    if init is not None:
        _init(init, trust_root or [], trust_anchor or [], collateral or [], verification_time, not no_tls, not offline,
              host, port, workers, database, json_out)  # fmt: skip
        return
    if trust_root or trust_anchor or collateral or verification_time or no_tls or offline:
        fail(
            InputError(
                "--trust-root, --trust-anchor, --collateral, --verification-time, --no-tls and --offline go with --init"
            )
        )
    path = config or Path("config.toml")
    overrides = {
        k: v
        for k, v in {"host": host, "port": port, "workers": workers, "database": database}.items()
        if v is not None
    }
    loaded = guarded(lambda: _load(path, overrides))
    guarded(lambda: _run(path, loaded, overrides))


def _init(
    directory: Path, roots: list[Path], anchors: list[Path], collateral: list[Path], at: str | None, tls: bool,
    online: bool, host: str | None, port: int | None, workers: int | None, database: str | None, json_out: bool,
) -> None:  # fmt: skip
    from ccverify.cli.envelope import emit_envelope

    def run() -> Any:
        from ccverify.verifier.service.init import initialize
        from ccverify.verifier.timeutil import parse_time

        return initialize(
            directory, roots=roots, anchors=anchors, collateral=collateral, host=host or "127.0.0.1",
            port=port or 8443, workers=workers or 1, database=database, tls=tls,
            verification_time=None if at is None else parse_time(at, "--verification-time"), online=online,
        )  # fmt: skip

    if json_out:
        try:
            done = run()
        except Exception as error:
            from ccverify.verifier.errors import exit_code

            code = exit_code(error)
            emit_envelope("serve", error=error, exit_code=code)
            raise SystemExit(code) from None
        emit_envelope("serve", result={"directory": str(done.directory), "config": str(done.config),
                                       "admin_token_file": str(done.admin_token_file), "url": done.url,
                                       "files": list(done.files)})  # fmt: skip
        return
    done = guarded(run)
    stdout.print(f"wrote {done.config} (admin token in {done.admin_token_file}, mode 0600)", highlight=False)
    stdout.print(
        f"start it with: ccverify serve --config {done.config}    # listens on {done.url}", highlight=False
    )


def _load(path: Path, overrides: dict[str, Any]) -> Any:
    try:
        from ccverify.verifier.service.config import load_config
    except ImportError as error:  # pragma: no cover - the extra is missing
        raise InputError(
            f"ccverify serve needs the service extra: pip install 'ccverify[service]' ({error})"
        ) from None
    return apply_overrides(load_config(path), overrides)


def apply_overrides(config: Any, overrides: dict[str, Any]) -> Any:
    from ccverify.verifier.service.config import parse_database

    if "database" in overrides:
        overrides = {**overrides, "database": parse_database(overrides["database"], Path.cwd())}
    return config.with_(**overrides)


def _run(path: Path, config: Any, overrides: dict[str, Any]) -> None:
    try:
        import uvicorn
    except ImportError as error:
        raise InputError(
            f"ccverify serve needs the service extra: pip install 'ccverify[service]' ({error})"
        ) from None
    options: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "log_level": "info",
        "access_log": config.access_log,
        "proxy_headers": True,
        "forwarded_allow_ips": ",".join(config.trusted_proxies),
        "timeout_keep_alive": 5,
        "server_header": False,
        "limit_concurrency": 1024,
        "backlog": 2048,
        # httptools, the guest endpoints answered in the protocol (verifier/service/fasthttp.py)
        "http": "ccverify.verifier.service.fasthttp:FastHttpProtocol",
    }
    from ccverify.verifier.service import fasthttp

    if not fasthttp.COMPATIBLE:
        import logging

        logging.getLogger("ccverify.service").warning(
            "uvicorn %s's HTTP protocol is not the one ccverify's fast path was built on: every "
            "request takes the ASGI path (slower, same answers)",
            getattr(uvicorn, "__version__", "?"),
        )
    if config.tls_cert is not None:
        options.update(ssl_certfile=str(config.tls_cert), ssl_keyfile=str(config.tls_key))
    if config.tls_client_ca is not None:
        import ssl

        # every client is asked, none must answer (guests have no certificate); the admin API
        # requires one (verifier/service/tls.py)
        options.update(
            ssl_ca_certs=str(config.tls_client_ca),
            ssl_cert_reqs=ssl.CERT_OPTIONAL,
            http="ccverify.verifier.service.tls:ClientCertHttpProtocol",
        )
    if config.workers > 1:
        import tempfile

        os.environ["_CCVERIFY_SERVE_CONFIG"] = str(path.resolve())
        os.environ["_CCVERIFY_SERVE_OVERRIDES"] = json.dumps(overrides)
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="ccverify-metrics-")
        uvicorn.run(
            "ccverify.verifier.service.app:from_environment", factory=True, workers=config.workers, **options
        )
        return
    from ccverify.verifier.service.app import guarded_app

    uvicorn.run(guarded_app(config), **options)
