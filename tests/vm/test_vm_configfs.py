"""configfs-tsm in a real kernel without a TSM provider (issue #17): what Linux 6.12 answers, and
what ``ccverify guest evidence --evidence-provider configfs`` says about it.

Debian's 6.12 has ``CONFIG_TSM_REPORTS=m`` (``tsm.ko``); in a VM without TDX or SEV-SNP no
provider (``tdx_guest``, ``sev_guest``) registers. Two states are checked in one boot: before
the module is loaded there is no ``tsm/report`` folder in configfs; after ``modprobe tsm`` the
folder exists but the kernel refuses to create a report entry (``mkdir``: ENXIO, "No such
device or address") because no provider registered. ccverify words both as one clear line,
exit 2.
"""

from __future__ import annotations

import pytest

from tests.vm.harness import Harness

pytestmark = pytest.mark.vm

SCRIPT = r"""
modprobe configfs  # a module on Debian's 6.12: /sys/kernel/config appears with it
mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config
"$CCVERIFY" guest evidence --evidence-provider configfs -o ev1 > before.out 2> before.err; echo $? > before.rc
modprobe tsm; echo $? > modprobe.rc
{ grep configfs /proc/mounts; ls /sys/kernel/config /sys/kernel/config/tsm; grep -w tsm /proc/modules; } \
  > ls.txt 2>&1
mkdir /sys/kernel/config/tsm/report/probe 2> mkdir.err; echo $? > mkdir.rc
"$CCVERIFY" guest evidence --evidence-provider configfs -o ev2 > after.out 2> after.err; echo $? > after.rc
"""


def test_configfs_tsm_without_a_provider(vm: Harness, ccverify: str) -> None:
    result = vm.boot(SCRIPT, devices=(), env={"CCVERIFY": ccverify}, timeout=180)
    share = result.share

    def read(name: str) -> str:
        return (share / name).read_text().strip()

    print(f"configfs-tsm boot: {result.seconds:.1f} s; without tsm.ko: {read('before.err')!r}; "
          f"with it, mkdir: rc {read('mkdir.rc')} {read('mkdir.err')!r}; "
          f"ccverify: {read('after.err')!r}")  # fmt: skip
    assert result.exit_code == 0, result.console
    # without the module: no tsm folder in configfs
    assert read("before.rc") == "2", read("before.err")
    assert "configfs-tsm" in read("before.err") and "Traceback" not in read("before.err")
    # with it: the folder, but the kernel refuses to make a report entry
    assert read("modprobe.rc") == "0"
    assert "report" in read("ls.txt")
    assert read("mkdir.rc") != "0" and "No such device or address" in read("mkdir.err")  # ENXIO
    assert read("after.rc") == "2", read("after.err")
    assert "no TSM provider is registered" in read("after.err"), read("after.err")
    assert "Traceback" not in read("after.err") and read("after.err").count("\n") == 0, read("after.err")
