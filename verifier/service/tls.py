"""Optional mutual TLS for the admin API: uvicorn's HTTP protocol, telling the app whether the
client presented a certificate.

With ``[tls] client_ca`` the TLS layer asks every client for a certificate (``CERT_OPTIONAL``:
guests need none) and verifies a presented one against that CA; this protocol puts the verified
certificate (DER, or None) into each request's scope as ``extensions["tls"]["client_cert"]``
(uvicorn passes no TLS details to the app itself), and the admin API then requires one beside
the bearer token.
"""

from __future__ import annotations

from typing import Any

from ccverify.verifier.service.fasthttp import FastHttpProtocol


class ClientCertHttpProtocol(FastHttpProtocol):
    def on_message_begin(self) -> None:
        super().on_message_begin()
        ssl_object = self.transport.get_extra_info("ssl_object")
        cert = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        scope: Any = self.scope
        scope["extensions"] = {"tls": {"client_cert": cert}}
