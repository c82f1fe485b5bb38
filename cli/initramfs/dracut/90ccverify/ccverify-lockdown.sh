#!/bin/sh
# ccverify stage 1 (dracut pre-trigger hook: before udev's coldplug): device lockdown.
type die >/dev/null 2>&1 || . /lib/dracut-lib.sh
mkdir -p /run/ccverify
if ! /usr/bin/ccverify guest lockdown --config /etc/ccverify/guest.toml; then
    echo "lockdown failed" >/run/ccverify/failed
    die "ccverify: stage 1 device lockdown FAILED: not booting"
fi
