"""A strict reader of Prometheus' text exposition format (0.0.4), line by line: what a scraper
would take, checked harder than a scraper does, so a metric that reads wrong fails a test."""

from __future__ import annotations

import math
import re

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
# A label value: between double quotes, with \\, \" and \n the only escapes.
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
VALUE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|[+-]Inf|NaN")
KINDS = ("counter", "gauge", "histogram", "summary", "untyped")
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("", "_sum", "_count")}


def _unescape(text: str, quote: bool) -> str:
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\":
            nxt = text[i + 1: i + 2]
            assert nxt in ("\\", "n", '"' if quote else "\\"), f"bad escape \\{nxt} in {text!r}"
            out.append("\n" if nxt == "n" else nxt)
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _labels(text: str, line: str) -> tuple[tuple[str, str], ...]:
    """{a="1",b="2"} → (("a", "1"), ("b", "2")), refusing anything else (a trailing comma allowed)."""
    assert text.startswith("{") and text.endswith("}"), line
    inner, pairs, at = text[1:-1], [], 0
    while at < len(inner):
        m = LABEL.match(inner, at)
        assert m, f"bad label at {inner[at:]!r} in {line!r}"
        assert not m.group(1).startswith("__"), f"reserved label name in {line!r}"
        pairs.append((m.group(1), _unescape(m.group(2), quote=True)))
        at = m.end()
        if at < len(inner):
            assert inner[at] == ",", f"labels not separated by a comma in {line!r}"
            at += 1
    names = [n for n, _ in pairs]
    assert len(set(names)) == len(names), f"a label named twice in {line!r}"
    return tuple(pairs)


def _split_sample(line: str) -> tuple[str, tuple[tuple[str, str], ...], float]:
    m = NAME.match(line)
    assert m, f"not a sample line: {line!r}"
    name, rest = m.group(), line[m.end():]
    labels: tuple[tuple[str, str], ...] = ()
    if rest.startswith("{"):
        # the closing brace: the first one outside a quoted value
        in_quote, i = False, 1
        while i < len(rest):
            c = rest[i]
            if in_quote and c == "\\":
                i += 2
                continue
            if c == '"':
                in_quote = not in_quote
            elif c == "}" and not in_quote:
                break
            i += 1
        assert i < len(rest), f"labels not closed in {line!r}"
        labels, rest = _labels(rest[: i + 1], line), rest[i + 1:]
    assert rest.startswith(" ") and not rest.startswith("  "), f"one space before the value in {line!r}"
    fields = rest[1:].split(" ")
    assert len(fields) in (1, 2), f"value (and timestamp) expected in {line!r}"
    assert VALUE.fullmatch(fields[0]), f"not a value: {fields[0]!r} in {line!r}"
    if len(fields) == 2:
        assert re.fullmatch(r"-?[0-9]+", fields[1]), f"not a timestamp in {line!r}"
    return name, labels, float(fields[0])


def _family_of(name: str, kinds: dict[str, str]) -> str:
    for family, kind in kinds.items():
        if any(name == family + s for s in SUFFIXES.get(kind, ("",))):
            return family
    raise AssertionError(f"sample {name} comes before (or without) its family's TYPE line")


def read_exposition(text: str) -> dict[str, float]:
    """The exposition as {sample as written up to its value: value}; an AssertionError says what
    breaks the format: a HELP or TYPE line twice, or after its family's samples; a family's samples
    not together; a label or value mis-written; a sample twice; a counter without _total, or
    negative; a histogram whose buckets are not cumulative, or whose +Inf bucket is not its count."""
    assert text == "" or text.endswith("\n"), "the last line has no line feed"
    kinds: dict[str, str] = {}
    helped: set[str] = set()
    sampled: list[str] = []  # families in the order their samples came
    samples: dict[str, float] = {}
    parsed: list[tuple[str, str, tuple[tuple[str, str], ...], float]] = []
    for line in text.split("\n")[:-1]:
        assert line, "an empty line"
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                family = parts[2]
                assert NAME.fullmatch(family), f"bad metric name in {line!r}"
                assert family not in sampled, f"{parts[1]} of {family} after its samples"
                if parts[1] == "HELP":
                    assert family not in helped, f"HELP of {family} twice"
                    helped.add(family)
                    _unescape(parts[3] if len(parts) > 3 else "", quote=False)
                else:
                    assert family not in kinds, f"TYPE of {family} twice"
                    assert len(parts) == 4 and parts[3] in KINDS, f"bad TYPE line {line!r}"
                    kinds[family] = parts[3]
            continue
        name, labels, value = _split_sample(line)
        family = _family_of(name, kinds)
        if not sampled or sampled[-1] != family:
            assert family not in sampled, f"the samples of {family} are not together"
            sampled.append(family)
        key = name + ("{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}" if labels else "")
        assert key not in samples, f"{key} twice"
        samples[key] = value
        parsed.append((family, name, labels, value))
    for family, kind in kinds.items():
        if kind == "counter":
            assert family.endswith("_total"), f"counter {family} does not end in _total"
            assert all(v >= 0 for f, _, _, v in parsed if f == family), f"counter {family} below 0"
        if kind == "histogram":
            _check_histogram(family, [(n, ls, v) for f, n, ls, v in parsed if f == family])
    return samples


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _check_histogram(family: str, rows: list[tuple[str, tuple[tuple[str, str], ...], float]]) -> None:
    """Each label set: buckets by le, ascending and cumulative, the last +Inf and equal to _count; a _sum."""
    series: dict[tuple, dict] = {}
    for name, labels, value in rows:
        if name == family + "_bucket":
            les = [v for k, v in labels if k == "le"]
            assert len(les) == 1, f"{family} bucket without one le label: {labels}"
            rest = tuple((k, v) for k, v in labels if k != "le")
            assert VALUE.fullmatch(les[0]), f"{family}: le={les[0]!r} is not a number"
            series.setdefault(rest, {"buckets": []})["buckets"].append((float(les[0]), value))
        else:
            assert all(k != "le" for k, _ in labels), f"{name} has an le label"
            series.setdefault(labels, {"buckets": []})[name.removeprefix(family)] = value
    for labels, s in series.items():
        where = f"{family}{dict(labels)}"
        bounds = [b for b, _ in s["buckets"]]
        counts = [c for _, c in s["buckets"]]
        assert bounds and bounds == sorted(bounds) and len(set(bounds)) == len(bounds), f"{where}: buckets {bounds}"
        assert bounds[-1] == math.inf, f"{where}: no +Inf bucket"
        assert counts == sorted(counts), f"{where}: buckets not cumulative: {counts}"
        assert all(c == int(c) >= 0 for c in counts), f"{where}: a bucket's count is not a whole number"
        assert "_count" in s and "_sum" in s, f"{where}: no _count or no _sum"
        assert counts[-1] == s["_count"], f"{where}: +Inf bucket {counts[-1]} != _count {s['_count']}"
