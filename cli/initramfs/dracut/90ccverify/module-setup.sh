#!/bin/bash
# ccverify dracut module (installed by `ccverify guest install-hook --dracut`).
# Stage 1 `guest lockdown` before udev's coldplug, stage 2 `guest authorize` after the network
# and before cryptsetup; with systemd in the initramfs as units (ccverify-*.service), without it
# as dracut hooks (pre-trigger, initqueue/online, pre-pivot).

# filled in by install-hook
CCVERIFY_PYTHON="@PYTHON@"
CCVERIFY_CONFIG="@CONFIG@"
CCVERIFY_LIB="@LIB@"

# called by dracut
check() {
    # installed on purpose (install-hook): included whenever the configuration is there
    [[ -r $CCVERIFY_CONFIG ]] || return 1
    require_binaries "$CCVERIFY_PYTHON" || return 1
    return 0
}

# called by dracut
depends() {
    # the network for the relying party, crypt for the volumes it unlocks
    echo network crypt
    return 0
}

# called by dracut
install() {
    local staging kind source destination f
    staging=$(mktemp -d "${TMPDIR:-/var/tmp}/ccverify-dracut.XXXXXX") || return 1
    if ! "$CCVERIFY_PYTHON" -I -m ccverify.cli.hook_payload --list "$staging/root" --config "$CCVERIFY_CONFIG" >"$staging/list"; then
        derror "ccverify: computing the guest payload with $CCVERIFY_PYTHON failed"
        rm -rf "$staging"
        return 1
    fi
    while IFS=$'\t' read -r kind source destination; do
        case "$kind" in
            exec) inst_binary "$source" "$destination" || { rm -rf "$staging"; return 1; } ;;
            file) inst_simple "$source" "$destination" || { rm -rf "$staging"; return 1; } ;;
        esac
    done <"$staging/list"
    rm -rf "$staging"

    # the configuration's folder (trust anchors, policies, reference values it names)
    for f in "${CCVERIFY_CONFIG%/*}"/*; do
        [[ -f $f ]] && inst_simple "$f" "/etc/ccverify/${f##*/}"
    done
    inst_simple "$CCVERIFY_CONFIG" /etc/ccverify/guest.toml
    inst_multiple modprobe
    inst_simple "$CCVERIFY_LIB/finish" /usr/lib/ccverify/finish

    if dracut_module_included "systemd"; then
        local unit
        for unit in ccverify-lockdown.service ccverify-authorize.service ccverify-askpass.service ccverify-finish.service; do
            inst_simple "$moddir/$unit" "$systemdsystemunitdir/$unit"
        done
        $SYSTEMCTL -q --root "$initdir" enable ccverify-lockdown.service ccverify-authorize.service \
            ccverify-askpass.service ccverify-finish.service
    else
        inst_hook pre-trigger 10 "$moddir/ccverify-lockdown.sh"
        inst_hook initqueue/online 10 "$moddir/ccverify-authorize.sh"
        inst_hook pre-pivot 90 "$moddir/ccverify-finish.sh"
    fi
    # remote mode: the relying party is reached over the network
    echo "rd.neednet=1" >"${initdir}/etc/cmdline.d/90ccverify.conf"
}
