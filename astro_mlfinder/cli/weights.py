"""``astro-mlfinder weights``: list, fetch or verify trained weights."""

from ._common import _progress, _quiet_options, _say

__all__ = []


def _cmd_weights(args):
    from ..neural import weights

    if args.action == "list":
        for entry in weights.list_weights():
            files = entry["files"]
            digest = files[0]["sha256"][:16] if len(files) == 1 else f"{len(files)} files"
            print(f"{entry['name']:<12} {entry.get('version', ''):<8} {entry['size']:>10d} B  {digest}"
                  f"{'  cached' if entry['cached'] else ''}")
    elif args.action == "fetch":
        if not args.name:
            raise ValueError("weights fetch needs a model name, e.g. 'astro-mlfinder weights fetch unet3d'")
        for path in weights.fetch_all(args.name, progress=_progress(args)).values():
            _say(args, path)
    else:
        names = [args.name] if args.name else [e["name"] for e in weights.list_weights()]
        for name in names:
            try:
                bad = weights.corrupted_files(name, remove=True)
            except FileNotFoundError:
                if args.name:
                    raise
                _say(args, f"{name}: not cached (fetch with 'astro-mlfinder weights fetch {name}')")
                continue
            if bad:
                files = ", ".join(str(path) for path in bad)
                raise ValueError(f"{name}: the cached file(s) {files} do not match their registered sha256 "
                                 f"and were removed; fetch them again with 'astro-mlfinder weights fetch {name}'")
            _say(args, f"{name}: sha256 OK")
    return 0


def add_parser(sub):
    """Add the ``weights`` command to the sub-parsers ``sub``."""
    p = sub.add_parser("weights", help="list, fetch or verify trained weights")
    p.add_argument("action", choices=("list", "fetch", "verify"),
                   help="list the registered weights, fetch NAME into the cache, or verify the cached files")
    p.add_argument("name", nargs="?", help="model name (fetch: required; verify: default all)")
    _quiet_options(p)
    p.set_defaults(func=_cmd_weights)
    return p
