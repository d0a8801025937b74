"""China Mobile's configuration files, read unchanged: mm7Config.xml and ConnConfig.xml (manual §3.2).

Every key maps onto an mm7bind setting (the table is in README.md); keys that cannot have an effect
here are reported as warnings, never silently ignored. A file that worked with the SDK keeps working:
`UseSSL` is ignored as the SDK ignored it (the shipped files say true, yet the SDK always spoke plain
HTTP, so honouring it would cut an SP off its MMSC); TLS is asked for with an https:// mmscIP or a
TOML configuration. Element-name case slips are reported (the SDK silently ignored them), and missing
numeric keys fall back to the manual's defaults (the SDK crashed).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from lxml import etree

from ..auth import QOPS
from ..config import MOST_DIGITS, Config, ConfigError, Problem, check, quoted, unusable_file_name, usable
from ..display import shown_url
from ..envelope import charset_label
from ..errors import DecodeError
from ..hints import did_you_mean
from ..xmlsafe import parse_xml
from .charsets import JAVA_ALIASES, python_charset

NAMESPACE = "http://mms.chinamobile.com/mm7ConfigSchema"

# element → (type, default used when the file leaves it out)
MM7_KEYS: dict[str, tuple[type, object]] = {
    "AuthenticationMode": (int, 0),
    "UserName": (str, ""),
    "Password": (str, ""),
    "Digest": (str, ""),
    "MaxMessageSize": (int, 100_000),
    "LogPath": (str, ""),
    "logLevel": (int, 1),
    "Charset": (str, "UTF-8"),
    "mmscURL": (str, "/mm7"),
    "mmscIP": (list, []),
    "MmscID": (str, "mmsc"),
    "UseSSL": (bool, False),
    "ListenIP": (str, "0.0.0.0"),
    "ListenPort": (int, 80),
    "BackLog": (int, 50),
    "TimeOut": (int, 90_000),
    "ReSendCount": (int, 2),
    "LogNum": (int, 100),
    "LogInterval": (int, 60),
    "LogSize": (int, 500),
}
# The SDK parses these with Integer.parseInt and no guard: a file without them made it crash.
SDK_REQUIRED = ("AuthenticationMode", "MaxMessageSize", "logLevel", "ListenPort", "BackLog", "TimeOut",
                "ReSendCount", "LogNum", "LogInterval", "LogSize")
# Read by the SDK as text, null when left out (a request line without a path, a log file named
# null_..., credentials "null:null"): a file without them did not work as meant, so each is said,
# with what is used instead.
SDK_TEXTS = {"UserName": "no username", "Password": "an empty password", "Charset": "UTF-8, the manual's default",
             "mmscURL": "the path /mm7", "LogPath": "no log file", "MmscID": "the log file is named mmsc.log"}
# Of those, the ones an empty element leaves as unusable as a missing one (a charset named "", a
# request line without a path, a log file named "/_..."): read as left out, and said as empty.
SDK_EMPTY_TEXTS = ("Charset", "mmscURL", "LogPath", "MmscID")
# Spellings the SDK itself wrote for a key (MM7Config.save()), read with a warning.
SDK_SPELLINGS = {"MmscId": "MmscID"}
# ConnConfig.xml's keys the SDK's connection pool read with no guard (KeepAliveTimeout as soon as a
# sender was made): a file without one made it fail. ScanInterval came after V1.5.3.
CONN_SDK_REQUIRED = ("KeepAlive", "MaxKeepAliveRequests", "ServerMaxKeepAlive", "MinKeepAliveRequests",
                     "KeepAliveTimeout", "step")
CONN_KEYS: dict[str, tuple[type, object]] = {
    "KeepAlive": (str, "on"),
    "MaxKeepAliveRequests": (int, 30),
    "ServerMaxKeepAlive": (int, 30),
    "MinKeepAliveRequests": (int, 1),
    "ScanInterval": (int, 300),
    "KeepAliveTimeout": (int, 50_000),
    "step": (int, 1),
}
JAVA_INT = (-2**31, 2**31 - 1)  # the numbers Integer.parseInt reads
JAVA_TRIMMED = "".join(map(chr, range(0x21)))  # what Java's String.trim() removes: U+0000–U+0020
LOG_RANGES = (("LogNum", 1, 9999, "files"), ("LogInterval", 1, 1440, "minutes"), ("LogSize", 1, 10_000, "KB"))
MMSC_MAX_MESSAGE = 128 * 1024  # "目前最大支持128K" (manual §4.2.1, §4.2.3)
# logLevel 0 is "no log": no level means that, so its records go to the null device (see read()).
# 1, the error log, is WARNING: a send or a request that failed is logged at that level.
LOG_LEVELS = {0: "CRITICAL", 1: "WARNING", 2: "WARNING", 3: "INFO", 4: "INFO", 5: "DEBUG", 6: "DEBUG", 7: "DEBUG"}
# What Integer.parseInt read: a sign, then digits of any script (Character.digit), after the trim
# (no other blank, nor int()'s underscores); a digit past U+FFFF, two UTF-16 units to Java, is none
# (so: \d, less what lies past U+FFFF).
_WHOLE = re.compile(r"([+-]?)([^\W\D\U00010000-\U0010FFFF]+)")


def _past_java_int(number: str) -> str:
    return f"{number} is past what the SDK reads (a Java int: {JAVA_INT[0]} to {JAVA_INT[1]})"


def _digits(number: int) -> int:
    """How many digits `number` has; str() refuses a number of more than 4300 with a ValueError."""
    count = max(1, int((abs(number).bit_length() - 1) * 0.30102999566))  # (log10(2) from below: never too many)
    while abs(number) >= 10**count:
        count += 1
    return count


def _whole_number(text: str) -> tuple[int | None, str]:
    """The whole number a file's text is, as Integer.parseInt read it, or None and why not. int()
    alone reads texts parseInt refused (1_000, a number in blanks Java's trim left), refuses a number
    of more than 4300 digits (leading zeros too, which parseInt read past) with the ValueError of a
    text that is no number, and takes long to read a longer one."""
    found = _WHOLE.fullmatch(text)
    if found is None:
        return None, f"{quoted(text)} is not a whole number"
    digits = found[2].lstrip("0")
    digits = digits[next((i for i, digit in enumerate(digits) if int(digit)), len(digits)):]  # (other scripts' 0s)
    if len(digits) > MOST_DIGITS:
        return None, _past_java_int(f"a number of {len(digits)} digits")
    return int(found[1] + (digits or "0")), ""


def _is_host_and_port(address: str) -> bool:
    """Whether an mmscIP is a host (name, IPv4, or [IPv6]) with an optional :port of 1-65535."""
    found = re.fullmatch(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::([0-9]{1,5}))?", address)
    return found is not None and (found[1] is None or 0 < int(found[1]) < 65536)


def _port_as_java_read_it(address: str, where: str, problems: list[Problem]) -> str:
    """An mmscIP whose port has other digits than 0-9 (a Chinese input method's full-width ８０８０)
    with the port Java's Integer.parseInt read from them, which the SDK dialled; a URL cannot hold them."""
    found = re.fullmatch(r"(.*):(\d+)", address) if "://" not in address else None
    if found is None or found[2].isascii():
        return address
    number, why = _whole_number(found[2])
    if why:  # (no port: said as no address below)
        return address
    port = str(number)
    problems.append(Problem("warning", f"{where}:mmscIP", f"port {found[2]} read as {port} (its digits are not ASCII "
                            "0-9; the SDK read them so)"))
    return f"{found[1]}:{port}"


def _missing(keys, found: dict, where: str, problems: list[Problem]) -> list[str]:
    """The `keys` a file left out that nothing is said about yet (a value refused, say, is said
    with its reason, not also as missing)."""
    return [key for key in keys if key not in found and not any(p.where == f"{where}:{key}" for p in problems)]


def _root_written(root_name: str, namespace: str | None) -> str:
    """The root element as China Mobile's files write it."""
    return f'<vasp:{root_name} xmlns:vasp="{namespace}">' if namespace else f"<{root_name}>"


def read_settings(path: str | Path, keys: dict, root_name: str, namespace: str | None, problems: list[Problem]) -> dict:
    """The settings of `keys` that one SDK file writes, typed; what is wrong in it added to `problems`."""
    where = Path(path).name
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        said = f"cannot read: {exc.strerror or exc}"
        if isinstance(exc, FileNotFoundError):
            # (the SDK's examples give "./config/..." paths: taken from the working directory, not the
            # program's folder, which a program started from elsewhere does not find)
            if not Path(path).is_absolute():
                said += f" ({path}, from the working directory {Path.cwd()})"
            if root_name == "connection":
                said += "; without one, give no ConnConfig.xml: the manual's link settings are used"
        problems.append(Problem("error", where, said))
        return {}
    try:
        root = parse_xml(data, where=where).root
    except DecodeError as exc:  # (its text starts with the file's name, which the problem names already)
        problems.append(Problem("error", where, str(exc).removeprefix(f"{where}: ")))
        return {}
    qn = etree.QName(root)
    if qn.localname != root_name:
        # (the two files given the other's place: each says where it goes)
        swapped = {("connection", "MM7Config"): ": this is a ConnConfig.xml (--conn-config, or "
                                                "set_conn_config_name, beside the mm7Config.xml)",
                   ("MM7Config", "connection"): ": this is an mm7Config.xml (--config, or MM7Config(path); "
                                                "ConnConfig.xml is the <connection> file)"}
        swapped_hint = swapped.get((qn.localname, root_name), "")
        written = _root_written(root_name, namespace)
        settings = [el for el in root if isinstance(el.tag, str)
                    and SDK_SPELLINGS.get(etree.QName(el).localname, etree.QName(el).localname) in keys]
        if swapped_hint or not settings:
            problems.append(Problem("error", where, f"root element is {qn.localname}, expected {root_name}"
                                    + (swapped_hint or f" (the file is {written} holding one element per setting)")))
            return {}
        # The SDK read the root's children whatever its name (JDOM's getRootElement): a file that
        # worked with it, `<mm7Config>` written for `<MM7Config>` say, is read as it read it.
        problems.append(Problem("warning", where, f"root element is {qn.localname}, not {root_name}: read "
                                f"all the same, as China Mobile's SDK read it (its files: {written})"))
    elif namespace is not None and qn.namespace != namespace:
        problems.append(Problem("warning", where, f"root element not in namespace {namespace}"))
    values: dict[str, object] = {}
    for el in root:
        if not isinstance(el.tag, str):
            continue
        name = etree.QName(el).localname
        if name in SDK_SPELLINGS and SDK_SPELLINGS[name] in keys:
            problems.append(Problem("warning", f"{where}:{name}", f"read as {SDK_SPELLINGS[name]} (the SDK's save() "
                                    f"writes {name}, which its load() did not read back)"))
            name = SDK_SPELLINGS[name]
        # Trimmed as the SDK's getTextTrim() did (Java's trim: control characters and spaces, no
        # other blank), the password too: the MMSC was set up with the password the SDK sent.
        text = (el.text or "").strip(JAVA_TRIMMED)
        if (el.text or "") != text:  # (a misspelt <password> is no less secret: its value is not quoted)
            shown = "the value" if "password" in name.lower() else quoted(shown_url(text))
            problems.append(Problem("warning", f"{where}:{name}", f"spaces around {shown} removed"))
        if name not in keys:
            same = [k for k in keys if k.lower() == name.lower()]
            if same:
                problems.append(Problem("error", f"{where}:{name}",
                                        f"element names are case-sensitive: {name} is not {same[0]} (the SDK ignores it)"))
            else:
                problems.append(Problem("warning", f"{where}:{name}", "unknown element, ignored"
                                        + did_you_mean(name, keys)))
            continue
        kind = keys[name][0]
        if kind is list:
            values.setdefault(name, []).append(text)
        elif kind is int:
            number, why = _whole_number(text)
            if why:
                problems.append(Problem("error", f"{where}:{name}", why))
            else:
                values[name] = number
        elif kind is bool:
            if text.lower() not in ("true", "false"):
                # only UseSSL is boolean, and it has no effect: the SDK accepted any text there
                problems.append(Problem("warning", f"{where}:{name}", f"{quoted(text)} is not true or false"))
            values[name] = text.lower() == "true"
        else:
            values[name] = text
    return values


def _java_ints(values: dict[str, object], keys: dict[str, tuple[type, object]], where: str,
               problems: list[Problem]) -> None:
    """Each whole number past a Java int said as an error (the manual's value in its place, for the
    checks after this one): the SDK's Integer.parseInt refused it; taken, a BackLog of 99999999999
    ended the receiver's start with an OverflowError, a TimeOut or ListenPort was said as another
    setting's error, a ReSendCount was taken."""
    for key, value in list(values.items()):
        if keys[key][0] is int and not JAVA_INT[0] <= int(value) <= JAVA_INT[1]:
            digits = _digits(value)
            said = str(value) if digits <= MOST_DIGITS else f"a number of {digits} digits"
            problems.append(Problem("error", f"{where}:{key}", _past_java_int(said)))
            values[key] = keys[key][1]


def read(path: str | Path | None, conn_path: str | Path | None = None,
         overrides: dict[str, object] | None = None) -> tuple[Config, list[Problem]]:
    """The mm7bind Config a pair of China Mobile files describes, and every problem found;
    `overrides`: keys of mm7Config.xml set in code over the file's (the SDK's setters), typed;
    `path` None: no file, the keys set in code alone (the SDK's `new MM7Config()` and its setters)."""
    problems: list[Problem] = []
    where = Path(path).name if path is not None else "mm7Config.xml"
    v = read_settings(path, MM7_KEYS, "MM7Config", NAMESPACE, problems) if path is not None else {}
    if any(p.level == "error" and p.where == where for p in problems):
        return Config(source=str(path)), problems
    v.update(overrides or {})
    empty = [key for key in SDK_EMPTY_TEXTS if v.get(key) == ""]
    for key in empty:
        del v[key]
    # (set in code, a number left out is one no setter was called for: no crash, the manual's value)
    for key in _missing(SDK_REQUIRED if path is not None else (), v, where, problems):
        default = MM7_KEYS[key][1]
        problems.append(Problem("warning", f"{where}:{key}", f"missing (the SDK would fail); using {default}"))
    logs = v.get("logLevel", MM7_KEYS["logLevel"][1]) != 0
    for key in _missing(SDK_TEXTS, v, where, problems):
        if key in ("LogPath", "MmscID") and not (logs and (key == "LogPath" or v.get("LogPath"))):
            continue  # (they name the log file: no matter when there is none)
        how = "empty" if key in empty else "missing (the SDK read it as null)" if path is not None else "not set"
        problems.append(Problem("warning", f"{where}:{key}", f"{how}: {SDK_TEXTS[key]}"))
    _java_ints(v, MM7_KEYS, where, problems)
    get = {k: v.get(k, d) for k, (_, d) in MM7_KEYS.items()}
    cfg = Config(source=str(path) if path is not None else "mm7Config.xml keys set in code")
    m, r, lg = cfg.mmsc, cfg.receiver, cfg.logging
    m.dialect = "cmcc"
    ips = [_port_as_java_read_it(ip, where, problems) for ip in get["mmscIP"]]
    if not ips:
        problems.append(Problem("error", f"{where}:mmscIP", "no MMSC address (mmscIP) given"))
    not_addresses = []  # (said here, by the file's name: not again of the URLs made of them)
    for ip in ips:
        # ip or host, :port optional (the SDK split it at the colon and dialled it): anything else
        # failed there at every send, and here made a URL that fails or posts to another path
        if ip and "://" not in ip and not _is_host_and_port(ip):  # (an empty one: check() says it)
            problems.append(Problem("error", f"{where}:mmscIP",
                                    f"{quoted(shown_url(ip))} is no address (ip or host, :port optional)"))
            not_addresses.append(ip)
    path_part = str(get["mmscURL"]).strip() or "/"
    if "://" in path_part:
        # The SDK wrote it as the request-URI, absolute form, on a connection to mmscIP: the MMSC
        # went by its path. (A host there was never dialled.)
        try:
            parts = urlsplit(path_part)
        except ValueError as exc:  # (an unbalanced [ in its host)
            problems.append(Problem("error", f"{where}:mmscURL", f"{quoted(shown_url(path_part))} is no URL: {exc}"))
            parts = urlsplit("/")
        else:
            problems.append(Problem("warning", f"{where}:mmscURL", f"{shown_url(path_part)} is a whole URL: its path is "
                                    "used, sent to the mmscIP addresses as the SDK did (not to "
                                    f"{parts.netloc.rpartition('@')[2]})"))
        path_part = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if not path_part.startswith("/"):
        path_part = "/" + path_part
    # Plain http, as the SDK always spoke; an mmscIP written as a URL keeps its own scheme (https).
    m.urls = [f"{ip}{path_part}" if "://" in ip else f"http://{ip}{path_part}" for ip in ips]
    said_urls = [repr(shown_url(f"http://{ip}{path_part}")) for ip in not_addresses]
    if get["UseSSL"]:
        problems.append(Problem("warning", f"{where}:UseSSL",
                                "true is ignored, as in the SDK (it always used plain http); for TLS write mmscIP as "
                                "https://host[:port] or use a TOML configuration with an https URL"))
    m.username = get["UserName"] or ""
    m.password = get["Password"] or ""
    m.auth = "auto"  # as the SDK's sender: Basic, and Digest when the MMSC asks for it
    mode = get["AuthenticationMode"]
    if mode not in (0, 1, 2):
        problems.append(Problem("error", f"{where}:AuthenticationMode", f"{mode} is not 0 (none), 1 (Basic) or 2 (Digest)"))
    else:
        r.auth = {0: "none", 1: "basic", 2: "digest"}[mode]
        r.username, r.password = m.username, m.password
    qop = (get["Digest"] or "").strip().lower()
    if qop in QOPS:
        m.digest_qop = qop  # the SDK's choice when an MMSC offers both
    elif qop:
        problems.append(Problem("warning", f"{where}:Digest",
                                f"{quoted(get['Digest'])} is no qop (auth or auth-int): auth is used when offered"))
    if get["MaxMessageSize"] <= 0:
        problems.append(Problem("error", f"{where}:MaxMessageSize", "must be more than 0"))
    else:
        m.max_message_size = get["MaxMessageSize"]
    try:
        # Its standard name: the XML declares that whatever the file says, and text parts in the
        # configured charset are labelled with it too (a handset knows ISO-8859-1, not Java's ISO8859_1).
        m.charset = charset_label(python_charset(get["Charset"]))
    except LookupError:
        m.charset = get["Charset"]  # check() says it is unknown
    if get["Charset"].strip().lower() in JAVA_ALIASES:
        problems.append(Problem("warning", f"{where}:Charset", f"{get['Charset']} is written as {m.charset} "
                                "(Java's other name for it); few MMSCs read SOAP XML in UTF-16"))
    timeout_s = get["TimeOut"] / 1000.0
    if timeout_s == 0:
        # The SDK's socket then waited for ever; an answer that never comes must not hold a sender here.
        timeout_s = MM7_KEYS["TimeOut"][1] / 1000.0
        problems.append(Problem("warning", f"{where}:TimeOut", f"0 waited for ever in the SDK; {timeout_s:g} s is "
                                "used (the manual advises 2000 ms)"))
    if timeout_s < 0:
        problems.append(Problem("error", f"{where}:TimeOut", "must be more than 0 milliseconds"))
    else:
        m.read_timeout = timeout_s
        m.connect_timeout = min(10.0, timeout_s)
    if get["ReSendCount"] < 0:  # the SDK's re-send loop then never ran: one attempt, as 0
        problems.append(Problem("warning", f"{where}:ReSendCount", "negative: no re-send, as 0 (and in the SDK)"))
    m.max_attempts = max(0, get["ReSendCount"]) + 1
    if get["ReSendCount"] > 3:
        problems.append(Problem("warning", f"{where}:ReSendCount", "the manual advises 3 or fewer (2 is usual)"))
    r.path = "*"  # the SDK's MM7Receiver answered whatever request URI the MMSC posted to
    r.host = get["ListenIP"] or "0.0.0.0"
    if not v.get("ListenIP"):
        # The SDK's receiver bound InetAddress.getByName(null), the loopback, where no MMSC reaches it;
        # here every interface is listened on, which the SP should know (said to receivers alone).
        problems.append(Problem("warning", f"{where}:ListenIP", f"{'empty' if 'ListenIP' in v else 'missing'}: the "
                                "receiver listens on every interface (the SDK's, on the loopback only)", about="serving"))
    r.port = get["ListenPort"]
    # Java's ServerSocket takes a backlog of 0 or less as its default, 50 (the manual's too)
    r.backlog = get["BackLog"] if get["BackLog"] > 0 else MM7_KEYS["BackLog"][1]
    level = get["logLevel"]
    lg.level = LOG_LEVELS.get(level, "INFO")
    if level not in LOG_LEVELS:
        problems.append(Problem("warning", f"{where}:logLevel", f"{level} is none of the manual's levels (0 none, "
                                "1 errors, 3 information, 6 everything; 0–7): INFO is used"))
    lg.rotate = "both"
    log_folder_missing = False
    if level == 0:
        lg.file, lg.rotate = os.devnull, "none"  # not even to standard error
    elif os.name != "nt" and re.match(r"[A-Za-z]:[\\/]", get["LogPath"]):
        # the shipped E:\vas_log: here it would be a folder named so in the current directory
        problems.append(Problem("warning", f"{where}:LogPath",
                                f"{get['LogPath']} is a Windows path (the manual asks to change it): no log file"))
    elif get["LogPath"] and (why := unusable_file_name(get["LogPath"])):  # (the folder's check below let its OSError out)
        problems.append(Problem("error", f"{where}:LogPath", why))
    elif get["LogPath"]:
        lg.file = str(Path(get["LogPath"]) / f"{get['MmscID'] or MM7_KEYS['MmscID'][1]}.log")  # (empty: as left out)
        if not Path(get["LogPath"]).is_dir():
            log_folder_missing = True
            problems.append(Problem("warning", f"{where}:LogPath",
                                    f"folder {get['LogPath']} does not exist; it is created when logging starts"))
    lg.when, lg.interval = "M", max(1, get["LogInterval"])
    lg.max_bytes = max(1, get["LogSize"]) * 1024
    lg.backups = max(1, get["LogNum"]) - 1  # LogNum counts every file, the one being written too
    for key, low, high, unit in LOG_RANGES:
        if not low <= get[key] <= high:
            problems.append(Problem("warning", f"{where}:{key}", f"{get[key]} is outside the manual's range "
                                    f"{low}–{high} {unit}" + (f"; {low} is used" if get[key] < low else "")))
    if get["MaxMessageSize"] > MMSC_MAX_MESSAGE:
        problems.append(Problem("warning", f"{where}:MaxMessageSize", f"{get['MaxMessageSize']} bytes: the manual "
                                "says the MMSC currently takes at most 128K; larger messages may be refused there"))
    c: dict[str, object] = {}
    if conn_path is not None:
        conn_problems: list[Problem] = []
        c = read_settings(conn_path, CONN_KEYS, "connection", None, conn_problems)
        cw = Path(conn_path).name
        _java_ints(c, CONN_KEYS, cw, conn_problems)
        problems += conn_problems
        if not any(p.level == "error" and p.where == cw for p in conn_problems):  # (a file read at all)
            for key in _missing(CONN_SDK_REQUIRED, c, cw, conn_problems):
                problems.append(Problem("warning", f"{cw}:{key}",
                                        f"missing (the SDK would fail); using {CONN_KEYS[key][1]}"))
        if "KeepAlive" in c:
            keep_alive = str(c["KeepAlive"]).lower()
            if keep_alive not in ("on", "off"):
                # The SDK kept connections only for "on" and closed them for any other text: a
                # file saying "true" or "yes" worked with it, closing each connection; so here.
                problems.append(Problem("warning", f"{cw}:KeepAlive",
                                        f"{quoted(c['KeepAlive'])} is neither on nor off: off, as the SDK read it "
                                        "(each connection closed after its answer)"))
            # both ways, as in the SDK: its sender said Connection: close, its receiver closed
            # the connection after each answer
            m.keep_alive = r.keep_alive = keep_alive == "on"
        for key, what in (("MaxKeepAliveRequests", ("one connection to the MMSC, sends take turns on it (the "
                                                    "SDK opened a short connection for each send instead)")),
                          ("ServerMaxKeepAlive", "one request answered at a time")):
            if key in c and int(c[key]) < 1:
                problems.append(Problem("warning", f"{cw}:{key}", f"{c[key]} is read as 1: {what}"))
        # Said only where the value asks for what the pool does not do: the SDK's own file (and the
        # manual's) has MinKeepAliveRequests 1 and step 1, which the pool does anyway, and leaving
        # them out is warned of above — every ConnConfig.xml warned at each start otherwise.
        for key, does, why in (("MinKeepAliveRequests", (0, 1), "connections are opened when first needed"),
                               ("ScanInterval", (), "the pool checks a connection when it is reused"),
                               ("step", (1,), "the pool grows one connection at a time up to MaxKeepAliveRequests")):
            if key in c and int(c[key]) not in does:
                problems.append(Problem("warning", f"{cw}:{key}", f"no effect: {why}"))
    # The manual's values when left out (V1.5.7 §4.2.1: 30 and 30), with or without a ConnConfig.xml:
    # what `MM7Config.get` says of them is what is used (mm7bind's own defaults are 10 and 4).
    m.pool_size = max(1, int(c.get("MaxKeepAliveRequests", CONN_KEYS["MaxKeepAliveRequests"][1])))
    # (milliseconds; 0 or less: kept however long, as the SDK's pool never dropped them then)
    idle_ms = int(c.get("KeepAliveTimeout", CONN_KEYS["KeepAliveTimeout"][1]))
    m.idle_timeout = idle_ms / 1000 if idle_ms > 0 else 0.0
    r.threads = max(1, int(c.get("ServerMaxKeepAlive", CONN_KEYS["ServerMaxKeepAlive"][1])))
    # (more than the client and the server take: said as the file's element, not as mmsc.pool_size)
    from ..client import MAX_POOL_SIZE  # noqa: PLC0415
    from ..server import MAX_THREADS  # noqa: PLC0415

    said_here = set()
    for key, setting, value, most in (("MaxKeepAliveRequests", "mmsc.pool_size", m.pool_size, MAX_POOL_SIZE),
                                      ("ServerMaxKeepAlive", "receiver.threads", r.threads, MAX_THREADS)):
        if value > most:
            problems.append(Problem("error", f"{Path(conn_path).name}:{key}", f"{value} is more than mm7bind takes "
                                    f"({setting}: at most {most})"))
            said_here.add(setting)
    # (mm7Config.xml has no VASPID: the SDK's sender takes it on each request, setVASPID)
    problems += [_in_file_terms(p, where, get["AuthenticationMode"]) for p in check(cfg)
                 if not (log_folder_missing and p.where == "logging.file")
                 and p.where not in said_here and p.where != "vasp.vaspid"
                 and not (p.where == "mmsc.urls" and any(url in p.message for url in said_urls))]
    return cfg, problems


# The elements of mm7Config.xml that the settings checked by `config.check` come from: a problem is
# said there, as the file's own are ("receiver.port: 70000 is not a port number" named a setting,
# and "MM7BIND_MMSC_PASSWORD not set?" a variable, that an SP with these files has never seen).
_ELEMENT_OF = {"mmsc.urls": "mmscIP", "mmsc.username": "UserName", "mmsc.password": "Password",
               "receiver.username": "UserName", "receiver.password": "Password", "receiver": "AuthenticationMode",
               "receiver.auth": "AuthenticationMode", "receiver.host": "ListenIP", "receiver.port": "ListenPort",
               "receiver.backlog": "BackLog", "mmsc.max_message_size": "MaxMessageSize", "mmsc.charset": "Charset",
               "mmsc.digest_qop": "Digest", "mmsc.read_timeout": "TimeOut", "mmsc.connect_timeout": "TimeOut",
               "mmsc.max_attempts": "ReSendCount", "logging.file": "LogPath"}


def _in_file_terms(problem: Problem, where: str, mode: object) -> Problem:
    """A problem `config.check` found, said by the element of mm7Config.xml it comes from (and in
    the file's words where the message speaks of settings); one of no element as it is."""
    element = _ELEMENT_OF.get(problem.where)
    if element is None:
        return problem
    auth = f"AuthenticationMode {mode} ({ {1: 'Basic', 2: 'Digest'}.get(mode, mode) })"
    message = {
        "mmsc.username": "a Password is set without a UserName",
        "mmsc.password": "a UserName is set without a Password: an empty one is sent",
        "receiver.username": f"{auth} needs a UserName (and Password), which the MMSC must give",
        "receiver.password": f"{auth} with an empty Password: anyone who knows the UserName is let in",
        "receiver": "0 lets in whoever reaches the receiver beyond loopback (ListenIP): 1 (Basic) or 2 "
                    "(Digest) has the MMSC give UserName and Password",
    }.get(problem.where, problem.message)
    if element == "TimeOut":
        message += " (TimeOut is in milliseconds)"
    return Problem(problem.level, f"{where}:{element}", message, problem.about)


def in_file_terms(cfg: Config, problems: list[Problem]) -> list[Problem]:
    """`problems` that `config.check` found in a configuration read from mm7Config.xml (`cfg.source`),
    said by the file's elements as its reading says them (a command's checks again after its
    options: `mm7Config.xml:Password`, not `mmsc.password` and an MM7BIND_ variable)."""
    mode = {"none": 0, "basic": 1, "digest": 2}.get(str(cfg.receiver.auth).lower(), cfg.receiver.auth)
    return [_in_file_terms(p, Path(cfg.source).name, mode) for p in problems]


def load_cmcc(path: str | Path | None, conn_path: str | Path | None = None, *, say_warnings: bool = True,
              overrides: dict[str, object] | None = None) -> Config:
    """A usable Config from the files, or ConfigError; warnings as `config.load_checked` has them."""
    cfg, problems = read(path, conn_path, overrides)
    if any(p.level == "error" for p in problems):  # (before making a log folder for files that cannot work)
        raise ConfigError(problems)
    if cfg.logging.file and cfg.logging.file != os.devnull:
        folder = Path(cfg.logging.file).parent
        try:
            folder.mkdir(parents=True, exist_ok=True)  # as the SDK, which created its log files there
        except OSError as exc:  # the SDK went on without its log files too
            problems.append(Problem("warning", f"{Path(path).name if path is not None else 'mm7Config.xml'}:LogPath",
                                    f"cannot create {folder} ({exc.strerror or exc}): no log file"))
            cfg.logging.file = ""
    return usable(cfg, problems, say_warnings=say_warnings)


def check_cmcc(path: str | Path, conn_path: str | Path | None = None) -> list[Problem]:
    return read(path, conn_path)[1]
