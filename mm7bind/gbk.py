"""GBK (GB2312) told from other bytes where no label says which charset they are in: a text file
given without a charset, a file name sent as raw 8-bit bytes in a part's headers.

Chinese handsets, Windows' Notepad ("ANSI") and China Mobile's SDK write GB2312/GBK. GBK reads
almost any bytes, so it is taken only when its reading is Chinese and no other reading is likely:
UTF-8 Chinese is three bytes a character, which GB2312 never reads as Chinese characters alone;
Latin-1, Shift_JIS and Big5 land mostly outside GB2312 or in its kana, symbols and user-defined
rows (Latin-1's accented letters side by side, "éé", land on Chinese characters: a word's few
letters are taken as Latin). EUC-KR has GB2312's very shape, but Korean lands in a third of its
rows of Chinese characters alone, which a Chinese text of a dozen characters does not: a shorter
Korean text is taken for Chinese (nothing an SP in China exchanges messages with writes EUC-KR).
"""

from __future__ import annotations

import codecs
import re
import unicodedata

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\ue000-\uf8ff]")  # (and GBK's user-defined rows)
_NOT_CHINESE = re.compile(r"[^\x00-\x7f\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")  # (nor ASCII)


def text_charset(head: bytes, final: bool) -> str | None:
    """"gb2312" (or "gbk" when it needs GBK's characters, "gb18030" when it needs GB18030's: a
    rare character of a name, "䶮", or one of its four-byte ones) for bytes that are Chinese text in
    it, else None. `head` is a text's first bytes (`final`: all of them: else its last character may
    be cut). Chinese text: every byte read, no control character but tab, line breaks and form
    feed, at least nine in ten of its other characters GB2312's, and half Chinese characters or
    signs (GB2312's kana, Greek, Cyrillic and box drawing are where other charsets' text lands)."""
    wider = False
    try:
        text = codecs.getincrementaldecoder("gbk")().decode(head, final=final)
    except UnicodeDecodeError:
        try:  # (the rest as for GBK: nine in ten GB2312's keeps what GB18030 reads of other bytes out)
            text = codecs.getincrementaldecoder("gb18030")().decode(head, final=final)
        except UnicodeDecodeError:
            return None
        wider = True
    if _latin_words(head):
        return None
    ascii_count = len(text.encode("ascii", "ignore"))
    others = len(text) - ascii_count
    if not others or _CONTROL.search(text):
        return None
    gb2312 = text.translate(_AS_PYTHONS_GB2312).encode("gb2312", "ignore")
    in_gb2312 = (len(gb2312) - ascii_count) // 2
    if in_gb2312 * 10 < others * 9 or len(_NOT_CHINESE.findall(text)) * 2 > others:
        return None
    # Korean in EUC-KR reads as GB2312 characters of rows B0-C8 alone (its syllables' rows); a third
    # to a half of a Chinese text's characters are in the rows after: a dozen with none is Korean.
    early = 0
    for pair in _GB2312_PAIR.finditer(gb2312):  # (a Chinese text soon has a character past row C8)
        if pair.group()[0] >= 0xC9:
            break
        early += pair.group()[0] >= 0xB0
    else:
        if early >= _KOREAN_SHAPED:
            return None
    return "gb18030" if wider else "gb2312" if in_gb2312 == others else "gbk"


def _latin_words(head: bytes) -> bool:
    """Whether each run of 8-bit bytes, read as Latin-1, is a few letters inside a word ("créée",
    "ações", "größe"): European text in ISO-8859-1 or windows-1252, though GB2312 reads "éé" and
    "çõ" as Chinese characters. GBK Chinese read so is runs of four bytes and more ("ÐÂÄê" for
    "新年"), or signs ("¿ì"), or stands apart from Latin letters."""
    runs = 0
    for run in _EIGHT_BIT_RUN.finditer(head):
        start, end = run.span()
        if end - start > 3 or not _LATIN1_LETTERS.fullmatch(run.group()):
            return False
        if not (head[start - 1 : start].isalpha() or head[end : end + 1].isalpha()):  # (ASCII letters)
            return False
        runs += 1
    return runs > 0


_EIGHT_BIT_RUN = re.compile(rb"[\x80-\xff]+")
_LATIN1_LETTERS = re.compile(rb"[\xc0-\xd6\xd8-\xf6\xf8-\xff]+")  # (not \xd7 and \xf7: × and ÷)
_GB2312_PAIR = re.compile(rb"[\xa1-\xf7][\xa1-\xfe]")  # (ASCII between pairs: the search stays aligned)
_KOREAN_SHAPED = 12


def name_reading(raw: bytes, utf8: str) -> str | None:
    """The GB2312 reading of a name's raw bytes that UTF-8 reads as `utf8` too, when only it makes
    sense; else None (the UTF-8 reading stands). A GBK name is often valid UTF-8 ("图" is CD BC,
    UTF-8's "ͼ"), but then of two-byte characters, or of ones no text has (unassigned, private):
    a name holding any other character of three bytes or more (UTF-8 Chinese) is UTF-8. GB2312
    must read every other byte pair as a Chinese character, and the UTF-8 reading must be no
    words: a word is a run of letters of one alphabet (Latin, Greek, Cyrillic, Armenian, Hebrew,
    Arabic), two or more, or for Latin letters ("café", which GB2312 reads as "caf茅") beside a
    plain letter; a sign such as "°" or "©" is one beside a digit or a letter ("10°C")."""
    if any(ord(c) >= 0x800 and unicodedata.category(c) not in ("Cn", "Co") for c in utf8):
        return None
    try:
        gb = raw.decode("gb2312")
    except UnicodeDecodeError:
        return None
    if not all(c.isascii() or "\u4e00" <= c <= "\u9fff" for c in gb):
        return None
    return None if all(_is_word(m.group(0), utf8, m.start()) for m in _NOT_ASCII.finditer(utf8)) else gb


_NOT_ASCII = re.compile(r"[^\x00-\x7f]+")
# The letters of two bytes in UTF-8 that names are written in (the alphabets of Europe and the
# Middle East as their languages use them, not the rarer letters of their blocks, nor IPA).
_ALPHABETS = (
    ("Latin", re.compile("[\u00c0-\u017f\u01a0\u01a1\u01af\u01b0\u0218-\u021b]")),
    ("Greek", re.compile("[\u0386-\u03ce]")),
    ("Cyrillic", re.compile("[\u0400-\u045f\u0490\u0491]")),
    ("Armenian", re.compile("[\u0531-\u0587]")),
    ("Hebrew", re.compile("[\u05b0-\u05c7\u05d0-\u05ea]")),
    ("Arabic", re.compile("[\u0620-\u0652\u067e\u0686\u0698\u06a9\u06af\u06cc\u0679\u0688\u0691\u06ba\u06be\u06c1\u06d2]")),
)


def _is_word(run: str, text: str, start: int) -> bool:
    before, after = text[start - 1 : start], text[start + len(run) : start + len(run) + 1]  # (ASCII)
    if len(run) == 1 and "\u00a1" <= run <= "\u00bf":  # a Latin-1 sign
        return before.isalnum() or after.isalnum()
    if not unicodedata.category(run[0]).startswith("L"):  # (a word starts with a letter)
        return False
    scripts: set[str] = set()
    for c in run:
        if "\u0300" <= c <= "\u0362" and scripts and scripts <= {"Latin", "Greek", "Cyrillic"}:
            continue  # (an accent written after its letter)
        script = next((name for name, letters in _ALPHABETS if letters.match(c)), None)
        if script is None or not unicodedata.category(c).startswith(("L", "M")):
            return False
        scripts.add(script)
    if len(scripts) != 1:
        return False
    if scripts == {"Latin"}:
        return before.isalpha() or after.isalpha()
    return len(run) >= 2


# Characters Python's GB2312 codec writes as bytes that GBK and GB18030 read as others, as most
# readers of "gb2312" do (mm7bind reads it as GB18030): its A1AA is U+2015, theirs U+2014; its A1A4
# U+30FB, theirs U+00B7. Text holding one reads back otherwise than it was written.
AMBIGUOUS_IN_GB2312 = re.compile("[\u2015\u30fb]")
_READ_AS = {"\u2015": "\u2014", "\u30fb": "\u00b7"}
# (and the other way: GB2312's dash and middle dot read by GBK are counted as GB2312's)
_AS_PYTHONS_GB2312 = {ord(theirs): ours for ours, theirs in _READ_AS.items()}


def ambiguity(char: str) -> str:
    """Why `char` (one of `AMBIGUOUS_IN_GB2312`) cannot go in GB2312, and which charset holds it."""
    holder = "gbk or gb18030" if char != "\u30fb" else "gb18030 or utf-8"  # (GBK has no U+30FB)
    return (f"U+{ord(char):04X} goes as {char.encode('gb2312').hex().upper()}, which GBK and GB18030 "
            f"readers read as U+{ord(_READ_AS[char]):04X}: write it in {holder}")
