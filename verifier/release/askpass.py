"""A systemd password agent that answers systemd-cryptsetup with a released secret.

systemd's password-agent protocol (``docs/PASSWORD_AGENTS.md``): a program that needs a
password drops ``ask.<random>`` into ``/run/systemd/ask-password/``, an INI file whose
``[Ask]`` section has ``PID=``, ``Socket=`` (an ``AF_UNIX``/``SOCK_DGRAM`` socket), ``Message=``,
``Id=`` (systemd-cryptsetup: ``cryptsetup:<device>``), ``NotAfter=`` (``CLOCK_MONOTONIC``
microseconds, 0: none) and more keys to ignore. An agent skips a file whose ``PID`` is gone
(``kill(pid, 0)`` gives ``ESRCH``) or whose ``NotAfter`` has passed, and answers with one
datagram to ``Socket=``: ``"+" + password`` (or ``"-"`` to cancel), as
``systemd-reply-password`` sends it. The key goes over the socket, never into a file.

An ask is answered when it is for a configured volume (``[volumes.<name>]``): its ``Id`` is
``cryptsetup:<device>`` of the volume's ``device``, or its ``Message`` names the volume the way
systemd-cryptsetup words it: "Please enter passphrase for disk <friendly>:" (``!`` before
systemd 246), where <friendly> is the volume's name, ``<description> (<name>)``, ``<name> on
<mount point>`` or ``<description> (<name>) on <mount point>`` (Debian 12's systemd 252 asks
"Please enter passphrase for disk root:" for a crypttab ``root`` without description); and when
that volume's secret has been released. Anything else is left to other agents (the
console, Plymouth): this agent never cancels an ask. A secret with a NUL byte cannot be a
password (systemd splits the answer at NULs) and is refused.

The directory is polled (``interval``) rather than watched with inotify, which the standard
library does not offer; a boot asks a handful of times.
"""

from __future__ import annotations

import configparser
import errno
import os
import re
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ccverify.verifier.errors import CCVerifyError, InputError
from ccverify.verifier.release.guest_config import Volume
from ccverify.verifier.release.secrets import SecretStore

ASK_DIR = Path("/run/systemd/ask-password")
#: the largest ask file read (real ones are a few hundred bytes)
ASK_MAX = 64 * 1024


@dataclass(frozen=True)
class Ask:
    """A password request systemd left in its ask-password folder."""

    path: Path
    socket: str
    pid: int | None
    message: str
    id: str
    not_after: int  # CLOCK_MONOTONIC microseconds; 0: none


@dataclass(frozen=True)
class Answered:
    """A request answered: the volume it asked for and the name of the secret sent."""

    ask: str  # the ask file's name
    volume: str
    secret: str
    id: str


def read_ask(path: Path) -> Ask | None:
    """The ``[Ask]`` of ``path``; None for a file that is not a usable ask (gone, malformed)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(ASK_MAX + 1)
    except OSError:
        return None
    if len(data) > ASK_MAX:
        return None
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(data.decode("utf-8"))
    except (UnicodeDecodeError, configparser.Error):
        return None
    if not parser.has_section("Ask"):
        return None
    section = parser["Ask"]
    target = section.get("Socket", "").strip()
    if not target:
        return None
    try:
        pid = int(section.get("PID", "0").strip() or 0) or None
        not_after = int(section.get("NotAfter", "0").strip() or 0)
    except ValueError:
        return None
    return Ask(
        path=path,
        socket=target,
        pid=pid,
        message=section.get("Message", "").strip(),
        id=section.get("Id", "").strip(),
        not_after=not_after,
    )


def alive(pid: int | None) -> bool:
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def expired(ask: Ask, now_usec: int | None = None) -> bool:
    if ask.not_after == 0:
        return False
    now = now_usec if now_usec is not None else time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return now > ask.not_after


_FOR_DISK = re.compile(r"\bfor disk (?P<friendly>.+?)[:!]\s*\Z")
_NAMED = re.compile(r"\((?P<name>[^()\s]+)\)(?: on .+)?\Z")


def volume_named(message: str) -> str | None:
    """The volume name in systemd-cryptsetup's "Please enter passphrase for disk ...:"."""
    found = _FOR_DISK.search(message)
    if found is None:
        return None
    friendly = found.group("friendly")
    named = _NAMED.search(friendly)
    if named is not None:
        return named.group("name")
    name = friendly.split(" on ", 1)[0]
    return name if name and " " not in name else None


def volume_for(ask: Ask, volumes: Mapping[str, Volume]) -> Volume | None:
    """The configured volume ``ask`` is for, if any."""
    if not ask.id.startswith("cryptsetup:"):
        return None
    device = ask.id.removeprefix("cryptsetup:")
    for volume in volumes.values():
        if volume.device is not None and volume.device == device:
            return volume
    return volumes.get(volume_named(ask.message) or "")


def reply(socket_path: str, password: bytes) -> None:
    """One datagram ``+password`` to ``socket_path`` (systemd-reply-password's answer)."""
    if b"\0" in password:
        raise InputError("a secret with a NUL byte cannot be sent as a password (systemd splits at NUL)")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"+" + password, socket_path)


class Agent:
    """Answers the asks in ``directory`` for ``volumes`` from ``store``."""

    def __init__(
        self,
        store: SecretStore,
        volumes: Mapping[str, Volume],
        *,
        directory: Path = ASK_DIR,
        log: Callable[[str], None] = lambda _line: None,
    ) -> None:
        self.store = store
        self.volumes = volumes
        self.directory = Path(directory)
        self.log = log
        self.answered: dict[str, Answered] = {}  # by ask file name

    def pending(self) -> list[Ask]:
        try:
            names = sorted(n for n in os.listdir(self.directory) if n.startswith("ask."))
        except FileNotFoundError:
            return []
        except OSError as error:
            raise InputError(f"{self.directory}: {error.strerror or error}") from None
        asks = []
        for name in names:
            if name in self.answered:
                continue
            ask = read_ask(self.directory / name)
            if ask is not None:
                asks.append(ask)
        return asks

    def answer_pending(self) -> list[Answered]:
        """Answer every pending ask this agent can; the answers given."""
        given: list[Answered] = []
        for ask in self.pending():
            volume = volume_for(ask, self.volumes)
            if volume is None or not alive(ask.pid) or expired(ask):
                continue
            try:
                secret = self.store.read(volume.secret)
            except CCVerifyError:
                continue  # not released: another agent may ask a person
            try:
                reply(ask.socket, secret)
            except InputError as error:
                self.log(f"{ask.path.name} ({volume.name}): {error}")
                continue
            except OSError as error:
                if error.errno in (errno.ENOENT, errno.ECONNREFUSED):
                    continue  # the asker went away meanwhile
                raise InputError(f"{ask.socket}: {error.strerror or error}") from None
            done = Answered(ask.path.name, volume.name, volume.secret, ask.id)
            self.answered[ask.path.name] = done
            given.append(done)
            self.log(f"answered {ask.id} ({volume.name}) with released secret {volume.secret!r}")
        return given

    def run(
        self,
        *,
        once: bool,
        interval: float = 0.2,
        until: Callable[[], bool] = lambda: False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> list[Answered]:
        """``once``: answer what is pending and return. Otherwise keep answering until every
        configured volume has been answered or ``until()`` says stop (a signal ends it too)."""
        given = self.answer_pending()
        if once:
            return given
        while not until():
            answered_volumes = {a.volume for a in self.answered.values()}
            if self.volumes and answered_volumes >= set(self.volumes):
                break
            sleep(interval)
            given += self.answer_pending()
        return given
