"""configfs-tsm in a real kernel without a TSM provider (issue #17): what Linux 6.12 answers, and
what ``ccverify guest evidence --evidence-provider configfs`` says about it.

Debian's 6.12 has ``CONFIG_TSM_REPORTS=m`` (``tsm.ko``); in a VM without TDX or SEV-SNP no
provider (``tdx_guest``, ``sev_guest``) registers. Two states are checked in one boot: before
the module is loaded there is no ``tsm/report`` folder in configfs; after ``modprobe tsm`` the
folder exists and a report entry can be made, but the kernel refuses the request (reading
``outblob`` fails) because no provider answers. ccverify words both as one clear line, exit 2.
"""

from __future__ import annotations

import pytest

from tests.vm.harness import Harness

pytestmark = pytest.mark.vm

SCRIPT = r"""
mountpoint -q /sys/kernel/config || mount -t configfs configfs /sys/kernel/config
"$CCVERIFY" guest evidence --evidence-provider configfs -o ev1 > before.out 2> before.err; echo $? > before.rc
modprobe tsm; echo $? > modprobe.rc
ls /sys/kernel/config/tsm/report > ls.txt 2>&1
mkdir /sys/kernel/config/tsm/report/probe && printf 0123456789 > /sys/kernel/config/tsm/report/probe/inblob
cat /sys/kernel/config/tsm/report/probe/provider > provider.txt 2>&1; echo $? > provider.rc
cat /sys/kernel/config/tsm/report/probe/outblob > /dev/null 2> outblob.err; echo $? > outblob.rc
rmdir /sys/kernel/config/tsm/report/probe
"$CCVERIFY" guest evidence --evidence-provider configfs -o ev2 > after.out 2> after.err; echo $? > after.rc
"""


def test_configfs_tsm_without_a_provider(vm: Harness, ccverify: str) -> None:
    result = vm.boot(SCRIPT, devices=(), env={"CCVERIFY": ccverify}, timeout=180)
    share = result.share

    def read(name: str) -> str:
        return (share / name).read_text().strip()

    print(f"configfs-tsm boot: {result.seconds:.1f} s; without tsm.ko: {read('before.err')!r}; "
          f"provider read: rc {read('provider.rc')} {read('provider.txt')!r}; outblob read: rc "
          f"{read('outblob.rc')} {read('outblob.err')!r}; ccverify: {read('after.err')!r}")  # fmt: skip
    assert result.exit_code == 0, result.console
    # without the module: no tsm folder in configfs
    assert read("before.rc") == "2", read("before.err")
    assert "configfs-tsm" in read("before.err") and "Traceback" not in read("before.err")
    # with it: the folder, but the kernel refuses to produce a report
    assert read("modprobe.rc") == "0"
    assert read("outblob.rc") != "0", read("outblob.err")
    assert read("after.rc") in ("1", "2"), read("after.err")
    assert "Traceback" not in read("after.err") and read("after.err").count("\n") == 0, read("after.err")
