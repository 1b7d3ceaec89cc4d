"""`dr-audit`: the command line. Each subcommand lives in auditor/commands/."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Sequence

from drguard import __version__
from drguard.errors import ConfigError
from drguard.redact import forget

from .commands import COMMANDS
from .terminal import EscapingFormatter, shown

log = logging.getLogger("auditor")

EXIT_USAGE = 2


def _command_in(argv: Sequence[str]) -> str | None:
    """The subcommand `argv` names (its first word that is not an option), if a known one."""
    for word in argv:
        if word == "--":
            return None
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given `argv` that names a command, only that command's module is imported
    (the others get an empty parser: argparse never reads them), so a start pays for one
    command's imports, not all of them; `argv` naming none and asking no help imports none."""
    selected = _command_in(argv) if argv is not None else None
    # no command named and no help asked (`--version`, a usage error): no command is read
    bare = argv is not None and selected is None and not any(
        w in ("-h", "--help") for w in argv)
    parser = argparse.ArgumentParser(
        prog="dr-audit",
        description="Disaster-recovery compliance for AWS managed by Pulumi.")
    parser.add_argument("--version", action="version", version=f"dr-audit {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more logging on stderr (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        if bare or (selected is not None and name != selected):
            sub.add_parser(name)
            continue
        module = COMMANDS[name]
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        # also after the command (`dr-audit state -v ...`), where CI wrappers append options
        p.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                       help="more logging on stderr (-vv for debug)")
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # the command's imports make many objects and no garbage worth a collection: the cyclic
    # collector would only rescan the new modules' objects, over and over (~7% of the imports)
    collecting = gc.isenabled()
    gc.disable()
    try:
        parser = build_parser(argv)
    finally:
        if collecting:
            gc.enable()
    args = parser.parse_args(argv)  # exits 2 on usage errors, as argparse does
    level = logging.WARNING - 10 * min(args.verbose, 2)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(EscapingFormatter("dr-audit: %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    if level < logging.INFO:
        # the AWS SDK's own debug lines are the wire: request headers with the session token,
        # STS answers with secret keys. -vv is the product's debug, not the SDK's.
        for name in ("botocore", "boto3", "urllib3", "s3transfer"):
            logging.getLogger(name).setLevel(logging.INFO)
    forget()  # secrets met by an earlier run in this process are not this run's
    from .commands.common import check_output_dir  # the commands' shared part, once one runs

    try:
        # Before any AWS call or file read: an unusable --output-dir is a usage error.
        check_output_dir(getattr(args, "output_dir", None))
        return int(args._run(args))
    except ConfigError as e:
        # a name read from a hostile file may hold control characters or a lone surrogate
        print(f"dr-audit: error: {shown(str(e))}", file=sys.stderr)
        return EXIT_USAGE
