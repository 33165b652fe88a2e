"""The ``astro-mlfinder`` command line.

One module per command (`find`, `demo`, `simulate`, `train`, `evaluate`,
`weights`), each with an ``add_parser(sub)`` that declares its options and
its ``_cmd_*`` function; this module assembles the parser and turns user
mistakes into a one-line error and a non-zero exit status.
"""

import argparse
import sys

from . import demo, evaluate, find, simulate, train, weights

__all__ = ["main", "build_parser"]

_USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, TypeError, ImportError, KeyError, OSError)


#: The commands, in the order ``--help`` lists them.
_COMMANDS = (find, demo, simulate, train, evaluate, weights)


def build_parser():
    """Build the argparse parser of ``astro-mlfinder``."""
    parser = argparse.ArgumentParser(
        prog="astro-mlfinder",
        description="Find sources in HI cubes with classical and neural finders. Start with "
                    "'astro-mlfinder demo'; 'astro-mlfinder COMMAND --help' describes each command.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                help="find, demo, simulate, train, evaluate or weights (COMMAND --help for each)")
    for command in _COMMANDS:
        command.add_parser(sub)
    debug_help = "show the full traceback of an error instead of a one-line message"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    for subparser in sub.choices.values():  # also after the command: astro-mlfinder find x.fits --debug
        subparser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help)
    return parser


def main(argv=None):
    """Entry point; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except _USER_ERRORS as exc:
        if getattr(args, "debug", False):
            raise
        message = str(exc).replace("pass overwrite=True", "use --overwrite")
        print(f"astro-mlfinder: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # pragma: no cover
        print("astro-mlfinder: interrupted", file=sys.stderr)
        return 130

