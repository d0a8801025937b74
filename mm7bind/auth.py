"""HTTP authentication. The receiver's and the simulator's checks: Basic, Digest, IP allow-list;
and the client's answers to a Digest challenge (`DigestAnswer`), without I/O.

Digest nonces are stateless (a timestamp and the algorithm of their challenge, signed with a key
derived from the credentials), so several threads, processes or hosts, and a restarted server,
take each other's nonces without a shared table; a stale nonce, or one answered with another
algorithm than its challenge's, is answered with `stale=true` (to an answer otherwise right).
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

from .display import printable
from .errors import STORE_ERRORS
from .incident import StoreDetour, takes_shared_work
from .retry import STORE_RETRY_AFTER

log = logging.getLogger(__name__)


def _parse_auth_params(value: str, unescape: bool = True) -> dict[str, str]:
    """The parameters of a challenge or an answer, a quoted value's quoted-pairs undone (RFC 9110
    §5.6.4: a backslash escapes the character after it); `unescape=False`: as written, as by
    clients that quote a value without escaping it (requests sends a username with a backslash,
    DOMAIN and user, as it is)."""
    # (`name*`: RFC 7616's username* for one beyond ASCII, RFC 8187's charset'lang'value)
    return {k.lower(): (_QUOTED_PAIR.sub(r"\1", v1) if unescape else v1) if v1 else v2
            for k, v1, v2 in _AUTH_PARAM.findall(value)}


def guessed(header: str | None, challenge: str, stale: bool) -> bool:
    """Whether a refused Authorization header tried the challenged scheme (a wrong password, a
    guess to count), rather than showing how a client learns what to send: no header, another
    scheme, an answer right but for its Digest nonce's age."""
    scheme = (header or "").partition(" ")[0].lower()
    return bool(scheme) and scheme == challenge.partition(" ")[0].lower() and not stale


def say_mixed(auth, header: str | None, peer: str | None, log: logging.Logger) -> None:
    """Say on `log` (the caller's) a refused answer that mixed two Digest challenges (`mixed`):
    stale, it is no guess, and else nothing said it."""
    mixed = getattr(auth, "mixed", None)
    said = mixed(header) if mixed is not None else None
    if said is not None:
        log.warning("refused request from %s: %s", peer, said)


def tell_refused(auth, method: str, uri: str, header: str | None, body: bytes | None, challenge: str,
                 stale: bool, peer: str | None, log: logging.Logger, refusals: RefusalLog,
                 limit: FailureLimit | None) -> bool:
    """Say and count a refused Authorization header, as the receiver and the simulator both do;
    whether it tried the challenged scheme (`guessed`). A guess `limit` counts is said every time,
    one it does not (malformed, or no limit) once a minute per peer and reason (`refusals`); a
    stale answer mixing two challenges is said as such."""
    wrong = guessed(header, challenge, stale)
    if wrong:
        counted = limit is not None and counts_as_guess(auth, header)
        refusals.say(log, peer, why_refused(auth, method, uri, header, body), every_time=counted)
        if counted:
            limit.wrong(peer, log)
    elif stale:
        say_mixed(auth, header, peer, log)
    return wrong


def counts_as_guess(auth, header: str | None) -> bool:
    """Whether a refused answer that tried the challenged scheme (`guessed`) counts toward
    `auth_failures`: not one refused whatever its credentials (`malformed` says why: a Digest
    algorithm not offered, a parameter named twice, qop without nc and cnonce). Such an answer
    tests no password, so a guesser learns nothing from it; it is a client's misconfiguration,
    which, counted, got 429s as if it guessed passwords. (Logged all the same.)"""
    malformed = getattr(auth, "malformed", None)
    return malformed is None or malformed(header) is None


def why_refused(auth, method: str, uri: str, header: str, body: bytes | None) -> str:
    """What was wrong with a refused answer that tried the challenged scheme (`guessed`), as far
    as the server can tell, for its log: a malformed Digest answer, one signing another uri, one
    computed with another algorithm than it names, else wrong credentials."""
    other = getattr(auth, "other_target", None)
    signed = other(uri, header) if other is not None else None
    malformed = getattr(auth, "malformed", None)
    flaw = malformed(header) if malformed is not None else None
    computed_with = getattr(auth, "computed_with", None)
    mistaken = (computed_with(method, header, body)
                if computed_with is not None and flaw is None and signed is None else None)
    if flaw is not None:
        return f"its Digest answer {printable(flaw)}"
    if signed is not None:  # (most likely a server of one's own not passing the request-target)
        return (f"its Digest answer signs the uri {printable(signed)}, not this request's, {printable(uri)}"
                + (" (Receiver.handle given no uri?)" if uri == "/" else ""))
    if mistaken is not None:
        named = _parse_auth_params(header[7:]).get("algorithm", "")
        offered = getattr(auth, "algorithms", (mistaken,))
        fix = (f"serve it algorithm={mistaken}" if len(offered) == 1 else
               f"offer {mistaken} before {named}" if mistaken.upper() in (a.upper() for a in offered) else
               f"offer {mistaken} too, before {named}")
        return f"its Digest answer names {named} but is computed with {mistaken} (as curl before 8.8 does): {fix}"
    return f"wrong {header.partition(' ')[0].title()} credentials"


def _repeats_a_param(value: str) -> bool:
    """Whether an answer names a parameter twice (`response=` twice): RFC 7235 §2.1 says each
    appears at most once, and which one counts would be the reader's guess (the last won), so
    such a header is refused as malformed rather than read one way."""
    names = [k.lower() for k, _, _ in _AUTH_PARAM.findall(value)]
    return len(names) != len(set(names))


# A name starts where no word character goes before it, and nothing is given back once taken: a
# search from every character of a word with no "=" after it took time quadratic in its length
# (an Authorization header of 60 KB, most of a minute).
_AUTH_PARAM = re.compile(r'(?<!\w)(\w++\*?)\s*+=\s*+(?:"((?:[^"\\]++|\\.)*+)"|([^\s,]+))')
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)


def _username(params: dict[str, str]) -> str | None:
    """A Digest answer's username: `username`, or RFC 7616's `username*` (UTF-8''%E7%94%A8...)."""
    if "username*" not in params:
        return params.get("username")
    charset, _, rest = params["username*"].partition("'")
    _lang, _, encoded = rest.partition("'")
    try:
        return unquote(encoded, encoding=charset or "utf-8", errors="strict")
    except (LookupError, ValueError):  # (a codec's other errors too: "undefined" raises UnicodeError, a 500 it was)
        return None


# RFC 7616's algorithms (MD5 first: what MMSCs and China Mobile's SDK speak); "-sess" variants too.
# SHA-512-256 is FIPS 180-4's SHA-512/256 (its own initial values, truncated), which hashlib has only
# where its OpenSSL does: without it, it is not spoken (never another hash under its name).
_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}
if "sha512_256" in hashlib.algorithms_available:
    _HASHES["SHA-512-256"] = functools.partial(hashlib.new, "sha512_256")
QOPS = ("auth", "auth-int")
# Every algorithm a nonce may be tied to, spoken here or not (another host's hashlib may have SHA-512/256).
_ALGORITHM_NAMES = tuple(f"{name}{sess}" for name in ("MD5", "SHA-256", "SHA-512-256") for sess in ("", "-SESS"))


def digest_algorithms() -> list[str]:
    """The Digest algorithms spoken here (each with its -sess too): SHA-512-256 only where
    hashlib has SHA-512/256."""
    return list(_HASHES)


def _unknown_algorithm(name: str) -> str:
    """Why `name` is no algorithm we speak, in words."""
    if name.upper().removesuffix("-SESS") == "SHA-512-256":
        return f"Digest algorithm {name} needs SHA-512/256, which this Python's hashlib (its OpenSSL) lacks"
    return f"unknown Digest algorithm {name!r}"


def bearer_token_problem(token: str) -> str | None:
    """Why no request could ever present `token` as "Authorization: Bearer <token>" (None: one can):
    a header's value reaches us trimmed, and its bytes beyond ASCII read as Latin-1 (WSGI). The
    send API refuses such a token, and `config check` says it of [api] token, in these words."""
    if token.strip() != token:
        return "has white space around it, which no request's Authorization header keeps"
    if not (token.isascii() and token.isprintable()):
        return "must be printable ASCII: a header's other bytes are read as Latin-1, so no request could match it"
    return None


def _algorithm(name: str | None):  # noqa: ANN202
    """(hash function, is -sess) for an algorithm name, or None for one we do not speak."""
    name = (name or "MD5").upper()
    sess = name.endswith("-SESS")
    fn = _HASHES.get(name[:-5] if sess else name)
    return (fn, sess) if fn else None


def _body_hash(fn, body) -> str:  # noqa: ANN001
    """H(entity-body) for qop=auth-int: of bytes, or of a rewindable stream read and put back."""
    if body is None:
        body = b""
    if isinstance(body, (bytes, bytearray, memoryview)):
        return fn(body).hexdigest()
    if isinstance(body, str):
        return fn(body.encode("utf-8")).hexdigest()
    h, pos = fn(), body.tell()
    while chunk := body.read(1 << 16):
        h.update(chunk)
    body.seek(pos)
    return h.hexdigest()


@dataclass(frozen=True)
class _BodyHash:
    """A body's hash computed already: the server checks an answer in each charset the credentials
    may be written in, the body being the same in each (it was hashed once for each of them)."""
    hexdigest: str


def userhash(username: str, realm: str, algorithm: str | None = "MD5", charset: str = "utf-8") -> str:
    """RFC 7616 §3.4.4: the username a client sends with `userhash=true`, H(username:realm)."""
    fn, _ = _algorithm(algorithm) or (None, False)
    if fn is None:
        raise ValueError(_unknown_algorithm(algorithm or "MD5"))
    return fn(f"{username}:{realm}".encode(charset)).hexdigest()


def digest_response(*, username: str, password: str, realm: str, nonce: str, method: str, uri: str,
                    algorithm: str | None = "MD5", qop: str | None = "auth", nc: str = "", cnonce: str = "",
                    body=None, charset: str = "utf-8") -> str:  # noqa: ANN001
    """RFC 7616's request-digest: the one computation both sides make (RFC 2069 when qop is None).
    `charset`: the one the credentials are written in (RFC 7616's, and ours, UTF-8). With
    userhash, the username signed is still the name itself (RFC 7616 §3.4.4)."""
    fn, sess = _algorithm(algorithm) or (None, False)
    if fn is None:
        raise ValueError(_unknown_algorithm(algorithm or "MD5"))

    def h(text: str) -> str:
        return fn(text.encode("utf-8")).hexdigest()

    ha1 = fn(f"{username}:{realm}:{password}".encode(charset)).hexdigest()
    if sess:
        ha1 = h(f"{ha1}:{nonce}:{cnonce}")
    if qop is not None and qop.lower() == "auth-int":  # (RFC 7616's ABNF literals know no case; signed as written)
        ha2 = h(f"{method}:{uri}:{body.hexdigest if isinstance(body, _BodyHash) else _body_hash(fn, body)}")
    else:
        ha2 = h(f"{method}:{uri}")
    if qop is None:
        return h(f"{ha1}:{nonce}:{ha2}")
    return h(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


def digest_challenges(header: str) -> list[dict[str, str]]:
    """The Digest challenges in a WWW-Authenticate value (several may share one header, with
    other schemes between them)."""
    return [params for scheme, params in auth_schemes(header) if scheme.lower() == "digest"]


def auth_schemes(header: str) -> list[tuple[str, dict[str, str]]]:
    """The challenges in a WWW-Authenticate value, in order: (scheme as written, its parameters).
    RFC 9110 §11.6.1: challenges and their parameters are one comma-separated list, a challenge
    starting where a token is followed by a space (`Basic realm="a", Digest realm="b", nonce=...`).
    Commas and words in a quoted string are its own: a realm "MMSC, Digest gw=1" split the list
    there, and the challenge lost its nonce and was not answered."""
    found: list[tuple[str, dict[str, str]]] = []
    for element in _LIST_ELEMENT.findall(header):
        element = element.strip()
        if found and _PARAM_START.match(element):  # (a parameter of the challenge before it)
            found[-1][1].update(_parse_auth_params(element))
        elif started := _CHALLENGE_START.match(element):  # (a scheme, perhaps with its first parameter)
            found.append((started.group(1), _parse_auth_params(started.group(2) or "")))
    return found


# An element of a comma-separated list: up to a comma outside a quoted string (one left open runs
# to the end); nothing given back once taken, so a long header is read in one pass.
_LIST_ELEMENT = re.compile(r'(?:[^,"]++|"(?:[^"\\]++|\\.)*+"?)++', re.DOTALL)
_TOKEN = r"[!#$%&'*+.^_`|~\w-]++"
_PARAM_START = re.compile(rf"{_TOKEN}\s*+=")
_CHALLENGE_START = re.compile(rf"({_TOKEN})(?:\s++(.*))?\Z", re.DOTALL)


class DigestAnswer:
    """The client's side of Digest: takes a server's challenge, then signs each request with its
    nonce and a growing count until the server calls the nonce stale.

    `qop` is the one to use when the server offers several (China Mobile's `<Digest>` setting):
    by default "auth"; "auth-int" also signs the body. Of several challenges the first we can
    answer is taken (RFC 7616 §3.7: a server lists them in its order of preference, and a client
    uses the topmost it supports); a challenge with `userhash=true` is answered with the username
    hashed (RFC 7616 §3.4.4). Not thread-safe: give each thread its own (counts must grow in the
    order requests arrive)."""

    def __init__(self, username: str, password: str, qop: str | None = None):
        if qop not in (None, *QOPS):
            raise ValueError(f"qop must be one of {', '.join(QOPS)}")
        self.username, self.password, self.qop = username, password, qop
        self.challenge: dict[str, str] | None = None
        self._qop: str | None = None
        self._count = 0

    def take(self, header: str | None) -> bool:
        """Take a 401's WWW-Authenticate; False when it holds no Digest challenge we can answer."""
        usable = []
        for c in digest_challenges(header or ""):
            offered = [q.strip().lower() for q in c.get("qop", "").split(",") if q.strip()]
            if "qop" in c:
                qop = next((q for q in (self.qop, *QOPS) if q in offered), None)
                if qop is None:
                    continue
            else:
                qop = None  # RFC 2069: no qop, no count
            if "nonce" not in c or _algorithm(c.get("algorithm")) is None:
                continue
            usable.append((c, qop))
        if not usable:
            return False
        self.challenge, self._qop = usable[0]
        self._count = 0
        return True

    @staticmethod
    def stale(header: str | None) -> bool:
        """Whether a 401 only says the nonce aged (answer again at once) rather than refusing."""
        return any(c.get("stale", "").lower() == "true" for c in digest_challenges(header or ""))

    def authorization(self, method: str, uri: str, body=None) -> str | None:  # noqa: ANN001
        """The Authorization value for a request (`uri`: its path and query), or None before any
        challenge. `body`: bytes or a rewindable stream, read only for qop=auth-int."""
        c = self.challenge
        if c is None:
            return None
        self._count += 1
        nc, cnonce = f"{self._count:08x}", os.urandom(8).hex()
        algorithm = c.get("algorithm")
        response = digest_response(username=self.username, password=self.password, realm=c.get("realm", ""),
                                   nonce=c["nonce"], method=method, uri=uri, algorithm=algorithm,
                                   qop=self._qop, nc=nc, cnonce=cnonce, body=body)
        # (a username beyond ASCII as RFC 7616's username*: no header carries it as it is; asked
        # for userhash, §3.4.4, the name's hash instead, which is hex)
        hashed = c.get("userhash", "").lower() == "true"
        if hashed:
            user = f'username="{userhash(self.username, c.get("realm", ""), algorithm)}"'
        elif self.username.isascii():
            user = f'username="{_quoted(self.username)}"'
        else:
            user = f"username*=UTF-8''{quote(self.username, safe='')}"
        fields = [user, f'realm="{_quoted(c.get("realm", ""))}"',
                  f'nonce="{_quoted(c["nonce"])}"', f'uri="{_quoted(uri)}"', f'response="{response}"']
        if algorithm:
            fields.append(f"algorithm={algorithm}")
        if "opaque" in c:
            fields.append(f'opaque="{_quoted(c["opaque"])}"')
        if self._qop is not None:
            fields += [f"qop={self._qop}", f"nc={nc}", f'cnonce="{cnonce}"']
        if hashed:
            fields.append("userhash=true")
        return "Digest " + ", ".join(fields)


def _check_realm(realm: str) -> None:
    """A realm the challenge can carry: a header's bytes are Latin-1, and a line break or other
    control character would end it (one beyond Latin-1 made every request an internal error, a
    500, as the server wrote its 401)."""
    if not isinstance(realm, str) or not realm.isprintable() or not _writes("latin-1", realm):
        raise ValueError(f"realm must be printable Latin-1 (a header carries no other characters), not {realm!r}")


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


@dataclass
class BasicAuth:
    username: str
    password: str = field(repr=False)  # (a repr of it, or of a configuration holding it, is logged and shown)
    realm: str = "mm7"
    _unpadded_said: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_realm(self.realm)

    def challenge(self, stale: bool = False) -> str:
        return f'Basic realm="{_quoted(self.realm)}", charset="UTF-8"'  # (RFC 7617 §2.1: how to write non-ASCII)

    def check(self, method: str, uri: str, header: str | None,
              body: bytes | None = None) -> tuple[bool, bool]:
        """(accepted, stale). The credentials' bytes are ours in UTF-8 (RFC 7617, which the
        challenge asks for), GB18030 (GBK's superset, its characters written alike: China Mobile's
        SDK writes them in Java's platform charset, GBK on a Chinese system), or Latin-1
        (requests, older Java). Base64 without its padding (some Java encoders strip the "="s) is
        taken, the padding restored, and said once on `mm7bind.auth`."""
        if not header or not header[:6].lower() == "basic ":
            return False, False
        encoded = header[6:].strip()
        unpadded = len(encoded) % 4 in (2, 3)  # (1 left over is no base64, padded or not)
        try:
            raw = base64.b64decode(encoded + "=" * (-len(encoded) % 4 if unpadded else 0), validate=True)
        except ValueError:  # not base64 (binascii.Error), not ASCII
            return False, False
        ok = False
        for ours in self._written():  # (each compared, whichever matches: the time says none of them)
            ok |= hmac.compare_digest(raw, ours)
        if ok and unpadded and not self._unpadded_said:
            self._unpadded_said = True
            log.info("took Basic credentials whose base64 lacks its padding (\"=\"), as some Java encoders "
                     "write it (RFC 7617 asks for it): their padding restored, said once")
        return ok, False

    def _written(self) -> list[bytes]:
        """Our "user:password" in each charset it is sent in (those that can write it)."""
        text, found = f"{self.username}:{self.password}", []
        for charset in _CREDENTIAL_CHARSETS:
            try:
                written = text.encode(charset)
            except UnicodeEncodeError:
                continue
            if written not in found:
                found.append(written)
        return found


# The charsets credentials are taken in: RFC 7617's and RFC 7616's UTF-8; GB18030 (GBK's superset,
# its characters written alike), China Mobile's SDK's on a Chinese system; Latin-1, older clients'.
_CREDENTIAL_CHARSETS = ("utf-8", "gb18030", "latin-1")


def _same(given: str, ours: str) -> bool:
    """Whether a name given is ours, in a time that does not tell how much of it matched (a
    userhash hides the name, and a guesser should not learn it a character at a time)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), ours.encode("utf-8", "surrogatepass"))


def _writes(charset: str, text: str) -> bool:
    try:
        text.encode(charset)
    except UnicodeEncodeError:
        return False
    return True


@dataclass
class DigestAuth:
    """RFC 7616 Digest: MD5 and qop=auth by default (what MMSCs and China Mobile's SDK speak);
    `qop="auth-int"` (or "auth,auth-int") also covers the body, `algorithm` may be MD5-sess,
    SHA-256, SHA-256-sess, SHA-512-256 or SHA-512-256-sess (where hashlib has SHA-512/256), or
    several, in the order of preference ("SHA-256, MD5", or a list): a 401 then holds a challenge
    for each (RFC 7616 §3.7), each with its own nonce, so that a server preferring SHA-256 still
    takes the clients speaking only MD5, and an answer is checked with the algorithm it names;
    `userhash=True` asks clients to hash the username (RFC 7616 §3.4.4). With qop, an answer
    without nc and cnonce is refused (`malformed` says why).

    A header seen once is not taken again: with qop, each count (nc) of a nonce serves once, and
    may come after a higher one by up to `NC_WINDOW` (an MMSC sending on several connections at
    once with one nonce: requests overtake one another on the way); without qop (RFC 2069
    clients), a nonce serves one request. A repeat gets a stale challenge, so an honest client
    simply answers it with a fresh nonce, while a header captured on the way cannot be used to
    send other messages. `check` knows the counts this process used; the receiver also has its
    store keep each message's (`spent`), so that another process on the same store refuses the
    header too."""

    username: str
    password: str = field(repr=False)
    realm: str = "mm7"
    nonce_lifetime: float = 300.0
    # Signs nonces. Derived from the credentials unless given: gunicorn workers (or hosts behind one
    # address) with a random key each refused one another's nonces, costing a challenge per connection.
    # Derived slowly (`_nonce_key`): a nonce is given to anyone who asks, so its MAC tests a guess.
    key: bytes | None = field(default=None, repr=False)
    qop: str = "auth"
    algorithm: str | Sequence[str] = "MD5"  # one, or several in the order of preference
    # RFC 7616 §3.4.4: the challenge asks clients to send H(username:realm) for the name, which then
    # does not show on the way; an answer with the name itself is taken too (clients without it).
    userhash: bool = False
    # nonce → (its last use, highest nc, the counts used within NC_WINDOW below it)
    _seen: dict = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_realm(self.realm)
        # (checked here: "300" made every request a 500 as its age was compared, 0 or less every
        # nonce stale at once, each request refused after its one answer to the stale challenge)
        if isinstance(self.nonce_lifetime, bool) or not isinstance(self.nonce_lifetime, (int, float)) \
                or not self.nonce_lifetime > 0:
            raise ValueError(f"nonce_lifetime must be a number of seconds, more than 0, not {self.nonce_lifetime!r}")
        self._keys_taken: tuple[bytes, ...] = ()
        if self.key is None:
            self.key = _nonce_key(self.username, self.realm, self.password)
            self._keys_taken = (_nonce_key_before(self.username, self.realm, self.password),)
        self._qops = [q.strip().lower() for q in self.qop.split(",") if q.strip()]
        if not self._qops or any(q not in QOPS for q in self._qops):
            raise ValueError(f"qop must be auth, auth-int or both, not {self.qop!r}")
        self.algorithms = offered_algorithms(self.algorithm)

    NC_WINDOW = 64

    def _fresh(self, nonce: str, nc: str | None) -> bool:
        """Whether this use of `nonce` is new: a count not used before (and not more than
        NC_WINDOW below the highest, beyond which we no longer know), or (no qop) its first use.
        (Only the highest was kept: a request overtaken by a later one of the same client was
        refused, and an MMSC taking a 401 as final dropped it.)"""
        try:
            count = int(nc, 16) if nc is not None else 0
        except ValueError:
            return False
        now = time.time()
        with self._lock:
            if len(self._seen) > 10_000:  # forget nonces past their lifetime (they are refused anyway)
                for old in [k for k, (t, _, _) in self._seen.items() if now - t > self.nonce_lifetime]:
                    del self._seen[old]
            _, highest, used = self._seen.get(nonce, (now, -1, frozenset()))
            if count in used or count <= highest - self.NC_WINDOW:
                return False
            highest = max(highest, count)
            self._seen[nonce] = (now, highest, frozenset(c for c in (*used, count) if c > highest - self.NC_WINDOW))
            return True

    def spent(self, header: str | None) -> tuple[str, float] | None:
        """What an answer `check` took spends, for a store to keep for every process on it
        (`SqliteStore.accept(spent=)`): a key for its nonce and count, and the time (epoch
        seconds) its nonce goes stale, after which the key may be forgotten (the nonce is refused
        anyway). None for a header that is no Digest answer with a nonce of ours."""
        if not header or header[:7].lower() != "digest ":
            return None
        p = _parse_auth_params(header[7:])
        nonce, algorithm = p.get("nonce", ""), self._named(p)
        if algorithm is None or self._nonce_state(nonce, algorithm) not in ("ok", "stale"):
            return None
        ts = int(base64.b64decode(nonce).decode().split(":")[0])
        try:  # (as `_fresh` counts: no qop, the nonce serves once)
            count = int(p.get("nc", ""), 16) if "qop" in p else "-"
        except ValueError:
            return None
        key = hashlib.sha256(f"{nonce}|{count}".encode()).hexdigest()[:32]
        return key, ts + self.nonce_lifetime

    def _nonce(self, ts: int | None = None, salt: str | None = None, key: bytes | None = None,
               algorithm: str | None = None) -> str:
        """Its time, a random salt (each challenge its own nonce, so that two clients challenged in
        the same second do not share one and its counts), and our MAC over both and the algorithm
        of the challenge it goes in: a nonce is answered with that algorithm only, and, signed, it
        says which wherever the credentials are (no table shared by processes or hosts). Without
        `algorithm`: as the releases before signed them, tied to none."""
        ts = int(time.time()) if ts is None else ts
        salt = os.urandom(6).hex() if salt is None else salt
        signed = f"{ts}:{salt}" if algorithm is None else f"{ts}:{salt}:{algorithm.upper()}"
        mac = hmac.new(key or self.key, signed.encode(), hashlib.sha256).hexdigest()[:32]
        return base64.b64encode(f"{ts}:{salt}:{mac}".encode()).decode()

    def _nonce_state(self, nonce: str, algorithm: str) -> str:
        """"ok", "stale" (aged), "other" (ours, but of a challenge in another algorithm than
        `algorithm`, the one its answer names) or "bad" (not ours)."""
        try:
            ts_text, salt, _mac = base64.b64decode(nonce).decode().split(":")
            ts = int(ts_text)
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return "bad"

        def signed_for(name: str | None) -> bool:
            signed = False
            for key in (self.key, *self._keys_taken):  # (a nonce of a host of the release before, upgraded later)
                signed |= hmac.compare_digest(self._nonce(ts, salt, key, name), nonce)
            return signed

        # (one tied to no algorithm: a host of the release before's, taken with any, as it was then)
        if not (signed_for(algorithm) or signed_for(None)):
            others = (name for name in _ALGORITHM_NAMES if name != algorithm.upper())
            return "other" if any(signed_for(name) for name in others) else "bad"
        return "stale" if time.time() - ts > self.nonce_lifetime else "ok"

    def _named(self, params: dict[str, str]) -> str | None:
        """The algorithm of ours an answer names (as we spell it), None for one we did not offer."""
        named = params.get("algorithm", "MD5").upper()  # (none named: MD5, RFC 7616 §3.3)
        return next((a for a in self.algorithms if a.upper() == named), None)

    def _written_in(self, params: dict[str, str], algorithm: str) -> list[str]:
        """The charsets in which an answer's username and realm are ours (none: not ours), those
        its client wrote our credentials in to sign them. RFC 7616's `username*`, and a name as
        ours: UTF-8. A name beyond ASCII written as it is (curl and browsers write UTF-8, China
        Mobile's SDK GBK; the servers hand the header on read as Latin-1): each charset writing
        ours in its bytes, as Basic takes them (a name in UTF-8 was refused, a right password too)."""
        realm = params.get("realm")
        if params.get("userhash", "").lower() == "true":  # (the name hashed, in the charset it was written in)
            given = params.get("username", "").lower()
            ours = f"{self.username}:{self.realm}"
            return [charset for charset in _CREDENTIAL_CHARSETS
                    if realm is not None and _writes(charset, ours)
                    and realm in (self.realm, self.realm.encode(charset).decode("latin-1"))
                    and _same(given, userhash(self.username, self.realm, algorithm, charset))]
        if "username*" in params:
            named = _username(params)
            return ["utf-8"] if named is not None and _same(named, self.username) and realm == self.realm else []
        user = params.get("username")
        if user is None or realm is None:
            return []
        found = ["utf-8"] if _same(user, self.username) and realm == self.realm else []
        try:
            written = f"{user}\0{realm}".encode("latin-1")
        except UnicodeEncodeError:  # (not bytes read as Latin-1: a str of a framework of one's own)
            return found
        ours = f"{self.username}\0{self.realm}"
        found += [charset for charset in _CREDENTIAL_CHARSETS
                  if charset not in found and _writes(charset, ours) and hmac.compare_digest(ours.encode(charset), written)]
        return found

    def challenge(self, stale: bool = False) -> str:
        """The challenges (`challenges`) as one WWW-Authenticate value, which RFC 9110 allows; a
        server sends them as headers of their own (`challenge_headers`), as clients best read them."""
        return ", ".join(self.challenges(stale))

    def challenges(self, stale: bool = False) -> list[str]:
        """A challenge for each algorithm offered, the preferred first (RFC 7616 §3.7), each with
        its own nonce (as each 401 has: no two clients share one, nor its counts)."""
        # (charset=UTF-8, RFC 7616 §3.3: how a client is to write credentials beyond ASCII; before
        # the nonce, which ends the challenge as it did, for clients that read it as the last)
        extra = ", stale=true" if stale else ""
        hashed = "userhash=true, " if self.userhash else ""
        return [f'Digest realm="{_quoted(self.realm)}", qop="{",".join(self._qops)}", algorithm={algorithm}, '
                f'charset=UTF-8, {hashed}nonce="{self._nonce(algorithm=algorithm)}"{extra}' for algorithm in self.algorithms]

    def malformed(self, header: str | None) -> str | None:
        """What makes a Digest answer one `check` refuses whatever its credentials, in words for
        the log (None: nothing of the kind, or no Digest answer)."""
        if not header or header[:7].lower() != "digest ":
            return None
        if _repeats_a_param(header[7:]):
            return "names a parameter twice"
        p = _parse_auth_params(header[7:])
        if self._named(p) is None:  # (a client answering MD5 whatever it is offered: not a wrong password)
            named = f"algorithm={p['algorithm']}" if "algorithm" in p else "no algorithm (MD5)"
            offered = ", ".join(self.algorithms)
            fix = ("" if _algorithm(p.get("algorithm")) is None else
                   f': offer it too, "{offered}, {p.get("algorithm", "MD5")}", for such clients')
            return f"names {named}, which is not offered (only {offered}){fix}"
        if "qop" in p and not (p.get("nc") and p.get("cnonce")):
            return f"has qop={p['qop']} without nc and cnonce, which RFC 7616 requires with it"
        return None

    def mixed(self, header: str | None) -> str | None:
        """What a Digest answer refused as stale mixed, in words for the log: the nonce of a
        challenge in one algorithm answered with another (a client's fault, which no fresh
        challenge mends); None for another answer."""
        if not header or header[:7].lower() != "digest ":
            return None
        p = _parse_auth_params(header[7:])
        algorithm = self._named(p)
        if algorithm is None or self._nonce_state(p.get("nonce", ""), algorithm) != "other":
            return None
        return (f"its Digest answer is computed with {algorithm} but with the nonce of a challenge in another "
                f"algorithm: refused with fresh challenges (stale=true); its client mixes the challenges of a 401 "
                f"(offer one algorithm to such clients)")

    def other_target(self, uri: str, header: str | None) -> str | None:
        """The uri a Digest answer signs when it is not `uri`, the request's (None: it is, or the
        header has none), for the log to say why it was refused: a server of one's own calling
        `Receiver.handle` without the request's uri ("/" then) has every answer refused so."""
        if not header or header[:7].lower() != "digest ":
            return None
        given = _parse_auth_params(header[7:]).get("uri")
        return None if given is None or _names_target(given, uri) else given

    def _signed(self, p: dict[str, str], method: str, body, algorithm: str,
                charsets: list[str]) -> bool:
        """Whether answer `p`'s response is our credentials' with `algorithm`, written in one of `charsets`."""
        qop = p.get("qop")
        # (the body, the same whatever charset the password is written in, hashed once)
        body_hash = (_BodyHash(_body_hash(_algorithm(algorithm)[0], body))
                     if qop is not None and qop.lower() == "auth-int" else None)
        # (in each charset writing our credentials in other bytes: a password beyond ASCII may be
        # written in any of them, as with Basic)
        signed: dict[bytes, str] = {}
        for charset in charsets:
            if _writes(charset, self.password):
                signed.setdefault(f"{self.username}:{self.realm}:{self.password}".encode(charset), charset)
        expected = [digest_response(username=self.username, password=self.password, realm=self.realm,
                                    nonce=p["nonce"], method=method, uri=p.get("uri", ""),
                                    algorithm=algorithm, qop=qop, nc=p.get("nc", ""),
                                    cnonce=p.get("cnonce", ""), body=body_hash, charset=charset)
                    for charset in signed.values()]
        # (as bytes: compare_digest raises on a str beyond ASCII, and a header read as Latin-1 may hold one;
        # in either case: RFC 7616 writes hex in lower case, some clients in upper, the same digest)
        given, right = p.get("response", "").lower().encode("utf-8", "surrogatepass"), False
        for one in expected:  # (each compared, whichever matches: the time says none of them)
            right |= hmac.compare_digest(one.encode(), given)
        return right

    def computed_with(self, method: str, header: str | None, body: bytes | None = None) -> str | None:
        """The algorithm a refused answer naming SHA-512-256 was computed with when it is SHA-256
        (curl before 8.8 does so: its hashes are SHA-256's), for the log to say so; None otherwise.
        Never taken as right: only said."""
        if not header or header[:7].lower() != "digest ":
            return None
        p = _parse_auth_params(header[7:])
        named = self._named(p)
        if named is None or not named.upper().startswith("SHA-512-256"):
            return None
        instead = "SHA-256" + named[len("SHA-512-256"):]  # (its -sess as written)
        if "nonce" not in p or (p.get("qop", "").lower() == "auth-int" and body is None):
            return None
        hashed = p.get("userhash", "").lower() == "true"
        if hashed and _same(p.get("username", "").lower(), userhash(self.username, self.realm, instead)):
            p = {**p, "userhash": "false", "username": self.username}  # (its name hashed with the same mistake)
        charsets = self._written_in(p, instead)
        return instead if charsets and self._signed(p, method, body, instead, charsets) else None

    def check(self, method: str, uri: str, header: str | None,
              body: bytes | None = None) -> tuple[bool, bool]:
        """(accepted, stale). `body`, the request's, is needed for qop=auth-int."""
        if not header or not header[:7].lower() == "digest ":
            return False, False
        if _repeats_a_param(header[7:]):
            return False, False
        p = _parse_auth_params(header[7:])
        algorithm = self._named(p)  # (of those offered, the one the answer is computed with)
        if algorithm is None:
            return False, False
        charsets = (self._written_in(p, algorithm)
                    or self._written_in(_parse_auth_params(header[7:], unescape=False), algorithm))
        if not charsets:
            return False, False
        state = self._nonce_state(p.get("nonce", ""), algorithm)
        if state == "bad":
            return False, False
        qop = p.get("qop")
        qop = qop.lower() if qop is not None else None  # ("AUTH": RFC 7616's ABNF literals know no case)
        if (qop is not None and qop not in self._qops) or (qop is None and self._qops != ["auth"]):
            return False, False  # (RFC 2069 clients, without qop, only where plain auth is all we ask)
        if qop == "auth-int" and body is None:
            return False, False
        if qop is not None and not (p.get("nc") and p.get("cnonce")):
            return False, False  # (RFC 7616 §3.4: both go with qop; without a count, nothing says a repeat)
        # The uri in the header must be the request's, or the digest is not for it.
        if not _names_target(p.get("uri"), uri):
            return False, False
        if not self._signed(p, method, body, algorithm, charsets):
            return False, False
        if state == "stale":  # (RFC 7616 §3.3: said only to an answer right but for its nonce's age, which
            return False, True  # a client answers anew without asking for a password; a wrong one is told so)
        if state == "other":  # (right but for its nonce, as an aged one: RFC 7616 §3.3's stale; `mixed` says it)
            return False, True
        if not self._fresh(p["nonce"], p.get("nc") if "qop" in p else None):
            return False, True  # a repeat: an honest client answers the stale challenge at once
        return True, False


@functools.lru_cache(maxsize=64)
def _nonce_key(username: str, realm: str, password: str) -> bytes:
    """The key signing nonces, derived from the credentials slowly: anyone who can connect gets a
    nonce, no credentials needed, and its MAC tells a guess of the password right or wrong offline,
    past `FailureLimit`'s count of guesses sent. One HMAC of them let a guess be tested at a hash's
    speed (a six-digit password, as China Mobile's SDK asks for, all tried in seconds); PBKDF2
    makes each cost as many. (Once per credentials and process: about a tenth of a second.)"""
    secret = f"{username}\0{realm}\0{password}".encode()
    return hashlib.pbkdf2_hmac("sha256", secret, b"mm7bind digest nonce key", _NONCE_KEY_ROUNDS)


_NONCE_KEY_ROUNDS = 200_000


def _nonce_key_before(username: str, realm: str, password: str) -> bytes:
    """The key the release before signed nonces with: they are taken still (not given), so hosts
    upgraded one at a time behind one address take each other's."""
    secret = f"{username}\0{realm}\0{password}".encode()
    return hmac.new(b"mm7bind digest nonce key", secret, hashlib.sha256).digest()


def offered_algorithms(algorithm: str | Sequence[str]) -> tuple[str, ...]:
    """The Digest algorithms a server offers, in its order: one name, several separated by commas
    ("SHA-256, MD5", as in a configuration file), or a sequence of names; each once."""
    names = algorithm.split(",") if isinstance(algorithm, str) else list(algorithm)
    offered: list[str] = []
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"a Digest algorithm is a name, not {name!r}")
        name = name.strip()
        if not name:  # (not MD5, which an answer naming none means: "SHA-256," is a slip)
            raise ValueError(f"an empty Digest algorithm name in {algorithm!r}")
        if _algorithm(name) is None:
            raise ValueError(_unknown_algorithm(name))
        if name.upper() in (a.upper() for a in offered):
            raise ValueError(f"Digest algorithm {name} is offered twice")
        offered.append(name)
    if not offered:
        raise ValueError("at least one Digest algorithm is offered")
    return tuple(offered)


def challenge_headers(auth, stale: bool = False) -> list[tuple[str, str]]:
    """The WWW-Authenticate headers of a 401: one per challenge (Digest offering several
    algorithms: one each, in its order of preference, RFC 7616 §3.7), as clients best read them;
    an authenticator with only `challenge` (one of one's own), its one."""
    challenges = getattr(auth, "challenges", None)
    values = challenges(stale) if challenges is not None else [auth.challenge(stale)]
    return [("WWW-Authenticate", value) for value in values]


def _names_target(given: str | None, uri: str) -> bool:
    """Whether a Digest answer's `given` uri is the request-target as its client sent it, known
    here as `uri` (path and query, the path percent-decoded): in origin form (the path alone too),
    or in absolute form, "http://host/mm7" (RFC 9112 §3.2.2: what a client configured with a
    proxy sends, and any server takes), which the servers make the path before the application
    sees it."""
    if given is None:
        return False
    targets = (uri, uri.split("?", 1)[0])
    if _ABSOLUTE_FORM.match(given):
        try:
            parts = urlsplit(given)
        except ValueError:  # (an invalid IPv6 authority)
            return False
        if not parts.netloc:
            return False
        given = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if given in targets:
        return True
    # The servers hand on the path percent-decoded (WSGI as Latin-1, ASGI as UTF-8), the query as sent.
    path, mark, query = given.partition("?")
    if "%" not in path:
        return False
    for charset in ("utf-8", "latin-1"):
        try:
            if unquote(path, encoding=charset, errors="strict") + mark + query in targets:
                return True
        except UnicodeDecodeError:
            continue
    return False


_ABSOLUTE_FORM = re.compile(r"https?://", re.IGNORECASE)


@dataclass
class IPAllowList:
    """The addresses and networks that may post. An empty one is refused when made: it either
    admitted everyone (as it once did) or would refuse everyone; no list at all is `allow=None`."""

    networks: tuple

    def __post_init__(self) -> None:
        self.networks = tuple(self.networks)
        if not self.networks:
            raise ValueError("an allow-list needs at least one address or network "
                             "(it would refuse every peer): for no allow-list, pass allow=None")

    @classmethod
    def parse(cls, items) -> IPAllowList:
        """The networks of `items` (addresses or networks, or one as a str: its characters were
        read as addresses, "1" not being one). One written IPv4-mapped (::ffff:10.0.0.0/104, as a
        dual-stack server's logs show its peers) is taken as the IPv4 network it is, which the
        embedded server's peers come as."""
        networks = []
        for item in [items] if isinstance(items, str) else items:
            net = ipaddress.ip_network(item, strict=False)
            if net.version == 6 and net.subnet_of(_MAPPED):
                net = ipaddress.ip_network(f"{net.network_address.ipv4_mapped}/{net.prefixlen - 96}")
            networks.append(net)
        return cls(tuple(networks))

    def allows(self, address: str | None) -> bool:
        try:
            ip = ipaddress.ip_address((address or "").split("%", 1)[0])
        except ValueError:
            return False
        # On a dual-stack socket an IPv4 peer shows as ::ffff:a.b.c.d: the list's IPv4 networks hold it.
        mapped = getattr(ip, "ipv4_mapped", None)
        return any(ip in net or (mapped is not None and mapped in net) for net in self.networks)


_MAPPED = ipaddress.ip_network("::ffff:0:0/96")  # IPv4 addresses as an IPv6 socket shows them


def check_failure_settings(failures, cooldown) -> None:
    """The `auth_failures` and `auth_cooldown` settings (the receiver's, the simulator's, the send
    API's): a whole number, 0 for no limit, and more than 0 seconds, at most a day."""
    if isinstance(failures, bool) or not isinstance(failures, int) or failures < 0:
        raise ValueError(f"auth_failures must be a whole number, 0 for no limit, not {failures!r}")
    if isinstance(cooldown, bool) or not isinstance(cooldown, (int, float)) or not 0 < cooldown <= 86_400:
        raise ValueError(f"auth_cooldown must be a number of seconds, more than 0 and at most 86400 (a day), "
                         f"not {cooldown!r}")


class RefusalLog:
    """The WARNING lines of refused credentials that no `FailureLimit` bounds, one per peer and
    reason within `every` seconds: the first is said, the same refusal again from that peer counted
    and told with the next line said for it. A peer sending one malformed header in a loop (which
    tests no password, so is not counted), or wrong ones where `auth_failures` is 0, fills no log;
    guesses a limit counts (`every_time`) are said each, few as it lets them be. Bounded as
    FailureLimit is (`max_keys`, the least recently seen forgotten first). Thread-safe."""

    def __init__(self, every: float = 60.0, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic):
        self.every, self.max_keys, self._clock = every, max_keys, clock
        # (peer, reason) → [when said, how many alike not said since]; the least recently seen first
        self._said: OrderedDict[tuple[str, str], list] = OrderedDict()
        self._lock = threading.Lock()

    def say(self, log: logging.Logger, peer: str | None, why: str, every_time: bool = False) -> None:
        key, now = (FailureLimit._key(peer), why), self._clock()
        with self._lock:
            seen = self._said.pop(key, None)
            held = seen[1] if seen is not None else 0  # (alike, held back since it was said: told now)
            if not every_time:
                if seen is not None and now - seen[0] < self.every:
                    seen[1] += 1
                    self._said[key] = seen
                    return
                self._said[key] = [now, 0]
                while len(self._said) > self.max_keys:
                    self._said.popitem(last=False)
        log.warning("refused request from %s: %s%s", peer, why,
                    f" ({held} more alike from it not said since the last such line)" if held else "")


class FailureLimit:
    """Wrong credentials counted by peer: `failures` of them from one address within `cooldown`
    seconds, and its requests are refused unchecked for `cooldown` seconds (the receiver answers
    429 with Retry-After), so a peer cannot try passwords as fast as the server answers, nor
    fill the log with a line for each. Thread-safe.

    Bounded: it keeps at most `max_peers` addresses (those that failed longest ago forgotten
    first), and an IPv6 peer counts by its /64, which one host commonly holds whole (else each of
    its addresses had its own count). A peer is never refused longer than `cooldown` after its
    last counted failure: a peer whose credentials were wrong is taken again once they are right
    and its cool-down is over.

    With a `store` (the receiver's, the send API's), the failures are counted in it for every
    process on its file (`SqliteStore.auth_failed`): gunicorn's workers each counting their own let
    a guesser try `failures` passwords a cool-down in each. A process learns of a cool-down
    another one started at the peer's next wrong answer it sees, and refuses it unchecked from
    then on. A store that cannot count (locked past a second, a full disk) leaves the count to
    this process meanwhile. `scope` names what is counted, apart from the others the store counts
    ("mm7": the receiver's credentials, "api": the send API's tokens)."""

    def __init__(self, failures: int = 10, cooldown: float = 60.0, max_peers: int = 10_000,
                 clock: Callable[[], float] = time.monotonic, store=None, scope: str = ""):  # noqa: ANN001
        if isinstance(failures, bool) or not isinstance(failures, int) or failures < 1:
            raise ValueError(f"failures must be a whole number, at least 1, not {failures!r}")
        if isinstance(cooldown, bool) or not isinstance(cooldown, (int, float)) or not 0 < cooldown <= 86_400:
            raise ValueError(f"cooldown must be a number of seconds, more than 0 and at most 86400 (a day), "
                             f"not {cooldown!r}")
        self.failures, self.cooldown, self.max_peers, self._clock = failures, float(cooldown), max_peers, clock
        # peer key → (the times of its recent failures, the end of its cool-down or 0); oldest first
        self._peers: OrderedDict[str, tuple[list[float], float]] = OrderedDict()
        self._lock = threading.Lock()
        self.store = store if takes_shared_work(store, "auth_failed") else None
        self.scope = scope  # (what the store counts them under: the receiver's and the send API's apart)
        self._detour = StoreDetour(
            log, lambda said: (f"wrong credentials could not be counted in the store ({said}): this process counts "
                               "them alone until they can be"),
            lambda count, seconds: (f"wrong credentials are counted in the store again ({count} counted by this "
                                    f"process alone over {seconds:.0f} s)"), STORE_RETRY_AFTER)

    @staticmethod
    def _key(peer: str | None) -> str:
        try:
            ip = ipaddress.ip_address((peer or "").split("%", 1)[0])
        except ValueError:
            return peer or ""
        if ip.version == 6:
            if ip.ipv4_mapped is not None:  # (an IPv4 peer on a dual-stack socket: the same peer)
                return str(ip.ipv4_mapped)
            return str(ipaddress.ip_network(f"{ip}/64", strict=False))
        return str(ip)

    def refused_for(self, peer: str | None) -> float:
        """Seconds left of `peer`'s cool-down; 0 when its requests are checked."""
        key, now = self._key(peer), self._clock()
        with self._lock:
            _, until = self._peers.get(key, ((), 0.0))
            return max(0.0, until - now)

    def wrong(self, peer: str | None, log: logging.Logger, what: str = "wrong credentials",
              whose: str = "its requests") -> None:
        """Count a wrong answer of `peer`'s, and say on `log` (the caller's) when it starts a
        cool-down: the one line for the answers refused unchecked until it ends."""
        if self.failed(peer):
            log.warning("%d %s from %s within %g s: %s are answered 429, unchecked, for %g s",
                        self.failures, what, peer, self.cooldown, whose, self.cooldown)

    def failed(self, peer: str | None) -> bool:
        """Count a wrong answer of `peer`'s; True when it starts a cool-down (say so once)."""
        key, now = self._key(peer), self._clock()
        if self.store is not None:
            shared = self._failed_in_store(key, now)
            if shared is not None:
                return shared
        with self._lock:
            times, until = self._peers.pop(key, ([], 0.0))
            times = [t for t in times if now - t < self.cooldown] + [now]
            starts = len(times) >= self.failures and until <= now
            if starts:
                times, until = [], now + self.cooldown
            self._keep(key, times, until)
            return starts

    def _keep(self, key: str, times: list[float], until: float) -> None:
        """(Under the lock, `key` taken out.) Its entry put back last, the most recent, and the
        oldest let go past `max_peers`."""
        self._peers[key] = (times, until)
        while len(self._peers) > self.max_peers:
            self._peers.popitem(last=False)

    def _failed_in_store(self, key: str, now: float) -> bool | None:
        """`failed`, counted in the store; the cool-down it gives kept here too (`refused_for`
        reads no store). None when the store could not count it."""
        if not self._detour.asking():
            return None
        try:
            wall = time.time()
            starts, until = self.store.auth_failed(f"{self.scope} {key}", self.failures, self.cooldown, wall)
        except STORE_ERRORS as exc:
            self._detour.failed(exc)
            return None
        self._detour.worked()
        with self._lock:
            self._peers.pop(key, None)
            self._keep(key, [], now + until - wall if until > wall else 0.0)
        return starts
