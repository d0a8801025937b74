"""China Mobile's identifiers (manual §2) and how they map to MM7 fields.

    企业代码 enterprise code  → VASPID       6 digits, 8XY000–8XY999 (XY: the provincial branch)
    服务代码 service code     → VASID        4 digits 1000–9999 (nationwide) or 5 digits 01000–09999 (local)
    业务代码 business code    → ServiceCode  3 digits upstream; 6 digits downstream
    操作指令码 operation code  (no field)     "CX…" when an MMS service is ordered by SMS

Checks return the problems found, each naming the rule it breaks; `strict=True` raises instead.
Carriers differ, so nothing here is enforced unless asked — but for a long number that could not
be read back at all (`long_number`, `split_long_number`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class CodeError(ValueError):
    """An identifier breaking one of the manual's rules; `rule` names it."""

    def __init__(self, rule: str, message: str):
        self.rule = rule
        super().__init__(f"{message} [{rule}]")


@dataclass(frozen=True)
class Problem:
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.message} [{self.rule}]"


def _finish(problems: list[Problem], strict: bool) -> list[Problem]:
    if strict and problems:
        raise CodeError(problems[0].rule, problems[0].message)
    return problems


def _digits_hint(code: str | None) -> str:
    """What to say of digits that are not ASCII (a Chinese input method's full-width ２, say): Python's
    \\d and isdigit() take them, an MMSC does not."""
    if code and any(ch.isdigit() and not "0" <= ch <= "9" for ch in code):
        return " (its digits must be ASCII 0-9, not full-width or other digits)"
    return ""


def check_enterprise_code(code: str, *, strict: bool = False) -> list[Problem]:
    """VASPID: six digits 8XY000–8XY999; nationwide MMS SPs have 8XY001–8XY999 (§2.1)."""
    out = []
    if not re.fullmatch(r"[0-9]{6}", code or ""):
        out.append(Problem("2.1-six-digits", f"enterprise code {code!r} must be 6 digits{_digits_hint(code)}"))
    elif code[0] != "8":
        out.append(Problem("2.1-starts-with-8", f"enterprise code {code} must start with 8 (8XY000–8XY999), "
                           f"the MMS one{_other_service(code)}"))
    elif code.endswith("000"):
        out.append(Problem("2.1-not-000", f"enterprise code {code}: SP numbers run 8XY001–8XY999"))
    return _finish(out, strict)


def _other_service(code: str) -> str:
    """What a 9XY code is (§2.1): China Mobile's too, of an SP's SMS or WAP services, which an SP
    running those may take for its MMS code."""
    if code[0] != "9" or code[3:] == "000":
        return ""
    service, numbers = ("SMS", "9XY001–9XY500") if code[3:] <= "500" else ("WAP", "9XY501–9XY999")
    return f": {code} is a nationwide {service} SP's code ({numbers})"


UNALLOCATED = [r"13[0-9][0-9]", r"20(0[1-9]|[1-9][0-9])", r"168[0-9]", r"186[0-9]", r"125[89]", r"172[0-9]", r"6[0-9]{3}",
               r"7[0-9]{3}"]


def check_service_code(code: str, *, strict: bool = False) -> list[Problem]:
    """VASID: 4 digits 1000–9999 nationwide, 5 digits 01000–09999 local, not in the unallocated ranges (§2.2)."""
    out = []
    if re.fullmatch(r"[0-9]{4}", code or ""):
        if code < "1000":
            out.append(Problem("2.2-nationwide-range", f"nationwide service code {code} must be 1000–9999"))
        elif any(re.fullmatch(p, code) for p in UNALLOCATED):
            out.append(Problem("2.2-unallocated", f"service code {code} is in a range China Mobile has not allocated"))
    elif re.fullmatch(r"[0-9]{5}", code or ""):
        if not ("01000" <= code <= "09999"):
            out.append(Problem("2.2-local-range", f"local service code {code} must be 01000–09999"))
    else:
        out.append(Problem("2.2-four-or-five-digits", f"service code {code!r} must be 4 (nationwide) or 5 (local) digits"
                           + _digits_hint(code)))
    return _finish(out, strict)


# first-level digit → (Chinese, English, {second-level digit: (Chinese, English)})
CATEGORIES = {
    "1": ("新闻天气", "news and weather", {
        "1": ("天气预报", "weather forecast"), "2": ("热点快讯", "hot news"), "3": ("社会新闻", "society news"),
        "4": ("体育新闻", "sports news"), "5": ("娱乐新闻", "entertainment news"), "6": ("财经新闻", "finance news"),
        "0": ("综合新闻", "general news")}),
    "2": ("游戏娱乐", "games and entertainment", {
        "1": ("聊天交友", "chat and dating"), "2": ("笑话幽默", "jokes and humour"), "3": ("彩信游戏", "MMS games"),
        "4": ("影音视线", "video and audio"), "5": ("互动有奖", "interactive prizes"), "0": ("五花八门", "miscellaneous")}),
    "3": ("时尚生活", "lifestyle", {
        "1": ("时尚有约", "fashion"), "2": ("车迷世界", "cars"), "3": ("文化教育", "culture and education"),
        "4": ("情感画廊", "emotions"), "5": ("爱情家庭", "love and family"), "6": ("两性健康", "sexual health"),
        "7": ("证券财经", "stocks and finance"), "8": ("位置服务", "location services"), "0": ("五花八门", "miscellaneous")}),
    "4": ("卡通动漫", "cartoons and anime", {
        "1": ("欧美", "Western"), "2": ("日本", "Japan"), "3": ("韩国", "Korea"), "4": ("港台", "Hong Kong and Taiwan"),
        "5": ("本地原创", "local original"), "0": ("五花八门", "miscellaneous")}),
    "5": ("彩信铃声", "MMS ringtones", {
        "1": ("明星专辑", "star albums"), "2": ("精品影视", "film and TV"), "3": ("流行音乐", "pop music"),
        "4": ("古典音乐", "classical music"), "5": ("卡拉OK", "karaoke"), "6": ("特殊音效", "sound effects"),
        "0": ("五花八门", "miscellaneous")}),
    "6": ("彩图动画", "pictures and animation", {
        "1": ("人物剪影", "people"), "2": ("动物一族", "animals"), "3": ("美丽心情", "moods"), "4": ("温馨祝福", "greetings"),
        "5": ("电影名画", "film and art"), "6": ("体育纵横", "sports"), "7": ("大千世界", "the world"),
        "8": ("3D动画", "3D animation"), "0": ("五花八门", "miscellaneous")}),
    "7": ("彩信DIY", "MMS DIY", {
        "1": ("贺卡类", "cards"), "2": ("形象类", "images"), "3": ("文字类", "text"), "0": ("五花八门", "miscellaneous")}),
    "0": ("特色用途", "special uses", {"1": ("免费客服", "free customer service"), "2": ("优惠套餐", "discount packages")}),
}
FUNCTIONS = {"1": "ordinary downstream service", "7": "handset-preinstalled service (channel revenue share)",
             "6": "group customer application (free)"}
MODES = {"1": "per-message on-demand (按条点播)", "2": "per-message subscription (按条定制)",
         "3": "monthly subscription (包月定制)", "4": "monthly on-demand (包月点播)"}


@dataclass(frozen=True)
class DownstreamCode:
    """A 6-digit downstream business code, taken apart (§2.3.2)."""

    code: str
    function: str  # digit 1
    category: str  # digit 2: first-level category (Chinese)
    subcategory: str  # digit 3 (Chinese)
    mode: str  # digit 4
    sp_part: str  # digits 5–6, the SP's own
    category_en: str = ""  # the categories in English
    subcategory_en: str = ""


def check_business_code(code: str, *, direction: str = "down", strict: bool = False) -> list[Problem]:
    """ServiceCode: 3 digits upstream (§2.3.1), 6 digits downstream (§2.3.2); never "000"."""
    if direction not in ("up", "down"):  # (anything else was checked as downstream, against the wrong rules)
        raise ValueError(f"direction is 'up' or 'down', not {direction!r}")
    out = []
    if direction == "up":
        if code == "0":
            return []  # the default added for MO sent to the bare service code
        if not re.fullmatch(r"[0-9]{3}", code or ""):
            out.append(Problem("2.3.1-three-digits", f"upstream business code {code!r} must be 3 digits"
                               + _digits_hint(code)))
        elif code == "000":
            out.append(Problem("2.3-not-000", "a business code may not be 000"))
        elif code[0] in "079":
            out.append(Problem("2.3.1-reserved-first-digit", f"upstream business codes starting with {code[0]} are reserved"))
        return _finish(out, strict)
    if not re.fullmatch(r"[0-9]{6}", code or ""):
        out.append(Problem("2.3.2-six-digits", f"downstream business code {code!r} must be 6 digits"
                           + _digits_hint(code)))
    elif code.startswith("000"):
        out.append(Problem("2.3-not-000", "a business code may not be 000"))
    else:
        if code[0] not in FUNCTIONS:
            out.append(Problem("2.3.2-function-flag", f"function flag {code[0]} must be 1, 7 or 6"))
        cat = CATEGORIES.get(code[1])
        if cat is None:
            out.append(Problem("2.3.2-category", f"first-level category {code[1]} is not defined"))
        elif code[2] not in cat[2]:
            out.append(Problem("2.3.2-subcategory", f"second-level category {code[2]} is not defined under {cat[0]} "
                               f"({cat[1]})"))
        if code[3] not in MODES:
            out.append(Problem("2.3.2-business-mode", f"business mode {code[3]} must be 1–4"))
    return _finish(out, strict)


def parse_downstream(code: str) -> DownstreamCode:
    check_business_code(code, direction="down", strict=True)
    zh, en, subs = CATEGORIES[code[1]]
    sub_zh, sub_en = subs[code[2]]
    return DownstreamCode(code, FUNCTIONS[code[0]], zh, sub_zh, MODES[code[3]], code[4:6], en, sub_en)


def check_operation_code(code: str, *, ordered_by_sms: bool = True, strict: bool = False) -> list[Problem]:
    """An operation instruction code; one that orders an MMS service by SMS starts with "CX" (§2.4)."""
    out = []
    if not code or not code.strip():
        out.append(Problem("2.4-not-empty", "an operation code cannot be empty"))
    elif ordered_by_sms and not code.upper().startswith("CX"):
        out.append(Problem("2.4-cx-prefix", f"operation code {code!r} orders an MMS service by SMS: it must start with CX"))
    return _finish(out, strict)


def long_number(service_code: str, business_code: str = "", operation_code: str = "", *, strict: bool = False) -> str:
    """The long-number SenderAddress: service code + business code + operation code (§2.2).

    Users reply to it, and the SP reads the business and operation codes back from the recipient
    of the MO. Only digits can travel in a number, so a "CX…" operation code is refused.
    Business code "0" is the bare service code's (§2.3.1): its long number is the service code
    alone, as `split_long_number` reads it back. What cannot make a number users reply to is a
    CodeError even without `strict`: no service code (the business code alone would be another
    SP's number), or an operation code after business code "0" or none (it would be read back
    as the business code).
    """
    if not service_code:
        raise CodeError("2.2-service-code", "a long number starts with the service code: none given")
    if operation_code and business_code in ("", "0"):
        raise CodeError("2.2-business-code-first", f"operation code {operation_code!r} needs a business code before "
                        "it" + (" other than 0 (the bare service code's, §2.3.1)" if business_code else "")
                        + ": it would be read back as the business code")
    if business_code == "0":
        business_code = ""  # the MMSC's default for an MO to the bare service code: no digit of the number
    problems = check_service_code(service_code)
    if business_code:
        problems += check_business_code(business_code, direction="up" if len(business_code) <= 3 else "down")
    if operation_code and not re.fullmatch(r"[0-9]+", operation_code):
        problems.append(Problem("2.2-digits-only", f"operation code {operation_code!r} cannot be part of a number"
                                + _digits_hint(operation_code)))
    number = f"{service_code}{business_code}{operation_code}"
    if len(number) > 21:
        problems.append(Problem("2.2-length", f"long number {number} is longer than 21 digits"))
    if strict and problems:
        raise CodeError(problems[0].rule, problems[0].message)
    return number


def split_long_number(number: str, service_code: str, business_digits: int = 3) -> tuple[str, str]:
    """(business code, operation code) from a long number that starts with `service_code`; the
    bare service code has the business code "0", which the MMSC gives an MO sent to it (§2.3.1)."""
    if not service_code:  # (every number starts with "": its first digits were read as the business code)
        raise CodeError("2.2-service-code", f"{number} cannot be split without the service code it starts with")
    if not number.startswith(service_code):
        raise CodeError("2.2-prefix", f"{number} does not start with the service code {service_code}")
    rest = number[len(service_code):]
    return (rest[:business_digits], rest[business_digits:]) if rest else ("0", "")
