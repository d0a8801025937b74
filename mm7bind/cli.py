"""The `mm7bind` command."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__, versions
from .envelope import Envelope, decode
from .errors import DecodeError, ValidationError
from .jsonable import to_jsonable

EXIT_OK, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    return Path(path).read_bytes()


def cmd_versions(args: argparse.Namespace) -> int:
    rows = versions.all_versions()
    if args.json:
        print(json.dumps([
            {"name": v.name, "namespace": v.namespace, "mm7_versions": list(v.mm7_versions), "origin": v.origin}
            for v in rows
        ], indent=2))
        return EXIT_OK
    width = max(len(v.name) for v in rows)
    for v in rows:
        print(f"{v.name:<{width}}  {v.namespace}  {', '.join(v.mm7_versions)}  ({v.origin})")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    worst = EXIT_OK
    for path in args.paths:
        try:
            data = _read(path)
        except OSError as exc:
            print(f"{path}: unreadable: {exc.strerror or exc}")
            worst = max(worst, EXIT_UNREADABLE)
            continue
        try:
            env = decode(data, strict=not args.lenient)
        except ValidationError as exc:
            print(f"{path}: INVALID")
            for d in exc.deviations:
                print(f"  {d}")
            worst = max(worst, EXIT_INVALID)
            continue
        except DecodeError as exc:
            print(f"{path}: unreadable: {exc}")
            worst = max(worst, EXIT_UNREADABLE)
            continue
        kind = "Fault" if env.is_fault else env.body.ELEMENT
        if env.deviations:
            print(f"{path}: accepted with {len(env.deviations)} deviation(s) ({kind}, {env.version})")
            for d in env.deviations:
                print(f"  {d}")
        else:
            print(f"{path}: valid ({kind}, {env.version})")
    return worst


def describe(env: Envelope) -> dict:
    body = env.body
    return {
        "version": env.version.name if env.version else None,
        "namespace": env.version.namespace if env.version else None,
        "message_type": "Fault" if env.is_fault else body.ELEMENT,
        "transaction_id": env.transaction_id,
        "mm7_version": getattr(body.detail, "mm7_version", None) if env.is_fault else body.mm7_version,
        "encoding": env.encoding,
        "fields": to_jsonable(body),
        "deviations": [{"code": d.code, "path": d.path, "message": d.message} for d in env.deviations],
    }


def cmd_inspect(args: argparse.Namespace) -> int:
    try:
        data = _read(args.path)
    except OSError as exc:
        print(f"{args.path}: unreadable: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    try:
        env = decode(data)
    except DecodeError as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}, ensure_ascii=False, indent=2))
        return EXIT_UNREADABLE
    print(json.dumps(describe(env), ensure_ascii=False, indent=2))
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run  # noqa: PLC0415

    return run(out=sys.stdout)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mm7bind", description="MM7 (3GPP TS 23.140) toolkit for VASPs")
    parser.add_argument("--version", action="version", version=f"mm7bind {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("versions", help="list the MM7 schema versions")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_versions)

    p = sub.add_parser("validate", help="check messages against their schema version")
    p.add_argument("paths", nargs="+", metavar="PATH", help="SOAP XML files ('-' for stdin)")
    p.add_argument("--lenient", action="store_true", help="accept tolerated deviations and list them")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("inspect", help="decode a message and print it as JSON")
    p.add_argument("path", metavar="PATH", help="SOAP XML file ('-' for stdin)")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("demo", help="an end-to-end demonstration on built-in defaults")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
