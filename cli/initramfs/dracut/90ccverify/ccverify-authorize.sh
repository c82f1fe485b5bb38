#!/bin/sh
# ccverify stage 2 (dracut initqueue/online hook, sourced once per interface that comes online):
# attestation and device authorization, once; on failure nothing beyond bootstrap binds and no
# secret is released. Sourced: no `exit` here (it would end the caller).
type warn >/dev/null 2>&1 || . /lib/dracut-lib.sh
mkdir -p /run/ccverify
if [ ! -e /run/ccverify/authorized ] && [ ! -e /run/ccverify/failed ]; then
    if /usr/bin/ccverify guest authorize --config /etc/ccverify/guest.toml; then
        : >/run/ccverify/authorized
    else
        echo "authorize exit $?" >/run/ccverify/failed
        warn "ccverify: stage 2 attestation/authorization FAILED: devices beyond bootstrap stay unbound, encrypted volumes stay locked"
    fi
fi
