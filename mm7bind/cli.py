"""The `mm7bind` command."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__, versions
from .codec import decode, split_http
from .content import Content, Part
from .envelope import Envelope
from .errors import DecodeError, ValidationError
from .jsonable import to_jsonable

EXIT_OK, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    return Path(path).read_bytes()


def _decode_capture(data: bytes, strict: bool = False) -> tuple[Envelope, str | None, dict[str, str]]:
    """A SOAP XML file, a MIME body, or a raw HTTP request/response capture."""
    start_line, headers, body = split_http(data)
    ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    return decode(body, ctype, strict=strict), start_line, headers


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
            env, _, _ = _decode_capture(data, strict=not args.lenient)
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


def describe_part(part: Part, role: str) -> dict:
    out = {
        "role": role,
        "content_type": part.content_type,
        "charset": part.charset,
        "content_id": part.content_id,
        "content_location": part.content_location,
        "filename": part.filename,
        "size": part.size,
        "sha256": part.sha256(),
    }
    return {k: v for k, v in out.items() if v is not None}


def describe(env: Envelope) -> dict:
    body = env.body
    content: Content | None = getattr(body, "content", None)
    fields = to_jsonable(body)
    fields.pop("content", None)
    return {
        "version": env.version.name if env.version else None,
        "namespace": env.version.namespace if env.version else None,
        "message_type": "Fault" if env.is_fault else body.ELEMENT,
        "transaction_id": env.transaction_id,
        "mm7_version": getattr(body.detail, "mm7_version", None) if env.is_fault else body.mm7_version,
        "encoding": env.encoding,
        "fields": fields,
        "attachments": [describe_part(p, "smil" if p is content.smil else "part") for p in content.all_parts()]
        if content
        else [],
        "deviations": [{"code": d.code, "path": d.path, "message": d.message} for d in env.deviations],
    }


def cmd_inspect(args: argparse.Namespace) -> int:
    try:
        data = _read(args.path)
    except OSError as exc:
        print(f"{args.path}: unreadable: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    try:
        env, start_line, headers = _decode_capture(data)
    except DecodeError as exc:
        print(json.dumps({"error": type(exc).__name__, "message": str(exc)}, ensure_ascii=False, indent=2))
        return EXIT_UNREADABLE
    out = describe(env)
    if start_line:
        out["http"] = {"start_line": start_line, "headers": headers}
    if args.extract:
        content = getattr(env.body, "content", None)
        out["extracted"] = extract(content, Path(args.extract)) if content else []
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return EXIT_OK


def _safe_name(name: str) -> str:
    """A file name from a part's own name, never a path (a hostile one must not escape DIR)."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1].strip().lstrip(".")
    name = "".join(c for c in name if c.isprintable() and c not in '<>:"|?*')
    return name[:120]


def extract(content: Content, target: Path) -> list[str]:
    target.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    for i, part in enumerate(content.all_parts(), 1):
        name = _safe_name(part.filename or part.content_location or part.content_id or "")
        if not name:
            import mimetypes  # noqa: PLC0415

            ext = ".smil" if part.kind == "smil" else mimetypes.guess_extension(part.content_type) or ".bin"
            name = f"part{i}{ext}"
        stem, dot, ext = name.rpartition(".")
        candidate, n = name, 1
        while candidate in written or (target / candidate).exists():
            n += 1
            candidate = f"{stem}-{n}.{ext}" if dot else f"{name}-{n}"
        part.blob.save(target / candidate)
        written.append(candidate)
    return written


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
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="SOAP XML, MIME bodies or raw HTTP captures ('-' for stdin)")
    p.add_argument("--lenient", action="store_true", help="accept tolerated deviations and list them")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("inspect", help="decode a message and print it as JSON")
    p.add_argument("path", metavar="PATH", help="SOAP XML, MIME body or raw HTTP capture ('-' for stdin)")
    p.add_argument("--extract", metavar="DIR", help="write the attachments into DIR")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("demo", help="an end-to-end demonstration on built-in defaults")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
