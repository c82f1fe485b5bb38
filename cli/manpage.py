"""``cli/man/ccverify.1``: the manual page, generated from the command tree's help.

Every command and option of ``app`` (``cli/app.py``) is written from its help, so the page says
what ``--help`` says; a test holds the shipped file to a fresh generation. After changing a
command or an option, regenerate it with one command (from the source tree):

    .venv/bin/python -m ccverify.cli.manpage

(``--check`` exits 1 and says so when the shipped page differs, without writing it.)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

#: where the page ships (package data of ``ccverify.cli``)
MAN_PAGE = Path(__file__).resolve().parent / "man" / "ccverify.1"

#: the environment the commands read, and what for (the README's "Environment" section says more)
ENVIRONMENT = (
    ("CCVERIFY_PCS_URL", "Intel PCS or PCCS base URL for TDX collateral (verify --pcs-url, collateral fetch --pcs-url)."),
    ("CCVERIFY_PCS_API_KEY", "API key sent to Intel PCS (Ocp-Apim-Subscription-Key)."),
    ("CCVERIFY_KDS_URL", "AMD KDS base URL (or a mirror) for SNP certificates and CRLs (verify)."),
    ("CCVERIFY_NET_TIMEOUT", "Seconds a PCS or KDS request may take (default 5; --timeout wins)."),
    ("XDG_CACHE_HOME", "The collateral cache is $XDG_CACHE_HOME/ccverify/collateral (default ~/.cache/ccverify/collateral)."),
    ("CCVERIFY_DEBUG", "Set to 1: an error also prints its Python traceback."),
    ("CCVERIFY_NO_PREFETCH", "Set to 1: measure does not hash its input files in a background thread."),
)  # fmt: skip

EXIT_STATUS = (
    ("0", "Verified and accepted (or the command did what it was asked)."),
    ("1", "Verification failed, the policy refused, or the attestation result is not affirming."),
    ("2", "Bad input or usage: an unreadable file, a malformed structure, an option that does not apply."),
    ("3", "Collateral or network unavailable."),
    ("130", "Interrupted (Ctrl-C)."),
)


def _escape(text: str) -> str:
    """Text for a roff line: backslashes and hyphens escaped, no line starting as a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(("\\&" + line) if line[:1] in (".", "'") else line for line in text.splitlines())


def _paragraphs(text: str | None) -> list[str]:
    """Help text as paragraphs of one line each (typer's markup and the \\b marker removed)."""
    if not text:
        return []
    text = re.sub(r"\[/?(?:bold|red|green|cyan|dim|italic)[^\]]*\]", "", text)
    out = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [line.strip() for line in block.splitlines() if line.strip() != "\b"]
        if lines:
            out.append(" ".join(lines))
    return out


def _commands(command: Any, path: list[str]) -> list[tuple[list[str], Any]]:
    """(words, command) for every command under ``command``, groups first, by name."""
    found: list[tuple[list[str], Any]] = []
    for name in sorted(getattr(command, "commands", {})):
        sub = command.commands[name]
        if getattr(sub, "hidden", False):
            continue
        found.append(([*path, name], sub))
        found.extend(_commands(sub, [*path, name]))
    return found


def _usage(words: list[str], command: Any) -> str:
    parts = [f"\\fBccverify {_escape(' '.join(words))}\\fR"]
    if getattr(command, "commands", None):
        parts.append("\\fICOMMAND\\fR")
        return " ".join(parts)
    for param in command.params:
        if param.param_type_name != "argument":
            continue
        name = _escape(param.metavar or (param.name or "").upper())
        parts.append(f"\\fI{name}\\fR" if param.required else f"[\\fI{name}\\fR]")
    if any(p.param_type_name == "option" for p in command.params):
        parts.append("[\\fIOPTIONS\\fR]")
    return " ".join(parts)


def _option(param: Any) -> list[str]:
    """``.TP``, the option's names and value, then its help (with required/default)."""
    names = ", ".join(f"\\fB{_escape(name)}\\fR" for name in [*param.opts, *param.secondary_opts])
    if param.param_type_name == "argument":
        names = f"\\fI{_escape(param.metavar or (param.name or '').upper())}\\fR"
    elif not param.is_flag:
        names += f" \\fI{_escape(param.metavar or 'VALUE')}\\fR"
    text = " ".join(_paragraphs(param.help))
    extra = []
    if param.required and param.param_type_name == "option":
        extra.append("required")
    if getattr(param, "multiple", False):
        extra.append("repeatable")
    default = param.default
    if param.param_type_name == "option" and not param.is_flag and default not in (None, (), [], False):
        extra.append(f"default: {default}")
    if extra:
        text = f"{text} [{'; '.join(extra)}]" if text else f"[{'; '.join(extra)}]"
    return [".TP", names, _escape(text) if text else ""]


def render(root: Any | None = None) -> str:
    """The whole page, from ``root`` (default: ``app``'s click tree)."""
    if root is None:
        import typer.main

        from ccverify.cli.app import app

        root = typer.main.get_command(app)
    out = [
        '.\\" Generated by python -m ccverify.cli.manpage from the command tree; do not edit.',
        '.TH CCVERIFY 1 "" "ccverify" "User Commands"',
        ".SH NAME",
        "ccverify \\- verify confidential\\-VM evidence (Intel TDX, AMD SEV\\-SNP) and boot configuration",
        ".SH SYNOPSIS",
        "\\fBccverify\\fR \\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fIARGUMENTS\\fR]",
        ".br",
        "\\fBccverify\\fR \\fB\\-\\-version\\fR | \\fB\\-h\\fR | \\fB\\-\\-help\\fR",
        ".SH DESCRIPTION",
    ]
    for paragraph in _paragraphs(root.help):
        out += [_escape(paragraph), ".PP"]
    out += [
        "Every command takes \\fB\\-h\\fR/\\fB\\-\\-help\\fR. Errors are one line on standard error, "
        "\\fBerror (\\fR\\fIkind\\fR\\fB):\\fR then the message; with \\fB\\-\\-json\\fR, standard output "
        "is one JSON envelope (ccverify, command, ok, exit_code, result, error) on success and on failure. "
        "Into a pipe or a file, tables are plain lines (field: value, or tab\\-separated columns).",
        ".SH COMMANDS",
    ]
    for words, command in _commands(root, []):
        out += [".SS " + '"' + f"ccverify {_escape(' '.join(words))}" + '"', _usage(words, command), ".PP"]
        for paragraph in _paragraphs(command.help):
            out += [_escape(paragraph), ".PP"]
        params = [
            p
            for p in command.params
            if not getattr(p, "hidden", False) and "--help" not in getattr(p, "opts", [])
        ]
        if params and not getattr(command, "commands", None):
            out.append(".RS")
            for param in params:
                out += [line for line in _option(param) if line != ""]
            out.append(".RE")
    out.append(".SH EXIT STATUS")
    for code, meaning in EXIT_STATUS:
        out += [".TP", f"\\fB{code}\\fR", _escape(meaning)]
    out.append(".SH ENVIRONMENT")
    for name, meaning in ENVIRONMENT:
        out += [".TP", f"\\fB{name}\\fR", _escape(meaning)]
    out += [
        ".SH FILES",
        ".TP",
        "\\fI~/.cache/ccverify/collateral\\fR",
        "The collateral cache (see XDG_CACHE_HOME).",
        ".SH SEE ALSO",
        "The README of ccverify: the envelope, the policy file, reference values.",
    ]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    page = render()
    if args == ["--check"]:
        current = MAN_PAGE.read_text() if MAN_PAGE.exists() else ""
        if current != page:
            sys.stderr.write(f"{MAN_PAGE} is out of date: run python -m ccverify.cli.manpage\n")
            return 1
        return 0
    if args:
        sys.stderr.write("usage: python -m ccverify.cli.manpage [--check]\n")
        return 2
    MAN_PAGE.parent.mkdir(exist_ok=True)
    MAN_PAGE.write_text(page)
    sys.stdout.write(f"wrote {MAN_PAGE}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
