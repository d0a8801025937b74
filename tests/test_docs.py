"""What the documentation shows works as shown: the README's configuration reference and the
example configurations are valid, and the reference names every key there is."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import tomllib

from mm7bind.config import SECTIONS, load

from .conftest import ROOT


def readme_toml() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    [block] = re.findall(r"```toml\n(.*?)```", text, re.S)
    return block


def test_the_readme_configuration_is_valid_and_names_every_key(tmp_path):
    block = readme_toml()
    data = tomllib.loads(block)  # a user can copy it as it is
    assert set(data) == set(SECTIONS)
    for name, section in SECTIONS.items():
        assert set(data[name]) == {f.name for f in dataclasses.fields(section)}, name
    path = tmp_path / "readme.toml"
    path.write_text(block, encoding="utf-8")
    _cfg, problems = load(str(path), env={})
    assert [p for p in problems if p.level == "error"] == []


def test_the_example_configurations_are_valid(tmp_path):
    for path in sorted((ROOT / "examples").glob("*.toml")):
        installed = tmp_path / path.name  # installed as its comment says: not readable by every user
        installed.write_bytes(path.read_bytes())
        installed.chmod(0o640)
        _cfg, problems = load(str(installed), env={})
        assert problems == [], path.name



def test_the_readme_china_mobile_configuration_is_read_without_a_problem(tmp_path):
    """The mm7Config.xml and ConnConfig.xml the README shows (a user writes them from it) are read as
    it says: no error, no warning, sending to the simulator's address and receiving on port 8088."""
    from mm7bind.cmcc.config import read as read_cmcc
    from mm7bind.config import SIMULATOR_URL

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    [block] = re.findall(r"```xml\n(<\?xml.*?<vasp:MM7Config.*?)```", text, re.S)
    path = tmp_path / "mm7Config.xml"
    path.write_text(block, encoding="utf-8")
    cfg, problems = read_cmcc(str(path))
    assert problems == []
    assert cfg.mmsc.urls == [SIMULATOR_URL] and cfg.receiver.port == 8088
    # ... and so with the ConnConfig.xml it shows, which the China Mobile example names
    [conn] = re.findall(r"```xml\n(<\?xml[^`]*?<connection>.*?)```", text, re.S)
    (tmp_path / "ConnConfig.xml").write_text(conn, encoding="utf-8")
    cfg, problems = read_cmcc(str(path), str(tmp_path / "ConnConfig.xml"))
    assert problems == []
    assert (cfg.mmsc.pool_size, cfg.receiver.threads, cfg.mmsc.idle_timeout) == (30, 30, 50.0)


def test_every_name_the_readme_uses_exists():
    """Every `mm7.X`, `mm7bind.x.Y` and `cmcc.X` the README writes resolves: a rename that leaves
    the README behind fails here."""
    import importlib

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    not_names = {"mm7.db", "mm7.vasp", "mm7bind.db", "mm7bind.service"}  # file names in the text
    missing = []
    written = set(re.findall(r"\bmm7(?:bind)?\.[A-Za-z_][A-Za-z0-9_.]*[A-Za-z0-9_]", text)) - not_names
    # (`from mm7bind import cmcc` names; not the Java package com.cmcc.mm7.vasp)
    written |= {"mm7bind." + n for n in re.findall(r"(?<![\w.])cmcc\.[A-Za-z_][A-Za-z0-9_.]*[A-Za-z0-9_]", text)}
    assert "mm7bind.cmcc.MM7Sender" in written
    for dotted in sorted(written):
        parts = dotted.split(".")
        obj = importlib.import_module("mm7bind")
        for i, part in enumerate(parts[1:], 1):
            if not hasattr(obj, part):
                try:
                    obj = importlib.import_module("mm7bind." + ".".join(parts[1 : i + 1]))
                    continue
                except ImportError:
                    missing.append(dotted)
                    break
            obj = getattr(obj, part)
    assert missing == []


def test_every_china_mobile_name_the_readme_writes_is_there_after_from_mm7bind_import_cmcc():
    """The test above imports a submodule it does not find: a user writes `from mm7bind import cmcc`
    and then `cmcc.codes.check_enterprise_code(...)`, which was an AttributeError (no `codes`) in a
    program that had not imported it yet. Read in a fresh interpreter, by attribute alone."""
    import subprocess
    import sys

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    written = sorted(set(re.findall(r"(?<![\w.])cmcc\.[A-Za-z_][A-Za-z0-9_.]*[A-Za-z0-9_]", text)))
    assert "cmcc.codes.check_enterprise_code" in written
    program = ("import functools, sys\nfrom mm7bind import cmcc\n"
               "for dotted in sys.argv[1:]:\n"
               "    try:\n        functools.reduce(getattr, dotted.split('.')[1:], cmcc)\n"
               "    except AttributeError as exc:\n        print(dotted, exc)\n")
    proc = subprocess.run([sys.executable, "-c", program, *written], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0 and proc.stdout == "", proc.stdout + proc.stderr


def test_the_china_mobile_error_codes_are_the_classes_the_readme_names():
    """"−100 `SystemError_`, −101 `SendTimeout`, ...": each class is in `cmcc.status` with that code,
    `cmcc.API_ERRORS` maps the code to it (−102's `ReadTimeout` a kind of `ReceiveFailed`)."""
    from mm7bind import cmcc
    from mm7bind.cmcc import status

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## China Mobile"):]
    pairs = re.findall(r"−(1\d\d) `(\w+)`(?: \(and its `(\w+)`\))?", section[: section.index("They come in")])
    assert len(pairs) >= 13
    problems = []
    for code, name, sub in pairs:
        cls = getattr(status, name, None)
        if cls is None or getattr(cls, "code", None) != -int(code) or cmcc.API_ERRORS.get(-int(code)) is not cls:
            problems.append(f"−{code} {name}")
        if sub and not (isinstance(getattr(status, sub, None), type) and issubclass(getattr(status, sub), cls)):
            problems.append(f"−{code} {sub}")
        if not issubclass(cls or object, cmcc.APIError):
            problems.append(f"{name} is no APIError")
    assert problems == []


def test_the_china_mobile_code_checks_are_the_functions_the_readme_names():
    """"Concepts (§2)": each function written there is in `cmcc.codes`, and each check is named
    after the field it checks as the manual names it (VASPID: enterprise code, VASID: service
    code, ServiceCode: business code)."""
    from mm7bind.cmcc import codes

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    bullet = text[text.index("* **Concepts (§2)**"):]
    bullet = bullet[: bullet.index("\n* ")]
    names = [re.match(r"(?:cmcc\.codes\.)?(\w+)", span)[1] for span in re.findall(r"`([^`]+)`", bullet)
             if re.match(r"(?:cmcc\.codes\.)?[a-zA-Z_]\w*(?:\(|$)", span)]
    assert len(names) >= 7 and [n for n in names if n != "strict" and not hasattr(codes, n)] == []
    for field, code in (("VASPID", "enterprise"), ("VASID", "service"), ("ServiceCode", "business")):
        assert re.search(rf"`(?:cmcc\.codes\.)?check_{code}_code` \({field}, ", " ".join(bullet.split())), field
        assert f"{field} (China Mobile: {code} code)" in " ".join(_cli_help("send").split())


def _cli_help(command: str) -> str:
    from mm7bind.cli import build_parser

    return _subcommands(build_parser())[command].format_help()


def test_every_code_span_in_the_readme_is_whole():
    """A code span's brackets close inside it: a backtick nested in one (a note in `...` inside a
    documented call) ends it early, shows the rest as prose and hides the call from the checks
    of its parameters."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    broken = []
    for paragraph in prose.split("\n\n"):
        for span in re.findall(r"`([^`]*)`", paragraph):
            bare = re.sub(r"\"[^\"]*\"|'[^']*'", "", span)  # (brackets inside strings are text)
            if any(bare.count(a) != bare.count(b) for a, b in ("()", "[]", "{}")):
                broken.append(span[:80])
    assert broken == []


def test_the_readme_python_examples_are_python():
    """Every python block compiles (what it calls is checked by the tests above and below)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 5
    for i, block in enumerate(blocks):
        compile(block, f"README.md python block {i + 1}", "exec")

# -- the one-page API table ----------------------------------------------------------------------


API_SECTIONS = ("## The API on one page", "## The API in full")  # (the short list, and every name in full)


def readme_sections(sections: tuple[str, ...] = API_SECTIONS) -> str:
    """The text of the README's sections under these headings, each to the next section (or the page's end)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = []
    for heading in sections:
        section = text[text.index(heading + "\n"):]
        end = section.find("\n## ", 1)
        found.append(section if end < 0 else section[:end])
    return "\n".join(found)


def api_table(sections: tuple[str, ...] = API_SECTIONS) -> list[tuple[str, str]]:
    """(what, where) of every row of the README's API tables: the short one of "The API on one
    page" and the whole one of "The API in full"."""
    rows = []
    for section in [readme_sections((heading,)) for heading in sections]:
        for line in section.splitlines():
            if line.startswith("| ") and not line.startswith(("| what", "|---")):
                what, where = line.replace("\\|", "¦").strip("| ").rsplit(" | ", 1)
                rows.append((what, where))
    return rows


def test_the_api_on_one_page_is_a_page():
    """The one-page table stays a short list a newcomer reads at a glance (every parameter and
    behaviour is in "The API in full"): rows of a few lines each, and not many of them."""
    rows = api_table(API_SECTIONS[:1])
    assert 10 < len(rows) <= 25, len(rows)
    long = [what[:60] for what, _ in rows if len(what) > 400]
    assert long == [], long


def _modules_named(where: str) -> list:
    """The mm7bind modules an API table row's second column names (those that import)."""
    import importlib

    modules = []
    for dotted in re.findall(r"`(mm7bind(?:\.\w+)*)`", where):
        try:
            modules.append(importlib.import_module(dotted))
        except ImportError:
            pass
    return modules


def _resolve(obj, dotted: str):
    """`dotted` looked up on obj (attributes, or a dataclass's fields: True for those, which have
    no class-level value to follow); None when it is not there."""
    for name in dotted.split("."):
        if hasattr(obj, name):
            obj = getattr(obj, name)
        elif isinstance(obj, type) and dataclasses.is_dataclass(obj) and name in {
                f.name for f in dataclasses.fields(obj)}:
            return True if name == dotted.split(".")[-1] else None
        else:
            return None
    return obj


def _split_args(text: str) -> list[str]:
    """The top-level comma-separated arguments of a documented call."""
    out, depth, quote, current = [], 0, None, ""
    for ch in text:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(current.strip())
            current = ""
            continue
        current += ch
    return [a for a in out + [current.strip()] if a]


def _check_call(name: str, target, args: str, defaults: bool = True) -> list[str]:
    """Every `keyword=` the README gives a documented callable is one of its parameters, and (with
    `defaults`) a default it writes as one literal (`durability="power"`, `numbered=False`), or as the
    first of its alternatives (`code="Server"|"Client"`: `Fault`'s was written "Client" first), is the
    real one."""
    import ast
    import inspect

    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return []
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    problems = []
    # Arguments written without "=" are positional: one that names a parameter is that parameter
    # (`HttpMessage(content_type, body, ...)`), and there are no more of them than it takes. (Other
    # bare names are what is passed: `read_capture(pcap_or_pcapng_bytes)`.)
    positional = [p.name for p in params.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                  and p.name not in ("self", "cls")]
    written = _split_args(args)
    keywords = [i for i, a in enumerate(written) if "=" in a] or [len(written)]
    # (one after a keyword: a keyword; counted by its place among all, `on("deliver", fn)`)
    bare = [(i, a) for i, a in enumerate(written[: keywords[0]]) if a.isidentifier()]
    for i, arg in bare:
        if arg in params and (i >= len(positional) or positional[i] != arg):
            problems.append(f"{name}: {arg} is not its argument {i + 1}")
    if len(bare) > len(positional) and not any(p.kind is p.VAR_POSITIONAL for p in params.values()):
        problems.append(f"{name}: takes {len(positional)} positional arguments, not {len(bare)}")
    for arg in _split_args(args):
        key, eq, value = arg.partition("=")
        key = key.strip()
        if not eq or not key.isidentifier():
            continue
        if key not in params:
            if not takes_any:
                problems.append(f"{name}: no parameter {key}")
            continue
        # (of alternatives, `envelope_prefix="env"|"soap-env"`, the first is the default)
        value = value.split("¦", 1)[0].strip()
        if not defaults or not value:
            continue
        try:
            literal = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            continue
        if params[key].default is not inspect.Parameter.empty and params[key].default != literal:
            problems.append(f"{name}: {key} defaults to {params[key].default!r}, not {literal!r}")
    return problems


def test_the_api_table_names_live_where_it_says_with_the_parameters_it_gives():
    """Each row of the one-page API table: every class (a capitalised name) is in every module of
    its "where" column; every `name(keyword=...)` found there or on the row's classes takes those
    keywords, with the literal defaults written."""
    import builtins
    import importlib

    problems = []
    rows = api_table()
    assert len(rows) > 15  # the table was found and read
    for what, where in rows:
        modules = []
        for dotted in re.findall(r"`(mm7bind(?:\.\w+)*)`", where):
            try:
                modules.append(importlib.import_module(dotted))
            except ImportError:  # a function pointed at (`mm7bind.envelope.encode`): it must exist
                module, _, name = dotted.rpartition(".")
                if not hasattr(importlib.import_module(module), name):
                    problems.append(f"{where}: no {dotted}")
        assert modules, where
        tokens = re.findall(r"`([^`]+)`", what)
        classes = []
        for token in tokens:
            head = re.match(r"([A-Z]\w*(?:\.\w+)*)", token)
            if head and not hasattr(builtins, head[1].split(".")[0]):
                for module in modules:
                    found = _resolve(module, head[1])
                    if found is None:
                        problems.append(f"{head[1]} is not in {module.__name__}")
                    elif isinstance(found, type):
                        classes.append(found)
        for token in tokens:
            call = re.fullmatch(r"(\w+(?:\.\w+)*)\((.*)\)", token, re.S)
            if not call:
                continue
            name, args = call.groups()
            targets = [t for t in (_resolve(owner, name) for owner in [*modules, *classes]) if callable(t)]
            for target in targets[:1]:
                problems += _check_call(name, target, args)
    assert problems == [], problems


def test_every_call_in_the_api_tables_is_callable_where_its_row_says():
    """`probe(url)` and `arrival(error)`, "in `mm7bind`", were its submodules there, which a call
    refuses (TypeError: 'module' object is not callable): a call written in a row is something
    callable in a module of its "where" column, or on one of the row's classes."""
    import mm7bind

    problems = []
    for what, where in api_table():
        modules = [mm7bind, *_modules_named(where)]
        tokens = re.findall(r"`([^`]+)`", what)
        classes = [f for t in tokens if (head := re.match(r"([A-Z]\w*)", t))
                   for f in (_resolve(m, head[1]) for m in modules) if isinstance(f, type)]
        for token in tokens:
            call = re.fullmatch(r"([a-z_]\w*(?:\.\w+)*)\(.*\)", token, re.S)
            if not call or call[1].split(".")[0] in ("mm7", "mm7bind"):
                continue
            found = [f for f in (_resolve(owner, call[1]) for owner in [*modules, *classes]) if f is not None]
            # (a name found nowhere, an instance's method — `store.outbox(state)` —, is the test above's)
            if found and not any(callable(f) for f in found):
                problems.append(f"{token[:40]} ({where})")
    assert problems == [], problems


def _attribute_of(cls: type, name: str) -> bool:
    """`name` is on instances of `cls`: a class attribute, a dataclass field, or set in a method."""
    if hasattr(cls, name) or (dataclasses.is_dataclass(cls) and name in {f.name for f in dataclasses.fields(cls)}):
        return True
    return any(re.search(rf"\bself\.{name}\b(?:: [^=\n]+)? =", _source_of(klass)) for klass in cls.__mro__[:-1])


@functools.cache
def _source_of(klass: type) -> str:
    """A class's source, read once: `inspect.getsource` parses the class's whole module each time
    (that was two minutes of the test above, for a few hundred names)."""
    try:
        return inspect.getsource(klass)
    except (OSError, TypeError):
        return ""


def test_every_name_in_the_api_table_is_there():
    """The lower-case names of the API table too — functions (`read_capture`, `status.lookup`),
    methods and attributes of the row's classes (`put_once`, `.sha256()`, `ProbeResult`'s `elapsed`)
    — are what the code has: a name renamed or removed leaves no dead entry on the page."""
    import builtins
    import typing

    import mm7bind

    # code spans that are no Python name: a command, a SMIL attribute, a pytest fixture, a parameter
    not_names = {"mm7bind probe": "the command", "src": "SMIL's attribute",
                 "mm7_simulator": "a fixture", "mm7_receiver": "a fixture",
                 "ctx": "the handlers' parameter", "wait": "SqliteStore's parameter",
                 "expect=\"SubmitRsp\"": "decode's parameter", "utf8": "an encoding", "cp936": "an encoding",
                 "transaction-id-mismatch": "a deviation code", "uri": "Receiver.handle's parameter"}
    problems, used = [], set()
    for what, where in api_table():
        owners: list = [mm7bind, *_modules_named(where)]
        tokens = re.findall(r"`([^`]+)`", what)
        classes = []
        for token in tokens:
            head = re.match(r"([A-Z]\w*(?:\.\w+)*)", token)
            for prefix in [".".join(head[1].split(".")[:n]) for n in range(1, head[1].count(".") + 2)] if head else []:
                classes += [f for f in (_resolve(o, prefix) for o in owners) if isinstance(f, type)][:1]
        for token in tokens:
            if token in not_names:
                used.add(token)
                continue
            name = re.match(r"\.?((?:mm7\.)?[A-Za-z_]\w*(?:\.\w+)*)", token)
            if not name or hasattr(builtins, name[1].split(".")[0]):
                continue
            dotted = re.sub(r"^mm7\.", "", name[1])
            first, _, rest = dotted.partition(".")
            if any(_resolve(o, dotted) is not None for o in owners):
                continue
            # a method or attribute of one of the row's classes (`.blob.save`: the field's type's), or
            # of an instance named after its class (`part.data`, `store.outbox`)
            instances = {c.__name__.lower(): c for c in classes} | {"store": mm7bind.SqliteStore}
            if any(_attribute_of(c, first) and (not rest or _resolve(
                    getattr(c, first, None) or typing.get_type_hints(c).get(first), rest) is not None)
                   for c in classes) or (first in instances and _attribute_of(instances[first], rest)):
                continue
            problems.append(f"{token!r} ({where})")
    assert problems == [] and used == set(not_names), (problems, set(not_names) - used)


def test_the_calls_the_readme_prose_writes_take_the_keywords_it_gives():
    """`Retention(store, keep=..., keep_bodies=...)`, `simulator.fail_next(count=1, status=3000)`,
    `store.purge(before, bodies_only=False, ...)`...: each keyword is one the callable takes (the
    values in prose are examples, not defaults), and a name written without one is the parameter in
    that place (`MM7CancelReq(vaspid, vasid, ...)` read as the constructor's order, whose first two
    are `transaction_id` and `mm7_version`)."""
    import mm7bind
    from mm7bind import auth, bulk, cmcc, handlers, pcap, sendonce, server, simulator, testreceiver
    from mm7bind.cmcc import codes

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    prose = re.sub(r"```.*?```", "", text, flags=re.S).replace("\\|", "¦")
    # what a leading lower-case name stands for in the text
    named = {"mm7": mm7bind, "mm7bind": mm7bind, "cmcc": cmcc, "store": mm7bind.SqliteStore, "client": mm7bind.Client,
             "outbox": mm7bind.Outbox, "simulator": simulator.Simulator, "mm7_simulator": simulator.Simulator,
             "metrics": mm7bind.Metrics, "bulk": bulk, "receiver": mm7bind.Receiver, "server": server,
             "mm7_receiver": testreceiver.RunningReceiver, "result": mm7bind.Result}
    elsewhere = [mm7bind, simulator, handlers, auth, cmcc, codes, mm7bind.EmbeddedServer, testreceiver.RunningReceiver,
                 sendonce, pcap]
    problems, checked = [], 0
    for span in re.findall(r"`([^`]+)`", prose):
        call = re.fullmatch(r"([A-Za-z_][\w.]*)\((.*)\)", span.strip(), re.S)
        if not call or not call[2].strip():
            continue
        name, args = call.groups()
        first, _, rest = name.partition(".")
        if first in named:
            targets = [named[first] if not rest else _resolve(named[first], rest)]
        else:
            targets = [_resolve(owner, name) for owner in elsewhere]
        target = next((t for t in targets if callable(t)), None)
        if target is None:
            continue
        checked += 1
        problems += _check_call(name, target, args, defaults=False)
    assert checked > 30 and problems == [], problems


# -- the command reference -----------------------------------------------------------------------


def _subcommands(parser) -> dict:
    import argparse

    return next((a.choices for a in parser._actions if isinstance(a, argparse._SubParsersAction)), {})


def readme_commands() -> dict[tuple[str, ...], set[str]]:
    """The README's command block: each `mm7bind <command> [<action>]` with the options its lines use."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text[text.index("## The command"):]
    block = block[block.index("```\n") + 4:]
    block = block[: block.index("```")]
    commands: dict[tuple[str, ...], set[str]] = {}
    current = None
    for line in block.splitlines():
        if line.startswith("mm7bind "):
            words = []
            for word in re.split(r"\s{2,}", line)[0].split()[1:]:  # (a description follows a wide gap)
                if not re.fullmatch(r"[a-z][a-z-]*", word):
                    break
                words.append(word)
            current = tuple(words)
            commands.setdefault(current, set())
        assert current is not None, line
        commands[current] |= set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", line))
    return commands


def test_every_command_and_option_the_readme_shows_exists_and_every_one_is_shown():
    from mm7bind.cli import build_parser

    documented = readme_commands()
    top = _subcommands(build_parser())
    problems = []
    for words, options in documented.items():
        parser, path = None, list(words)
        choices = top
        while path and path[0] in choices:
            parser = choices[path.pop(0)]
            choices = _subcommands(parser)
        if parser is None or path:
            problems.append(f"mm7bind {' '.join(words)}: no such command")
            continue
        known = {s for a in parser._actions for s in a.option_strings}
        problems += [f"mm7bind {' '.join(words)}: no option {o}" for o in sorted(options - known)]
    shared = {"-h", "--help", "--config", "-c", "--conn-config", "--verbose", "-v"}  # (said once, above)
    for name, parser in top.items():
        actions = _subcommands(parser)
        for full in [(name, action) for action in actions] if actions else [(name,)]:
            if full not in documented:
                problems.append(f"mm7bind {' '.join(full)} is not in the README")
                continue
            command = actions[full[1]] if actions else parser
            options = {s for a in command._actions for s in a.option_strings if s.startswith("--")} - shared
            problems += [f"mm7bind {' '.join(full)}: {o} is not in the README"
                         for o in sorted(options - documented[full])]
    assert len(documented) > 15 and problems == [], problems


def test_the_values_the_readme_lists_for_an_option_are_the_ones_it_takes():
    """`[--auth basic|digest]`, `[--state queued|sending|...]`: where the command restricts an
    option's values, the README lists exactly those."""
    from mm7bind.cli import build_parser

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text[text.index("## The command"):]
    block = block[block.index("```\n") + 4:]
    block = block[: block.index("```")]
    top = _subcommands(build_parser())
    problems, checked = [], 0
    current = None
    for line in block.splitlines():
        if line.startswith("mm7bind "):
            words = [w for w in re.split(r"\s{2,}", line)[0].split()[1:3] if re.fullmatch(r"[a-z][a-z-]*", w)]
            parser = top.get(words[0]) if words else None
            if parser is not None and len(words) > 1 and words[1] in _subcommands(parser):
                parser = _subcommands(parser)[words[1]]
            current = parser
        if current is None:
            continue
        for option, values in re.findall(r"(--[a-z][a-z-]*) ([\w,-]+(?:\|[\w,-]+)+)", line):
            action = next((a for a in current._actions if option in a.option_strings), None)
            if action is not None and action.choices is not None:
                checked += 1
                if set(values.split("|")) != set(action.choices):
                    problems.append(f"{option}: {values} (takes {'|'.join(action.choices)})")
    assert checked >= 4 and problems == [], problems


def test_the_exit_codes_the_readme_lists_are_the_commands_own():
    """"Exit codes: 0 done; 1 ...": every status the command exits with is listed, and only those."""
    from mm7bind import cli

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    paragraph = text[text.index("Exit codes: "):]
    paragraph = " ".join(paragraph[: paragraph.index("\n\n")].split())
    # (a code opens the paragraph or follows a "; ", and a word follows it)
    listed = {int(n) for n in re.findall(r"(?:^Exit codes: |; )(\d+) [a-z]", paragraph)}
    used = {value for name, value in vars(cli).items() if name.startswith("EXIT_")}
    assert len(used) >= 6 and listed == used


# -- the deviation codes -------------------------------------------------------------------------


def test_every_deviation_code_is_in_the_readme_table_and_every_listed_one_is_used():
    """The README promises stable deviation codes and lists them: one the code starts to report
    must be added there, one it stops using taken out."""
    section = readme_sections(("## Reading what real MMSCs send",))  # (its section alone: the API's tables follow it)
    listed = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            listed |= set(re.findall(r"`([a-z0-9*-]+)`", line.split(" | ")[0]))
    source = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "mm7bind").rglob("*.py")))
    reported = set(re.findall(r'(?:\.add|note|Deviation)\(\s*"([a-z0-9-]+)"', source))
    reported |= set(re.findall(r'keep_extra\([^)]*?"([a-z0-9-]+)"', source))
    assert len(listed) > 50 and len(reported) > 50

    def is_listed(code: str) -> bool:
        return code in listed or any(p.endswith("*") and code.startswith(p[:-1]) for p in listed)

    assert sorted(c for c in reported if not is_listed(c)) == []
    assert sorted(c for c in listed if not c.endswith("*") and f'"{c}"' not in source) == []


# -- the README's code, run ----------------------------------------------------------------------


def python_block(first_lines: str) -> str:
    """The README's one python block that starts with `first_lines`."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    [block] = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if b.startswith(first_lines)]
    return block


def adapted(block: str, changes: dict[str, str]) -> str:
    """`block` with what only a reader can supply (a real MMSC, a free port) put in: each text
    replaced must be there, so an edit of the README that moves it fails here, not silently."""
    for old, new in changes.items():
        assert block.count(old) == 1, f"the README example no longer has {old!r}: update this test"
        block = block.replace(old, new)
    return block


def test_the_readme_api_and_client_examples_run(tmp_path, monkeypatch):
    """"The API on one page" and "Sending: the client" as a reader runs them, one after the other
    (the second uses the first's `msg`), the client against the simulator behind a dead MMSC."""
    from mm7bind.simulator import Simulator, SimulatorConfig

    from .fake_http import dead_url

    monkeypatch.chdir(tmp_path)
    (tmp_path / "card.jpg").write_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64) + b"\xff\xd9")
    api = python_block("import mm7bind as mm7\nfrom datetime import timedelta\n")
    head, tail = api.split("\nenv = ", 1)
    ns: dict = {}
    exec(compile(head, "README.md (the API on one page)", "exec"), ns)  # noqa: S102 (the README's own code)
    ns["body_bytes_or_stream"], ns["content_type"] = ns["out"].body, ns["out"].content_type  # what was sent
    exec(compile("env = " + tail, "README.md (the API on one page, decoding)", "exec"), ns)  # noqa: S102
    env, mm7 = ns["env"], ns["mm7"]
    assert env.deviations == [] and env.version.name == "REL-6-MM7-1-0" and env.body.subject == "新年快乐"
    assert [p.content_type for p in env.body.content.parts] == ["text/plain", "image/jpeg"]
    assert env.body.content.parts[0].text_value == "新年快乐！" and env.body.content.smil is not None
    assert mm7.decode(ns["fault"].to_bytes(), ns["fault"].content_type).body.status.code == 4004

    # The client block copied on its own: it has its imports; only its placeholders come from outside.
    ns = {"msg": ns["msg"], "new_content": mm7.Content(parts=[mm7.Part.text("新内容")]), "any_request": ns["msg"]}
    auth = mm7.auth.DigestAuth("sp", "secret", qop="auth,auth-int")
    with Simulator(SimulatorConfig(auth=auth)) as sim:
        client_block = adapted(python_block("import mm7bind as mm7\nfrom mm7bind import Client, RetryPolicy, SqliteStore\n"), {
            '("https://mmsc-a.example/mm7", "https://mmsc-b.example/mm7")': f"({dead_url()!r}, {sim.url!r})",
            'verify="/etc/mm7/carrier-ca.pem", cert=("client.pem", "client.key"),': "",
        })
        exec(compile(client_block, "README.md (the client)", "exec"), ns)  # noqa: S102
        result = ns["result"]
        assert result.ok and result.url == sim.url and result.version.name == "REL-6-MM7-1-4"
        assert sim.messages[result.message_id].request.subject == "新年快乐"
    assert [r.tag for r in mm7.SqliteStore(str(tmp_path / "mm7.db")).sent(tag="newyear")] == ["newyear"]


def test_the_readme_receiver_example_runs(tmp_path, monkeypatch, capsys):
    """... and says where it receives (copied as a program, it served without a word)."""
    monkeypatch.chdir(tmp_path)  # (its store, inbox.db, is made here)
    ns: dict = {"save": lambda *args: None}
    block = adapted(python_block("import mm7bind as mm7\n\nclass Inbox(mm7.Handler):\n"), {
        'host="0.0.0.0", port=8080': 'host="127.0.0.1", port=0',  # (loopback, and a free port)
        "server.serve_forever()": "assert callable(server.serve_forever)",  # (not until a Ctrl-C in a test)
    })
    exec(compile(block, "README.md (the receiver)", "exec"), ns)  # noqa: S102 (the README's own code)
    server = ns["server"]
    assert server.endpoint == f"http://127.0.0.1:{server.port}/mm7"
    assert capsys.readouterr().out == f"receiving MM7 at {server.endpoint}\n"
    assert callable(ns["app"]) and isinstance(ns["receiver"], ns["mm7"].Receiver)


def test_the_readme_pytest_plugin_example_runs(tmp_path):
    """The fixtures' example, as a user's test file (the names it leaves to the user supplied)."""
    import os
    import subprocess
    import sys

    # (the imports are the block's own: a reader copies it alone)
    preamble = '''import mm7bind

my_message_with_delivery_report = mm7bind.SubmitReq(
    recipients=mm7bind.Recipients(to=["+8613800138000"]), subject="...", delivery_report=True)


class MyHandler(mm7bind.Handler):
    pass


'''
    test_file = preamble + python_block("import pytest\n\nimport mm7bind\n\n\ndef test_my_service(")
    (tmp_path / "test_readme.py").write_text(test_file, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_readme.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0 and "2 passed" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-2000:]


def test_serve_help_says_where_it_listens_and_saves_by_default():
    """`serve --help` gave --host and --port no text at all: where does it listen, then?"""
    from mm7bind.cli import build_parser
    from mm7bind.config import ReceiverSection

    serve = _subcommands(build_parser())["serve"]
    formatter = serve._get_formatter()  # (the defaults are filled in as the help is shown)
    texts = {a.option_strings[0]: formatter._expand_help(a) for a in serve._actions if a.option_strings and a.help}
    defaults = ReceiverSection()
    assert f"default {defaults.host}" in texts["--host"] and f"default {defaults.port}" in texts["--port"]
    assert f"default {defaults.out_dir}" in texts["--out"]
    assert f"default {defaults.out_dir})" in " ".join(serve.format_help().split())
    # (simulate sent no report anywhere without --vasp-url, and its help did not say where serve is)
    simulate = " ".join(_subcommands(build_parser())["simulate"].format_help().split())
    assert f"none are sent without it; `mm7bind serve` receives at http://{defaults.host}:{defaults.port}" \
           f"{defaults.path}" in simulate


def test_every_public_name_is_on_the_api_page():
    """What `import mm7bind` offers is findable on one page: every name in `mm7bind.__all__` is in
    the README's API section (a name exported and documented nowhere cannot be found)."""
    import mm7bind

    section = readme_sections()
    assert [n for n in mm7bind.__all__ if not re.search(rf"`[^`]*\b{re.escape(n)}\b[^`]*`", section)] == []


def test_the_quick_start_is_two_commands_and_ci_runs_the_second_as_written():
    """The Quick start promises two commands — the demo on built-in defaults, then the test suite
    "the same command CI runs": CI's script must run that line as the README writes it."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Quick start"):]
    [block] = re.findall(r"```sh\n(.*?)```", section[: section.index("\n## ")], re.S)
    demo, tests = block.splitlines()
    assert demo.endswith(" && .venv/bin/mm7bind demo") and "pip install -q -e . " in demo
    assert tests.endswith(" && .venv/bin/python -m pytest -q -n auto") and "'.[test]'" in tests
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert tests in ci.splitlines()
    # and it says which Python `python3` must be: the one the package requires
    oldest = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["requires-python"]
    assert f"Python {oldest.removeprefix('>=')} or later" in " ".join(section[: section.index("\n## ")].split())


def test_every_public_name_has_a_docstring_and_so_do_the_first_classes_methods():
    """`help(mm7bind.Profile)`, `help(client.submit)`: what `import mm7bind` offers says what it is,
    and so does every public method and property of the classes the README's first examples use."""
    import inspect

    import mm7bind

    def documented(obj) -> bool:
        obj = obj.fget if isinstance(obj, property) else obj
        own = obj.__dict__.get("__doc__") if isinstance(obj, type) else getattr(obj, "__doc__", None)
        # (a dataclass without one gets its signature as its doc)
        return bool((own or "").strip()) and not (isinstance(obj, type) and own.startswith(obj.__name__ + "("))

    missing = [n for n in mm7bind.__all__ if not inspect.ismodule(getattr(mm7bind, n))
               and not documented(getattr(mm7bind, n))]
    # (and those the first examples read: `out.to_bytes()`, `env.body`, a Fault's `status`, `server.start()`)
    first = [mm7bind.Client, mm7bind.AsyncClient, mm7bind.Result, mm7bind.Content, mm7bind.Part, mm7bind.Handler,
             mm7bind.Profile, mm7bind.Receiver, mm7bind.SendApi, mm7bind.Outbox, mm7bind.HttpMessage,
             mm7bind.Envelope, mm7bind.Fault, mm7bind.Status, mm7bind.RetryPolicy, mm7bind.EmbeddedServer,
             mm7bind.Metrics]
    for cls in first:
        for name in dir(cls):
            if name.startswith("_"):
                continue
            owner = next(k for k in cls.__mro__ if name in vars(k))
            value = vars(owner)[name]
            value = getattr(value, "__func__", value)
            if owner.__module__.startswith("mm7bind") and (callable(value) or isinstance(value, property)) \
                    and not documented(value):
                missing.append(f"{cls.__name__}.{name}")
    assert missing == []


def test_how_it_is_built_lists_every_module_and_no_other():
    """The module map under "How it is built" names each module of the package once it exists."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## How it is built"):]
    block = section[section.index("```\n") + 4:]
    block = block[: block.index("```")]
    listed = set(re.findall(r"^  (\w+)\s", block, re.M)) | {f"cmcc/{n}" for n in re.findall(r"^    (\w+)\s", block, re.M)}
    package = ROOT / "mm7bind"
    modules = {p.stem for p in package.glob("*.py")} | {f"cmcc/{p.stem}" for p in (package / "cmcc").glob("*.py")}
    modules -= {"__init__", "__main__", "cmcc/__init__"}
    assert (sorted(modules - listed), sorted(listed - modules)) == ([], [])


def test_every_option_with_a_default_says_it_in_its_help_and_says_the_right_one():
    """`simulate --dialect` left its default (standard) unsaid; a default written out in a help
    text (`--concurrency`'s 4, `--limit`'s 50) could drift from the real one unnoticed."""
    import argparse

    from mm7bind.cli import build_parser

    def walk(parser, words):
        for name, sub in _subcommands(parser).items():
            yield from walk(sub, (*words, name))
        yield words, parser

    problems = []
    for words, parser in walk(build_parser(), ()):
        for action in parser._actions:
            if not action.option_strings or action.default in (None, False, argparse.SUPPRESS) or action.nargs == 0:
                continue
            said = (action.help or "") % {"default": action.default}
            shown = re.search(r"default:? ([^\s;)]+)", said)
            value = action.default
            same = shown is not None and (float(shown.group(1)) == value if isinstance(value, float)
                                          else shown.group(1).rstrip(":") == str(value))
            if not same:
                problems.append(f"mm7bind {' '.join(words)} {action.option_strings[0]}: default {value}, help {said!r}")
    assert problems == [], problems


def test_the_http_statuses_the_readme_says_are_retried_are_the_policys():
    """"HTTP 5xx and 429" promised retries of a 501 or a 505, which `RetryPolicy` takes as final:
    where the README lists what is tried again (the client's retries, the simulator's reports, and
    `simulate --help`), it names the statuses of `RetryPolicy.http_statuses`, no others."""
    from mm7bind.cli import build_parser
    from mm7bind.retry import RetryPolicy

    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    simulate = " ".join(_subcommands(build_parser())["simulate"].format_help().split())
    places = [readme[readme.index("`RetryPolicy` decides what is tried again:"):],
              readme[readme.index("A report or MO the VASP does not take"):],
              simulate[simulate.index("tries of a report or MO"):]]
    said = []
    for place in places:
        listed = re.search(r"HTTP ((?:\d{3}, )*\d{3},? (?:and|or) \d{3})", place[:300])
        said.append(listed and set(map(int, re.findall(r"\d{3}", listed[1]))))
    assert said == [set(RetryPolicy().http_statuses)] * len(places)


def test_the_api_page_lists_every_attribute_of_a_probe_result():
    """`ProbeResult`s (`version`, ... `ok`) left out `unreachable`, which `probe --json` prints: the
    list is the result's whole set of fields and properties."""
    import inspect

    from mm7bind.probe import ProbeResult

    [row] = [what for what, _where in api_table() if "`ProbeResult`s (" in what]
    listed = re.findall(r"`(\w+)`", row.split("`ProbeResult`s (", 1)[1].split(")", 1)[0])
    public = {f.name for f in dataclasses.fields(ProbeResult)} | {
        n for n, v in inspect.getmembers(ProbeResult) if isinstance(v, property) and not n.startswith("_")}
    assert sorted(listed) == sorted(public)


def test_the_api_page_skips_no_positional_parameter_between_those_it_lists():
    """`Content(parts, smil, multipart_type=None)` hid `content_id` between `smil` and
    `multipart_type`, and `XmlStyle(...)` its `xml_declaration`: read as the signature, the third
    argument of `Content` seemed the multipart type. A documented call lists its parameters in
    their order and, unless it writes `...`, leaves out none that can be passed by name between
    the first and the last it names (keyword-only ones too: `send_bulk`'s `stop_after_unreachable`,
    `SendApi`'s `max_body` and the Outbox's `poll` and `batch` were on no page)."""
    import builtins
    import inspect

    problems, checked = [], 0
    for what, where in api_table():
        modules = _modules_named(where)
        tokens = re.findall(r"`([^`]+)`", what)
        classes = []
        for token in tokens:
            head = re.match(r"([A-Z]\w*(?:\.\w+)*)", token)
            if head and not hasattr(builtins, head[1].split(".")[0]):
                classes += [f for f in (_resolve(m, head[1]) for m in modules) if isinstance(f, type)]
        for token in tokens:
            call = re.fullmatch(r"(\w+(?:\.\w+)*)\((.*)\)", token, re.S)
            if not call:
                continue
            name, args = call.groups()
            target = next((t for t in (_resolve(o, name) for o in [*modules, *classes]) if callable(t)), None)
            try:
                params = [p for p in inspect.signature(target).parameters.values()
                          if p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
            except (TypeError, ValueError):
                continue
            names = [p.name for p in params]
            listed = [k for k in (a.partition("=")[0].strip() for a in _split_args(args)) if k in names]
            if not listed:
                continue
            checked += 1
            at = [names.index(k) for k in listed]
            if at != sorted(at):
                problems.append(f"{name}: {listed} is not its order {names}")
            skipped = [p.name for p in params[min(at): max(at) + 1]
                       if p.name not in listed and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
            if skipped and "..." not in args:
                problems.append(f"{name}: leaves out {skipped}")
    assert checked > 20 and problems == [], problems


def test_the_api_page_documents_the_configuration_as_programs_read_it():
    """Programs read the commands' configuration (`config.load`, then `cfg.make_client()`...): the
    API page named none of it, nor did the code say what its pieces are."""
    import inspect

    from mm7bind import config

    text = " ".join(what for what, where in api_table() if "`mm7bind.config`" in where)
    public = [config.load, config.load_checked, config.check, config.Config, config.Problem, config.ConfigError]
    public += [v for n, v in vars(config.Config).items() if not n.startswith("_") and inspect.isfunction(v)]
    assert [f.__name__ for f in public if not re.search(rf"`[^`]*\b{f.__name__}\b", text)] == []
    assert [f.__name__ for f in public if not (inspect.getdoc(f) or "").strip()
            or (inspect.getdoc(f) or "").startswith(f.__name__ + "(")] == []


def _listed_after(marker: str) -> list[str]:
    """The code-span names the API page lists after `marker`, up to the parenthesis that closes
    the list (or the end of its row)."""
    [row] = [what for what, _where in api_table(API_SECTIONS[1:]) if marker in what]  # (the full table's)
    text, depth, end = row.split(marker, 1)[1], 0, None
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            end = i
            break
    return re.findall(r"`(\w+)(?:\([^`]*\))?`", text[:end])


def test_the_api_page_lists_every_field_of_the_results_a_program_reads():
    """`Result` (`ok`, `status`, ...) named six of its fields (not `response`, `http_status`,
    `retry_after`), `BulkResult` none, the simulator's `Received` neither `content_type` nor
    `received_at`, a handler's `Context` nothing, the store's records (`SentRecord`, `InboxRecord`,
    `OutboxItem`, `Purged`, `TagSummary`) a few: what a program reads of an answer (or a request,
    or a record) is each of these types' whole set of fields and properties."""
    import inspect

    from mm7bind.bulk import BulkResult
    from mm7bind.client import Result
    from mm7bind.receiver import Context
    from mm7bind.simulator import Received, StoredMessage
    from mm7bind.status import StatusInfo
    from mm7bind.store import InboxRecord, OutboxItem, Purged, SentRecord, TagSummary

    problems = []
    for cls, marker in [(Result, "`Result` ("), (BulkResult, "`BulkResult` ("), (Received, "`Received` — "),
                        (StoredMessage, "`StoredMessage` — "), (StatusInfo, "`StatusInfo` ("),
                        (Context, "`Context` ("), (SentRecord, "`SentRecord`: "), (InboxRecord, "`InboxRecord`: "),
                        (OutboxItem, "`OutboxItem` ("), (Purged, "`Purged` ("), (TagSummary, "`TagSummary` (")]:
        public = {f.name for f in dataclasses.fields(cls)} | {
            n for n, v in inspect.getmembers(cls) if isinstance(v, property) and not n.startswith("_")}
        missing = public - set(_listed_after(marker))
        if missing:
            problems.append(f"{cls.__name__}: {sorted(missing)}")
    assert problems == []


def test_the_api_page_names_every_error_class():
    """`SendInterrupted`, which a send cancelled after its request went out is recorded as (the
    `error` of a SentRecord), was on no page: every exception class of `mm7bind.errors` is."""
    from mm7bind import errors

    text = " ".join(what for what, _where in api_table())
    classes = [n for n, v in vars(errors).items()
               if isinstance(v, type) and issubclass(v, BaseException) and v.__module__ == errors.__name__]
    assert len(classes) > 15
    assert [n for n in classes if not re.search(rf"`(?:errors\.)?{n}`", text)] == []


def test_the_api_page_lists_what_an_embedded_server_offers():
    """`serve(...)` → `EmbeddedServer` named `use_ssl_context` alone: not `endpoint`, the URL the
    MMSC is given, nor how to stop it."""
    import inspect

    from mm7bind.server import EmbeddedServer

    listed = set(_listed_after("`EmbeddedServer` ("))
    public = {n for n, _v in inspect.getmembers(EmbeddedServer) if not n.startswith("_")}
    assert public - listed == set()


def test_the_api_on_one_page_gives_the_embedded_servers_url_for_the_mmsc():
    """The one-page table named `url` alone, scheme, host and port: given to an MMSC (a simulator's
    `vasp_url`), it posted to "/" and got 404s. `endpoint`, with the receiver's path, is that URL."""
    [row] = [what for what, _where in api_table(API_SECTIONS[:1]) if "`EmbeddedServer` (" in what]
    assert "`endpoint`" in row.split("`EmbeddedServer` (", 1)[1], row


def test_the_api_page_names_every_member_of_the_classes_a_program_builds_and_reads():
    """`Client.close()`, `Content.add`, `Part.size`, `Envelope.is_fault`, `Address.parse`,
    `Status.info` and every setting of `RetryPolicy` were on no page: of the classes a program
    makes and reads, each public field, property and method is named on the API page."""
    import mm7bind

    spans = re.findall(r"`([^`]*)`", readme_sections())
    missing = []
    for cls in [mm7bind.Client, mm7bind.AsyncClient, mm7bind.Content, mm7bind.Part, mm7bind.Envelope,
                mm7bind.HttpMessage, mm7bind.Fault, mm7bind.Status, mm7bind.Address, mm7bind.Recipients,
                mm7bind.RetryPolicy, mm7bind.EmbeddedServer, mm7bind.Metrics]:
        public = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
        public |= {n for n in dir(cls) if not n.startswith("_")
                   and next(k for k in cls.__mro__ if n in vars(k)).__module__.startswith("mm7bind")}
        missing += [f"{cls.__name__}.{n}" for n in sorted(public)
                    if not any(re.search(rf"(?<![\w-]){n}\b", span) for span in spans)]
    assert missing == []


# -- settings, variables and defaults named outside their reference --------------------------------

# The configuration block's values that are examples, not defaults (a default MMSC URL, no credentials,
# no codes, no headers, no allow-list would show a reader nothing to copy).
TOML_EXAMPLES = {("mmsc", "urls"), ("mmsc", "username"), ("mmsc", "password"), ("mmsc", "headers"),
                 ("vasp", "vaspid"), ("vasp", "vasid"), ("vasp", "service_code"), ("vasp", "sender_address"),
                 ("vasp", "country_code"), ("receiver", "allow")}


def test_the_readme_configuration_shows_the_defaults_but_for_its_examples():
    """A key the block gives the value a file without it gets (`read_timeout = 60`, `rotate =
    "size"`): a default changed in the code leaves no stale value there; the examples are few and
    named, and each differs from its default (else it is no example)."""
    from mm7bind.config import Config

    data = tomllib.loads(readme_toml())
    defaults = Config()
    problems = []
    for section, values in data.items():
        for key, value in values.items():
            default = getattr(getattr(defaults, section), key)
            if ((section, key) in TOML_EXAMPLES) == (value == default):
                problems.append(f"[{section}] {key} = {value!r}: the default is {default!r}")
    assert problems == []


def test_every_setting_and_variable_the_readme_and_the_help_name_is_one():
    """`[mmsc] upload_min_rate`, `[outbox] concurrency`, `MM7BIND_OUTBOX_CONCURRENCY`: a setting
    named in prose or in a command's help, or its variable, is a key of that section."""
    from mm7bind.cli import build_parser
    from mm7bind.config import COMMAND_PASSWORDS, ENV_PREFIX, SECTIONS

    def walk(parser):
        yield parser.format_help()
        for sub in _subcommands(parser).values():
            yield from walk(sub)

    keys = {name: {f.name for f in dataclasses.fields(section)} for name, section in SECTIONS.items()}
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    prose = re.sub(r"```toml\n.*?```", "", text, flags=re.S)
    helps = " ".join(" ".join(h.split()) for h in walk(build_parser()))
    problems, checked = [], 0
    english = {"and", "as", "with", "or", "is", "settings", "configuration", "defaults"}  # "[vasp] and [store]"
    for where, words in (("README", prose), ("--help", helps)):
        for section, key in re.findall(rf"\[({'|'.join(SECTIONS)})\]`? `?([a-z_]+)", words):
            checked += 1
            if key not in keys[section] and key not in english:
                problems.append(f"{where}: [{section}] {key}")
    misspelt = {"MM7BIND_RECEVIER_PORT"}  # (the README's example of a warning)
    commands = set(COMMAND_PASSWORDS)  # (simulate's and probe's passwords: no settings)
    for variable in set(re.findall(rf"\b{ENV_PREFIX}[A-Z][A-Z0-9_]*[A-Z0-9]\b", text)) - misspelt - commands:
        section, _, key = variable.removeprefix(ENV_PREFIX).lower().partition("_")
        checked += 1
        if key not in keys.get(section, ()):
            problems.append(f"README: {variable}")
    assert checked > 40 and problems == []


def test_the_defaults_the_command_reference_writes_are_the_commands():
    """`[--concurrency 4]`, `[--limit 50]`, `[--stale-after 300]`, `[--port 9090]`: a value written
    in the command block (not a placeholder such as N, FILE or URL), or the first of its
    alternatives (`[--auth basic|digest]`), is the option's default."""
    from mm7bind.cli import build_parser

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text[text.index("## The command"):]
    block = block[block.index("```\n") + 4:]
    block = block[: block.index("```")]
    top = _subcommands(build_parser())
    problems, checked, current = [], 0, None
    for line in block.splitlines():
        if line.startswith("mm7bind "):
            words = [w for w in re.split(r"\s{2,}", line)[0].split()[1:3] if re.fullmatch(r"[a-z][a-z-]*", w)]
            current = top.get(words[0]) if words else None
            if current is not None and len(words) > 1 and words[1] in _subcommands(current):
                current = _subcommands(current)[words[1]]
        if current is None:
            continue
        for option, value in re.findall(r"\[(--[a-z][a-z-]*) ([^\s\]]+)[\s\]]", line):
            value = value.split("|")[0]  # (of alternatives, `--dialect standard|cmcc|...`, the default first)
            action = next(a for a in current._actions if option in a.option_strings)
            if action.default is None or value.isupper() or value.startswith(("[", "...")):
                continue  # (no default, or a placeholder: N, FILE, RECIPIENT=STATUS)
            checked += 1
            default = action.default[0] if isinstance(action.default, list) else action.default
            if not (float(value) == default if isinstance(default, (int, float)) else value == str(default)):
                problems.append(f"{current.prog} {option} {value}: the default is {default!r}")
    assert checked >= 10 and problems == [], problems


def test_every_option_the_readme_prose_gives_a_command_is_one_it_takes():
    """`send --queue`, `store purge --include-failed`, `inspect --extract`, `probe --json`: an
    option written after its command, in prose as in the command block, is that command's."""
    from mm7bind.cli import build_parser

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    top = _subcommands(build_parser())
    problems, checked = [], 0
    for command, action, option in re.findall(
            rf"\b({'|'.join(sorted(top, key=len, reverse=True))})(?: ([a-z]+))? (--[a-z][a-z0-9-]*)", text):
        parser = top[command]
        if action and action in _subcommands(parser):
            parser = _subcommands(parser)[action]
        elif _subcommands(parser):  # (`store --json`, an action's option said of them all)
            checked += 1
            if not any(option in a.option_strings for sub in _subcommands(parser).values() for a in sub._actions):
                problems.append(f"{command} {option}")
            continue
        checked += 1
        if not any(option in a.option_strings for a in parser._actions):
            problems.append(f"{command} {action} {option}".replace("  ", " "))
    assert checked > 15 and problems == [], problems


def test_the_commands_taking_the_configuration_are_those_the_readme_names():
    """"`send`, `serve`, `replay` and `store` take `--config FILE` (`-c` ...) and `-v` ... `simulate`
    takes `-v` too": the commands whose options the command block leaves out as said once."""
    from mm7bind.cli import build_parser

    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    sentence = text[text.index("where the script is not on PATH."):]
    sentence = sentence[: sentence.index(" take `--config FILE`")]
    configured = set(re.findall(r"`([a-z]+)`", sentence))
    verbose = configured | set(re.findall(r"`([a-z]+)` takes `-v` too", text))

    def takes(parser, option) -> bool:
        subs = _subcommands(parser)
        return all(takes(s, option) for s in subs.values()) if subs else any(
            option in a.option_strings for a in parser._actions)

    top = _subcommands(build_parser())
    assert {n for n, p in top.items() if takes(p, "--config")} == configured
    assert {n for n, p in top.items() if takes(p, "-c") and takes(p, "--conn-config")} == configured
    assert {n for n, p in top.items() if takes(p, "-v")} == verbose


def readme_between(start: str, end: str, joined: bool = False) -> str:
    """The README from `start` up to the next `end` (`joined`: read with each run of whitespace
    as one space, for a sentence written across lines)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    if joined:
        text = " ".join(text.split())
    part = text[text.index(start):]
    return part[: part.index(end, 1)]


def unnamed(keys: set[str], text: str, named: str = r"\w+") -> list[str]:
    """The keys `text` does not name: not among its words (or what the pattern `named` finds)."""
    return sorted(keys - set(re.findall(named, text)))


def json_help(command: str) -> str:
    """The help `command`'s --json option gives."""
    from mm7bind.cli import build_parser

    [text] = [a.help for a in _subcommands(build_parser())[command]._actions if "--json" in a.option_strings]
    return text


def test_the_keys_the_readme_gives_inspects_json_are_the_ones_it_prints(tmp_path, capsys):
    """`inspect` was said to print "version, type, TransactionID, ... attachments (type, id,
    location, size, sha256)": its keys are message_type, transaction_id, content_type, content_id,
    content_location, and more besides. A script reads them by name: each key of what it prints
    (of an HTTP capture with content, extracted) is named in its entry of the command block."""
    import json

    import mm7bind as mm7
    from mm7bind.cli import main

    content = mm7.Content()
    content.add_text("hello", charset="utf-8")
    content.add_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64) + b"\xff\xd9", filename="card.jpg")
    out = mm7.encode(mm7.SubmitReq(recipients=mm7.Recipients(to=["+8613800138000"]), content=content),
                     transaction_id="t-1")
    capture = tmp_path / "submit.http"
    capture.write_bytes(b"POST /mm7 HTTP/1.1\r\nContent-Type: " + out.content_type.encode()
                        + b"\r\n\r\n" + out.to_bytes())
    assert main(["inspect", str(capture), "--extract", str(tmp_path / "parts")]) == 0
    printed = json.loads(capsys.readouterr().out)
    keys = set(printed) | {k for part in printed["attachments"] for k in part} | set(printed["http"])
    assert {"message_type", "transaction_id", "content_id", "filename", "extracted"} <= keys  # (what it made)

    assert unnamed(keys, readme_between("\nmm7bind inspect ", "```")) == []


def test_the_keys_the_readme_and_the_help_give_mos_json_are_the_ones_it_prints(capsys):
    """`mo --json` printed a `message_id` (null) that neither the README nor its help named."""
    import json

    from mm7bind.cli import main
    from mm7bind.simulator import Simulator
    from mm7bind.testreceiver import RunningReceiver

    with Simulator() as sim, RunningReceiver() as vasp:
        sim.config.vasp_url = vasp.url
        assert main(["mo", "--simulator", sim.server.url, "--json"]) == 0
    keys = set(json.loads(capsys.readouterr().out))
    assert {"operation", "message_id", "transaction_id", "status"} <= keys

    entry = readme_between("\nmm7bind mo ", "\nmm7bind ")
    assert (unnamed(keys, entry), unnamed(keys, json_help("mo"))) == ([], [])


def test_the_keys_the_readme_gives_send_queue_json_are_the_ones_it_prints(tmp_path, monkeypatch, capsys):
    """`send --queue --json` printed `maybe_delivered`, `maybe_delivered_to`, `batches`,
    `interrupted` and `not_queued` beside the five keys the README listed."""
    import json

    from mm7bind.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "queue.toml").write_text('[store]\npath = "queue.db"\n', encoding="utf-8")
    assert main(["send", "-c", "queue.toml", "--to", "+8613800000001", "--to", "+8613800000002", "--text", "hi",
                 "--queue", "--json"]) == 0
    keys = set(json.loads(capsys.readouterr().out))
    assert {"queued", "items"} <= keys

    said = readme_between("with `--queue`, `queued`", "`store sent --summary --json`", joined=True)
    assert unnamed(keys, said, r"`(\w+)`") == []


def test_the_keys_the_readme_gives_the_forwarded_json_are_the_ones_posted():
    """An application in another language reads what `--forward` posts by its keys: the README
    said a part's "type, charset, ids, file name", for `content_type`, `content_id`,
    `content_location` and `filename`, and left out `smil`."""
    import mm7bind as mm7
    from mm7bind import versions
    from mm7bind.handlers import ForwardingHandler

    content = mm7.Content()
    content.add_text("hello", charset="utf-8")
    content.add_bytes(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64) + b"\xff\xd9", filename="card.jpg")
    out = mm7.encode(mm7.DeliverReq(sender=mm7.Number("+8613800000001"), content=content), transaction_id="t-1")
    env = mm7.decode(out.to_bytes(), out.content_type)  # (as received: with the generated SMIL and ids)
    ctx = mm7.Context("t-1", versions.get("REL-6-MM7-1-4"), [], "127.0.0.1", {})
    posted = ForwardingHandler("http://127.0.0.1:9/app").payload("deliver", env.body, ctx)
    keys = set(posted) | {k for part in posted["parts"] for k in part}
    assert {"content_location", "filename", "smil", "data", "text"} <= keys

    said = readme_between("**Services in other languages**", " — with `X-MM7bind-Event`", joined=True)
    assert unnamed(keys, said, r"`(\w+)`") == []


def test_the_keys_the_readme_and_the_help_give_validates_json_are_the_ones_it_prints(tmp_path, capsys):
    """`validate --json` of a packet capture gave each message a `capture` (where it went) that
    neither its entry in the README nor its help named."""
    import json

    import mm7bind as mm7
    from mm7bind.cli import main

    from .pcapgen import Flow, http, pcap

    out = mm7.encode(mm7.SubmitReq(recipients=mm7.Recipients(to=["+8613800138000"])), transaction_id="t-1")
    flow = Flow().open()
    body = out.to_bytes()
    flow.send(True, http("POST /mm7 HTTP/1.1", {"Content-Type": out.content_type, "Content-Length": str(len(body))},
                         body))
    (tmp_path / "post.pcap").write_bytes(pcap(flow.close().packets))
    (tmp_path / "post.xml").write_bytes(mm7.encode_envelope(mm7.SubmitReq(recipients=mm7.Recipients(to=["1"])),
                                                            transaction_id="t-2", version="REL-6-MM7-1-4"))
    assert main(["validate", "--json", str(tmp_path / "post.pcap"), str(tmp_path / "post.xml")]) == 0
    printed = json.loads(capsys.readouterr().out)
    keys = {k for entry in printed for k in entry} | {k for entry in printed for k in entry.get("capture", {})}
    assert "capture" in keys and "start_line" in keys

    entry = readme_between("\nmm7bind validate ", "\nmm7bind ")
    assert (unnamed(keys, entry), unnamed(keys, json_help("validate"))) == ([], [])


def test_the_keys_the_readme_gives_a_reports_outcome_are_the_ones_answered():
    """`/control/report` and `/control/read` (`send_report`, `send_read_reply`) answer an outcome
    that also names its `operation`, `message_id` and `recipient`: the README listed four keys."""
    import mm7bind as mm7
    from mm7bind.simulator import Simulator
    from mm7bind.testreceiver import RunningReceiver

    with Simulator(report_delay=60) as sim, RunningReceiver() as vasp:  # (no scheduled report meanwhile)
        sim.config.vasp_url = vasp.url
        with mm7.Client(sim.url) as client:
            result = client.submit(mm7.SubmitReq(recipients=mm7.Recipients(to=["+8613800000001"])))
        outcomes = [sim.send_report(result.message_id, "+8613800000001"),
                    sim.send_read_reply(result.message_id, "+8613800000001")]
    keys = {k for outcome in outcomes for k in outcome}
    assert {"operation", "message_id", "recipient", "status"} <= keys

    said = readme_between("both answer the outcome (", "), or ", joined=True)
    assert unnamed(keys, said, r"`(\w+)`") == []


def test_the_keys_the_readme_gives_the_send_apis_queue_answers_are_the_ones_answered():
    """A queued /send's 202 and `GET /api/queue/<id>` answered keys (`transaction_id`, `tag`,
    `attempts`, `created_at`, `expires_at`...) the README did not name: a caller in another
    language reads them by name."""
    import json

    import mm7bind as mm7
    from mm7bind.outbox import Outbox

    from .fake_http import dead_url

    with mm7.Client(dead_url(), store=mm7.MemoryStore()) as client:  # (nothing is sent: the item stays queued)
        api = mm7.SendApi(client, outbox=Outbox(client))
        queued = api.handle("POST", "/send", json.dumps({"to": "+8613800000000", "text": "later", "queue": True,
                                                           "tag": "q"}).encode(), {}, "127.0.0.1")
        state = api.handle("GET", "/queue/1", b"", {}, "127.0.0.1")
    assert (queued.status, state.status) == (202, 200)
    keys = set(json.loads(queued.body)) | set(json.loads(state.body))
    assert {"queued", "due", "id", "state", "created_at", "next_at"} <= keys

    said = readme_between("With `[outbox] enabled = true`, a message sent with", "A method a path does not take",
                          joined=True)
    assert sorted(keys - set(re.findall(r'`\{?"?(\w+)', said)) - set(re.findall(r'"(\w+)"', said))) == []


def test_serve_and_simulate_stopped_by_ctrl_c_exit_as_the_readme_says(tmp_path):
    """"130 interrupted (Ctrl-C ...)" read as every command's: `serve` and `simulate` run until
    stopped, and Ctrl-C stops them with 0, which the README now says beside the 130."""
    import os
    import signal
    import subprocess
    import sys
    import time

    text = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    paragraph = text[text.index("Exit codes: "):]
    paragraph = paragraph[: paragraph.index("; 141 ")]
    assert "`serve` and `simulate`, which run until stopped so, exit 0" in paragraph
    ctrl_c_able = "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); " \
                  "runpy.run_module('mm7bind.cli', run_name='__main__', alter_sys=True)"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for command in ("serve", "simulate"):
        out = tmp_path / f"{command}.out"
        with open(out, "w", encoding="utf-8") as sink:
            proc = subprocess.Popen([sys.executable, "-c", ctrl_c_able, command, "--port", "0"], cwd=tmp_path,
                                    env=env, stdout=sink, stderr=subprocess.STDOUT)
            try:
                deadline = time.monotonic() + 60
                while "Ctrl-C stops" not in out.read_text(encoding="utf-8") and proc.poll() is None \
                        and time.monotonic() < deadline:
                    time.sleep(0.05)
                proc.send_signal(signal.SIGINT)
                assert proc.wait(timeout=30) == 0, out.read_text(encoding="utf-8")
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()


def test_the_keys_the_readme_gives_versions_json_are_the_ones_it_prints(capsys):
    """`versions --json` prints `mm7_versions`, which the README called "MM7Version values"."""
    import json

    from mm7bind.cli import main

    assert main(["versions", "--json"]) == 0
    keys = {k for entry in json.loads(capsys.readouterr().out) for k in entry}
    assert "mm7_versions" in keys
    assert unnamed(keys, readme_between("\nmm7bind versions ", "\nmm7bind ")) == []


def test_every_setting_of_the_client_and_the_receiver_is_in_the_readme():
    """`ClientConfig.rewrite`, `ReceiverConfig.mime_limits`, `SimulatorConfig.read_delay` and seven
    of `Profile`'s were in no part of the README (`round_robin` in the configuration block alone):
    each setting the client, the receiver, the simulator and a profile take is named in its prose."""
    from mm7bind.client import ClientConfig
    from mm7bind.envelope import XmlStyle
    from mm7bind.mime import MimeLimits
    from mm7bind.profiles import MimeLayout, Profile
    from mm7bind.receiver import ReceiverConfig
    from mm7bind.simulator import SimulatorConfig
    from mm7bind.xmlsafe import XmlLimits

    prose = re.sub(r"```.*?```", "", (ROOT / "README.md").read_text(encoding="utf-8"), flags=re.S)
    spans = " ".join(re.findall(r"`([^`]+)`", prose))
    classes = (ClientConfig, ReceiverConfig, SimulatorConfig, Profile, MimeLayout, XmlStyle, MimeLimits, XmlLimits)
    missing = [f"{cls.__name__}.{f.name}" for cls in classes for f in dataclasses.fields(cls)
               if not re.search(rf"(?<![\w-]){f.name}\b", spans)]
    assert missing == []
