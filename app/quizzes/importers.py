"""Reading question files the way teachers actually have them. Pure functions: bytes or text in,
`ParseResult(questions, errors)` out, no database.

Spreadsheets (.xlsx, .csv, tab separated "Unicode 文本"): a title row (often merged) and blank
rows may sit above the header; in a workbook every visible sheet with a header is read (one
sheet per 题型 is common; 填写说明 sheets are passed over, hidden and 示例 sheets too unless no
other sheet has a header) and a sheet named 单选题/多选题/判断题 gives the type of its rows that
have none. Headers are Chinese or English in any order (题型/type, 题目/题干/stem, 选项A–F or
A–F, 正确答案/答案, 答案解析/解析, 知识分类/分类, 难度, 依据/法条); other columns (序号 …) are
ignored. Options may also sit under 选项 merged above A | B | C | D, or all in one 选项 cell
(`A.甲 B.乙`, one per line, or split by |). Answers come as `B`, ` Ｂ `, `A、C`, `A,B,C`,
`ＡＢＣ`, `√`/`×`, `对`/`错`, `正确`/`错误`, or as the right option's text; difficulty as
易/中/难, 1–3 or stars. Every refused row is reported with its spreadsheet row number (1-based,
as Excel shows it) and a Chinese reason (and its sheet, when several were read); a row whose
recognised columns are all blank (a pre-numbered 序号 row) is skipped. Date cells read as
Chinese text (2017年6月1日). GIFT and Aiken (Moodle's text formats) report the line where the
question starts.
"""
from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from html.parser import HTMLParser
from typing import Any

from app.common.downloads import excel_row
from app.quizzes.models import TRUE_FALSE_OPTIONS

log = logging.getLogger(__name__)

MAX_OPTIONS = 6
MAX_ROWS = 10_000  # questions (non-empty rows) in one import
MAX_COLUMNS = 100  # columns of a spreadsheet row read (a bank needs about 15)
MAX_INFLATED_BYTES = 100 * 1024 * 1024  # an .xlsx's parts, uncompressed (10,000 questions: ~20 MB)
MAX_SCANNED_ROWS = 20 * MAX_ROWS  # rows read below the header, blank ones included (bordered empty rows)
LETTERS = "ABCDEF"
HEADER_SCAN_ROWS = 30

FIELD_ALIASES = {
    "type": {"题型", "类型", "题目类型", "试题类型", "题类", "type", "questiontype", "qtype"},
    "stem": {"题目", "题干", "试题", "题目内容", "试题内容", "题干内容", "问题", "题目名称", "stem", "question",
             "questiontext", "title"},
    "answer": {"正确答案", "答案", "标准答案", "参考答案", "正确选项", "answer", "correctanswer", "key"},
    "explanation": {"答案解析", "解析", "试题解析", "题目解析", "解释", "说明", "explanation", "analysis", "feedback"},
    "category": {"知识分类", "分类", "知识点", "类别", "题目分类", "知识类别", "category", "topic"},
    "difficulty": {"难度", "难易程度", "难度等级", "难易度", "difficulty", "level"},
    "legal_basis": {"依据", "法条", "法律依据", "法条依据", "法规依据", "出处", "legalbasis", "basis", "reference",
                    "law"},
}
_ALIAS_TO_FIELD = {alias: name for name, aliases in FIELD_ALIASES.items() for alias in aliases}
_OPTION_HEADER = re.compile(r"^(?:选项|option|opt)?([a-f])(?:选项|项)?$|^选项([1-6一二三四五六])$")
_CN_DIGITS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6}

TYPE_ALIASES = {
    "single": {"单选", "单选题", "单项选择", "单项选择题", "单择题", "选择题", "选择", "single", "singlechoice",
               "single_choice", "radio"},
    "multiple": {"多选", "多选题", "多项选择", "多项选择题", "不定项", "不定项选择", "不定项选择题", "multiple",
                 "multiplechoice", "multiple_choice", "multi", "checkbox"},
    "true_false": {"判断", "判断题", "是非", "是非题", "对错", "对错题", "truefalse", "true_false", "true/false",
                   "tf", "judge", "judgement", "judgment", "boolean"},
}
_TYPE_LOOKUP = {alias: name for name, aliases in TYPE_ALIASES.items() for alias in aliases}
TYPE_NAMES = {"single": "单选题", "multiple": "多选题", "true_false": "判断题"}

TRUE_TOKENS = {"√", "✓", "✔", "☑", "✅", "对", "正确", "是", "T", "TRUE", "Y", "YES", "RIGHT"}
FALSE_TOKENS = {"×", "✗", "✘", "✖", "☒", "❌", "❎", "X", "错", "错误", "否", "F", "FALSE", "N", "NO", "WRONG"}
DIFFICULTY_ALIASES = {
    1: {"1", "易", "简单", "容易", "较易", "低", "easy"},
    2: {"2", "中", "中等", "一般", "适中", "普通", "medium", "normal"},
    3: {"3", "难", "困难", "较难", "高", "hard", "difficult"},
}
_DIFFICULTY_LOOKUP = {alias: level for level, aliases in DIFFICULTY_ALIASES.items() for alias in aliases}
DIFFICULTY_NAMES = {1: "易", 2: "中", 3: "难"}
LIMITS = {"stem": 2000, "option": 500, "explanation": 4000, "category": 40, "legal_basis": 200}


class ImportFormatError(Exception):
    """The file as a whole cannot be read (no header, not a spreadsheet, too many rows)."""

    def __init__(self, code: str, message: str):
        super().__init__(code)
        self.code = code
        self.message = message


class QuestionError(ValueError):
    """One question is invalid; the message is Chinese and names the reason. `field` is the
    input it concerns (`answer`, `options` …), for the API's per-field errors; None for a whole
    question of a text format (GIFT, Aiken)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class ParseResult:
    questions: list[dict] = field(default_factory=list)  # normalised questions, each with its `row`
    errors: list[dict] = field(default_factory=list)  # [{row, message}] (and `sheet`, see below)
    sheets: list[str] = field(default_factory=list)  # the sheets read, when several (each item names its own)
    format: str = ""  # xlsx, csv, gift or aiken: what parse_file read the file as


# --- normalising one question -------------------------------------------------------------


def _clock(value: datetime | time) -> str:
    return f"{value:%H:%M:%S}" if value.second else f"{value:%H:%M}"


def _text(value: Any) -> str:
    """A cell as text: numbers without a trailing .0, None as empty, whitespace trimmed. Date cells
    (Excel turns a typed 2017年6月1日 into one) as the teacher typed them, not `2017-06-01 00:00:00`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, date):
        day = f"{value.year}年{value.month}月{value.day}日"
        if isinstance(value, datetime) and value.time() != time():
            return f"{day} {_clock(value)}"
        return day
    if isinstance(value, time):
        return _clock(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).replace("\u3000", " ").replace("\x00", "").strip()  # NUL: PostgreSQL refuses it


_VARIATION_SELECTORS = re.compile("[\ufe0e\ufe0f]")


def _fold(value: str) -> str:
    """Full-width → half-width (Ｂ → B), upper case, no surrounding space, no emoji variation
    selector (a ✔️ typed on a phone is ✔ followed by U+FE0F)."""
    return _VARIATION_SELECTORS.sub("", unicodedata.normalize("NFKC", value)).strip().upper()


def _folded_text(text: str) -> str:
    folded = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()
    return folded.rstrip("。.？?！!：:;；，,")


def stem_key(stem: str, options: list[str]) -> str:
    """The identity of a question for duplicate detection: its stem and its options in any order,
    each width-folded, without whitespace or final punctuation, hashed to fit an index. Banks
    are full of stems like 下列说法正确的是（ ） whose options make different questions; the same
    question typed again (other spacing, options reordered) is one."""
    parts = [_folded_text(stem), *sorted(_folded_text(option) for option in options)]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def parse_type(raw: Any) -> str | None:
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", _text(raw))).lower()
    if not text:
        return None
    if text in _TYPE_LOOKUP:
        return _TYPE_LOOKUP[text]
    raise QuestionError(f"题型「{_text(raw)}」无法识别（应为单选题、多选题或判断题）", field="type")


def parse_difficulty(raw: Any) -> int:
    """易/中/难, 1–3 (also typed as text "3.0", which a numeric column exported as text holds),
    or stars: ★★ and ★★☆ are 2."""
    text = unicodedata.normalize("NFKC", _text(raw)).strip().lower()
    if not text:
        return 2
    text = re.sub(r"^([123])\.0+$", r"\1", text)
    if text in _DIFFICULTY_LOOKUP:
        return _DIFFICULTY_LOOKUP[text]
    if re.fullmatch(r"[★☆]+", text) and 1 <= text.count("★") <= 3:
        return text.count("★")
    raise QuestionError(f"难度「{_text(raw)}」无法识别（应为 易/中/难 或 1–3）", field="difficulty")


def _true_false_value(raw: Any) -> bool | None:
    if isinstance(raw, bool):
        return raw
    token = _fold(_text(raw))
    if token in TRUE_TOKENS:
        return True
    if token in FALSE_TOKENS:
        return False
    return None


def _letter_truth(letter: str, options: list[str]) -> bool | None:
    """A true/false answer written as a letter: A is true without options; with two options
    that read as true and false in either order (对/错, √/×, 是/否, 正确/错误, T/F, true/false …)
    the letter picks one of them. None when the options do not say which is which."""
    if not options:
        return letter == "A"
    if len(options) != 2 and tuple(options[:2]) != TRUE_FALSE_OPTIONS:
        return None
    values = [_true_false_value(text) for text in options[:2]]
    if None in values or values[0] == values[1]:
        return None
    return values[LETTERS.index(letter)]


_ANSWER_SEPARATORS = re.compile(r"[\s,;、/|.。和及与]+")


def _answer_letters(raw: Any) -> str:
    """`A、C`, `A,B,C`, `ＡＢＣ`, ` Ｂ ` → `AC`, `ABC`, `ABC`, `B` (order kept, repeats dropped).
    Raises when something other than letters remains, or nothing does."""
    if isinstance(raw, (list, tuple)):
        raw = ",".join(_text(item) for item in raw)
    folded = _fold(_text(raw))
    letters = _ANSWER_SEPARATORS.sub("", folded)
    if not re.fullmatch(r"[A-Z]+", letters):
        raise QuestionError(f"答案「{_text(raw)}」无法识别（应为选项字母，如 B 或 ACD）", field="answer")
    return "".join(dict.fromkeys(letters))


def _option_answer(answer_text: str, options: list[str]) -> str | None:
    """The letter of an answer written as the option itself: `2017年6月1日`, or `B. 2017年6月1日`
    (banks exported from other systems, or typed by someone who copied the right option). None
    when the text is not exactly one option's."""
    folded = _fold(answer_text)
    if not folded or not options or re.fullmatch(r"[A-F]+", _ANSWER_SEPARATORS.sub("", folded)):
        return None  # letters are letters, even where an option reads "A"
    prefixed = re.fullmatch(r"([A-F])\s*[.、．:：)）]\s*(.+)", folded, flags=re.S)
    if prefixed and LETTERS.index(prefixed.group(1)) < len(options) \
            and _fold(options[LETTERS.index(prefixed.group(1))]) == prefixed.group(2).strip():
        return prefixed.group(1)
    matches = [LETTERS[index] for index, text in enumerate(options) if _fold(text) == folded]
    return matches[0] if len(matches) == 1 else None


def _clean_options(raw_options: list[Any]) -> list[str]:
    texts = [_text(value) for value in raw_options]
    while texts and not texts[-1]:
        texts.pop()
    if len(texts) > MAX_OPTIONS:
        raise QuestionError(f"选项超过 {MAX_OPTIONS} 个", field="options")
    for index, text in enumerate(texts):
        if not text:
            raise QuestionError(f"选项{LETTERS[index]}为空，但后面还有选项", field="options")
        # "A. 内容" / "A、内容" in the A column: drop the repeated letter.
        prefix = re.match(rf"^[{LETTERS[index]}{chr(0xFF21 + index)}]\s*[.、．:：)）]\s*", text)
        if prefix and len(text) > prefix.end():
            texts[index] = text[prefix.end():].strip()
        if len(texts[index]) > LIMITS["option"]:
            raise QuestionError(f"选项{LETTERS[index]}超过 {LIMITS['option']} 字", field="options")
    if len(set(texts)) != len(texts):
        raise QuestionError("选项内容有重复", field="options")
    return texts


def normalize_question(raw: dict) -> dict:
    """One question from loose input (`type, stem, options, answer, explanation, category,
    difficulty, legal_basis`) to the stored form; raises QuestionError with a Chinese reason."""
    stem = _text(raw.get("stem"))
    if not stem:
        raise QuestionError("缺少题干", field="stem")
    if len(stem) > LIMITS["stem"]:
        raise QuestionError(f"题干超过 {LIMITS['stem']} 字", field="stem")
    qtype = parse_type(raw.get("type"))
    raw_answer = raw.get("answer")
    if isinstance(raw_answer, (list, tuple)) and len(raw_answer) == 1:
        raw_answer = raw_answer[0]
    answer_text = ",".join(map(_text, raw_answer)) if isinstance(raw_answer, (list, tuple)) else _text(raw_answer)
    # Only separators ("/" or "、", how sheets write "none"; [] or [" "] from the API) is no answer:
    # stored, an empty answer scored a blank paper as correct.
    if not _ANSWER_SEPARATORS.sub("", _fold(answer_text)):
        raise QuestionError("缺少正确答案", field="answer")
    options = _clean_options(list(raw.get("options") or []))
    truth = None if isinstance(raw_answer, (list, tuple)) else _true_false_value(raw_answer)
    as_option = None if isinstance(raw_answer, (list, tuple)) else _option_answer(answer_text, options)
    if as_option is not None and (qtype in ("single", "multiple") or (qtype is None and truth is None)):
        raw_answer = answer_text = as_option
        truth = None
    if qtype is None:  # infer: 对/错 → true/false, several letters → multiple, else single
        if truth is not None and not (len(options) >= 2 and _fold(answer_text) in ("T", "F", "Y", "N")):
            qtype = "true_false"
        else:
            qtype = "multiple" if len(_answer_letters(raw_answer)) > 1 else "single"

    if qtype == "true_false":
        if truth is None:
            letters = _fold(answer_text)
            if letters in ("1", "0"):
                truth = letters == "1"
            elif letters in ("A", "B"):
                truth = _letter_truth(letters, options)
            if truth is None:
                raise QuestionError(f"判断题答案「{answer_text}」无法识别（应为 √/×、对/错 或 正确/错误；"
                                    "填 A/B 时两个选项须为 对/错、正确/错误 这样的判断词）", field="answer")
        options = list(TRUE_FALSE_OPTIONS)
        answer = [0 if truth else 1]
    else:
        if truth is not None and not re.fullmatch(r"[A-F]+", _fold(answer_text)):
            raise QuestionError(f"{TYPE_NAMES[qtype]}的答案应为选项字母，不能是「{answer_text}」", field="answer")
        letters = _answer_letters(raw_answer)
        if len(options) < 2:
            raise QuestionError(f"{TYPE_NAMES[qtype]}至少需要两个选项", field="options")
        outside = [letter for letter in letters if letter not in LETTERS[: len(options)]]
        if outside:
            raise QuestionError(
                f"答案「{''.join(outside)}」不在选项中（本题只有 A–{LETTERS[len(options) - 1]} {len(options)} 个选项）",
                field="answer")
        if qtype == "single" and len(letters) > 1:
            raise QuestionError(f"单选题只能有一个正确答案，但填写了「{letters}」", field="answer")
        answer = sorted(LETTERS.index(letter) for letter in letters)

    out = {"type": qtype, "stem": stem, "options": options, "answer": answer,
           "difficulty": parse_difficulty(raw.get("difficulty"))}
    names = {"explanation": "答案解析", "category": "知识分类", "legal_basis": "法条依据"}
    for key, name in names.items():
        value = _text(raw.get(key)) or None
        if value and len(value) > LIMITS[key]:
            raise QuestionError(f"{name}超过 {LIMITS[key]} 字", field=key)
        out[key] = value
    return out


_NAMES_OTHERS = re.compile(  # by letter or by place counted from the top: no option may move
    r"(?<![A-Za-z])[A-F]\s*[和与、及,，]\s*[A-F](?![A-Za-z])"  # A和B都对, A、C 正确
    r"|^(前|上)[两二三四五1-5]"  # 前三项都对
    r"|^(both|neither) .+ (and|nor) ",
    re.I)
_SPEAKS_OF_ABOVE = re.compile(  # of every option above it: those may move among themselves
    r"^(以上|上述|上面|前面|前述)"  # 以上都是, 上述说法均正确
    r"|^(都|均|皆|全)(是|对|不是|不对|正确|错误|不正确|选|不选)"  # 都对, 全对
    r"|^全部(是|都是|正确|错误|都对|选项)?$"
    r"|\b(all|none) of (the )?(above|these|them)\b",
    re.I)


def shuffled_prefix(options: list[str]) -> int:
    """How many options from the top an attempt may shuffle. Options that speak of the others
    read as nonsense once moved (Moodle leaves this to a per-question switch): one that names
    options by letter or counts them from the top (A和B都对, 前三项都对) keeps every option in
    place (0); one that speaks of those above it (以上都是, 上述均不正确, none of the above)
    stays, with everything below it, and only the options above it are shuffled."""
    texts = [unicodedata.normalize("NFKC", text).strip() for text in options]
    if any(_NAMES_OTHERS.search(text) for text in texts):
        return 0
    return next((index for index, text in enumerate(texts) if _SPEAKS_OF_ABOVE.search(text)), len(texts))


def answer_display(question: dict) -> str:
    """The stored answer as a teacher writes it: `ACD`, or 正确/错误 for true/false."""
    if question["type"] == "true_false":
        return TRUE_FALSE_OPTIONS[question["answer"][0]]
    return "".join(LETTERS[i] for i in question["answer"])


# --- spreadsheets -------------------------------------------------------------------------


def _header_name(value: Any) -> str:
    text = unicodedata.normalize("NFKC", _text(value)).lower()
    text = re.sub(r"[(\[【<《].*?[)\]】>》]", "", text)  # 题型（单选/多选/判断）, 答案(必填)
    return re.sub(r"[\s*:：_\-.·]+", "", text)


_OPTIONS_COLUMN = {"选项", "备选项", "备选答案", "选项内容", "答案选项", "候选项", "options", "choices"}


def _header_map(cells: list[Any]) -> dict:
    """Column index of each known field in a candidate header row; options as `option{n}`, and a
    single column holding them all (选项) as `options`."""
    found: dict = {}
    for index, cell in enumerate(cells):
        name = _header_name(cell)
        if not name:
            continue
        if name in _ALIAS_TO_FIELD:
            found.setdefault(_ALIAS_TO_FIELD[name], index)
            continue
        if name in _OPTIONS_COLUMN:
            found.setdefault("options", index)
            continue
        match = _OPTION_HEADER.match(name)
        if match:
            if match.group(1):
                position = "abcdef".index(match.group(1))
            else:
                digit = match.group(2)
                position = (int(digit) if digit.isdigit() else _CN_DIGITS[digit]) - 1
            found.setdefault(f"option{position}", index)
    return found


def _find_header(rows: list[tuple[int, list[Any]]]) -> tuple[int, dict] | None:
    """(position in `rows`, columns) of the header: the first of the first HEADER_SCAN_ROWS rows
    naming both the stem and the answer."""
    for position, (_number, cells) in enumerate(rows[:HEADER_SCAN_ROWS]):
        candidate = _header_map(cells)
        if "stem" in candidate and "answer" in candidate:
            return position, candidate
    return None


def _cell(cells: list[Any], index: int | None) -> Any:
    return cells[index] if index is not None and index < len(cells) else None


def _sub_header(rows: list[tuple[int, list[Any]]], header_at: int, columns: dict) -> dict:
    """The option columns of a second header row: 选项 merged above A | B | C | D, the letters
    in the row below (its stem cell is empty, which no question's is)."""
    if header_at + 1 >= len(rows):
        return {}
    cells = rows[header_at + 1][1]
    below = _header_map(cells)
    if sum(key.startswith("option") and key != "options" for key in below) < 2 \
            or _text(_cell(cells, columns["stem"])):
        return {}
    return below


def split_options(value: Any) -> list[str]:
    """All options in one cell, as other systems export them: `A.甲 B.乙 C.丙` (on one line or
    several, any of . 、 ． ： ) after the letter), else one per line, else separated by |."""
    text = _text(value)
    if not text:
        return []
    picked: list[re.Match] = []
    alphabet = "ABCDEFGHIJ"  # past F too: seven options must read as seven (and be refused), not six
    for match in re.finditer(r"(?:^|(?<=[\s;；|｜，,]))([A-JＡ-Ｊ])\s*[.、．:：)）]", text):  # b.com is no option
        if len(picked) < len(alphabet) and _fold(match.group(1)) == alphabet[len(picked)] \
                and (picked or match.start() == 0):
            picked.append(match)
    if len(picked) >= 2:
        ends = [match.start() for match in picked[1:]] + [len(text)]
        parts = (text[match.end():end] for match, end in zip(picked, ends, strict=True))
        return [part.strip().strip(";；|｜，,").strip() for part in parts]
    for separator in ("\n", "|", "｜"):
        if separator in text:
            return [part.strip() for part in text.split(separator) if part.strip()]
    return [text]


_SHEET_TYPES = {"single": ("单选", "单项选择"), "multiple": ("多选", "多项选择", "不定项"),
                "true_false": ("判断", "是非")}


def sheet_type(name: str | None) -> str | None:
    """The question type a sheet's name gives (一、单选题（50题）), for rows with an empty 题型."""
    text = _header_name(name or "")
    kinds = {kind for kind, words in _SHEET_TYPES.items() if any(word in text for word in words)}
    return kinds.pop() if len(kinds) == 1 else None


_SAMPLE_SHEET = re.compile(r"示例|样例|范例|sample|example", re.I)


@dataclass
class Table:
    """One sheet (a CSV is one unnamed sheet): (spreadsheet row number, cell values) per row."""
    rows: list[tuple[int, list[Any]]]
    name: str | None = None


def _no_header() -> ImportFormatError:
    return ImportFormatError("import_no_header",
                             "未找到表头：表格需要包含“题目”（或“题干”）和“正确答案”列，可下载导入模板对照")


def parse_tables(tables: list[Table]) -> ParseResult:
    """Every table with a header, read below it. With several sheets each error and question
    names its sheet (`sheet`), and a row with an empty 题型 takes the one its sheet's name gives."""
    named = len(tables) > 1
    filled = []
    for table in tables:
        rows = table.rows
        found = _find_header(rows)
        if found is None:
            raise _no_header()
        header_at, columns = found
        below = _sub_header(rows, header_at, columns)
        for key, index in below.items():
            columns.setdefault(key, index)
        first = header_at + (2 if below else 1)
        if len(rows) - first > MAX_SCANNED_ROWS:
            raise ImportFormatError("import_too_large", f"表格超过 {MAX_SCANNED_ROWS} 行（含空行），"
                                                        "请删除多余的空行或分批导入")
        option_columns = [columns.get(f"option{i}") for i in range(MAX_OPTIONS)]
        span = []  # one 选项 column, or 选项 merged over the columns after it (their headers empty)
        if all(index is None for index in option_columns) and "options" in columns:
            header = rows[header_at][1]
            span = [columns["options"]]
            while len(span) < MAX_OPTIONS and span[-1] + 1 < len(header) and not _text(header[span[-1] + 1]):
                span.append(span[-1] + 1)
        default_type = sheet_type(table.name) if table.name else None
        # A row is a question when one of the recognised columns has something: blank rows, formatted
        # empty rows and pre-numbered ones (only 序号 or 备注 filled in) are neither errors nor counted.
        for number, cells in rows[first:]:
            values = {key: _cell(cells, columns.get(key)) for key in FIELD_ALIASES}
            if span:
                in_span = [_cell(cells, index) for index in span]
                if all(_text(value) == "" for value in in_span[1:]):
                    options = split_options(in_span[0])
                else:
                    options = in_span
            else:
                options = [_cell(cells, index) for index in option_columns]
            if all(_text(value) == "" for value in [*values.values(), *options]):
                continue
            if default_type and not _text(values["type"]):
                values["type"] = default_type
            filled.append((table.name if named else None, number, {**values, "options": options}))
            _check_question_count(len(filled))
    result = ParseResult(sheets=[table.name for table in tables] if named else [])
    for sheet, number, raw in filled:
        where = {"sheet": sheet} if named else {}
        try:
            question = normalize_question(raw)
        except QuestionError as error:
            result.errors.append({"row": number, **where, "message": str(error)})
            continue
        question.update(row=number, **where)
        result.questions.append(question)
    return result


def _check_inflated_size(data: bytes) -> None:
    """A workbook is a zip: 1 MB of it can inflate to a gigabyte of XML (one shared string
    repeated). The sizes its directory declares bound what reading it may inflate (Python's
    zipfile stops each member there); refused above MAX_INFLATED_BYTES."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            inflated = sum(member.file_size for member in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError):
        return  # not a zip: load_workbook says it cannot be read
    if inflated > MAX_INFLATED_BYTES:
        raise ImportFormatError("import_too_large",
                                "该 Excel 文件解压后过大，请删除无关的工作表和格式后重试，或分批导入")


def read_xlsx(data: bytes) -> list[Table]:
    """Every sheet with a header (a workbook with one sheet per question type is common; 填写说明
    sheets are passed over); when none has one, the first sheet, for parse_tables to say so."""
    from openpyxl import load_workbook

    if data[:4] == b"\xd0\xcf\x11\xe0":
        raise ImportFormatError("unsupported_file", "暂不支持旧版 .xls 文件，请在 Excel 中另存为 .xlsx 后重试")
    # Everything that parses the upload is inside the try: read-only workbooks parse each sheet
    # lazily, while its rows are read. A damaged part surfaces as whatever openpyxl's XML and
    # cell readers raise (ParseError, ValueError, IndexError, KeyError, zlib.error, …), so any
    # exception here means "this file cannot be read" — the code inside does nothing else.
    _check_inflated_size(data)
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            if not workbook.worksheets:
                raise ImportFormatError("unreadable_file", "该 Excel 文件中没有工作表")
            tables: list[Table] = []
            first = None
            budget = MAX_SCANNED_ROWS + HEADER_SCAN_ROWS + 1  # rows read in the whole workbook
            aside = []  # hidden and 示例 sheets with a header: read only when no other sheet has one
            for sheet in workbook.worksheets:
                # Some tools write a stale <dimension ref="A1"/>, which read-only mode trusts (it
                # then reads one cell); openpyxl's documented remedy: drop it, read what is there.
                sheet.reset_dimensions()
                rows = []
                # A row is read up to MAX_COLUMNS: one cell in column XFD would otherwise make
                # 16,384 of every row (a 50 KB file, gigabytes of memory); trailing blanks dropped
                # below the rows a header may be in (a merged 选项 spans blank header cells).
                for number, values in enumerate(sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS), start=1):
                    cells = list(values)
                    while number > HEADER_SCAN_ROWS and cells and cells[-1] is None:
                        cells.pop()
                    rows.append((number, cells))
                    budget -= 1
                    if number == HEADER_SCAN_ROWS and _find_header(rows) is None:
                        break  # no header where one may be: the rest of this sheet is not read
                    if budget < 0:
                        break
                if _find_header(rows) is not None:
                    hidden = getattr(sheet, "sheet_state", "visible") != "visible"
                    (aside if hidden or _SAMPLE_SHEET.search(sheet.title or "") else tables).append(
                        Table(rows, sheet.title))
                elif first is None:
                    first = Table(rows, sheet.title)
                if budget < 0:
                    break
            if budget < 0:
                raise ImportFormatError("import_too_large", f"表格超过 {MAX_SCANNED_ROWS} 行（含空行），"
                                                            "请删除多余的空行或分批导入")
            return tables or aside or [first]
        finally:
            workbook.close()
    except ImportFormatError:
        raise
    except Exception as error:  # noqa: BLE001 - see above: only the upload's parsing is inside
        log.info("unreadable .xlsx upload: %s", type(error).__name__)
        raise ImportFormatError("unreadable_file", "无法读取该 Excel 文件，请确认是 .xlsx 格式且未损坏") from error


def _csv_rows(text: str, limit: int) -> list[tuple[int, list[Any]]]:
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    # newline="": lines split at any line ending and handed to csv as they are (the csv module's
    # documented way); without it a bare CR stopped the reader with csv.Error.
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    rows = []
    try:
        for number, values in enumerate(reader, start=1):
            rows.append((number, values))
            if number > limit:
                break
    except csv.Error as error:  # a field over csv's limit (128 K characters), a stray quote
        raise ImportFormatError("unreadable_file", f"CSV 文件第 {reader.line_num} 行无法读取（内容过长或引号不成对），"
                                                   "请检查后重试") from error
    return rows


def read_csv(data: bytes) -> list[Table]:
    """Comma, semicolon or tab separated (Excel's "Unicode 文本" is tab separated UTF-16). UTF-8
    (with or without BOM), UTF-16 with its BOM, or GB18030, which is what Excel on Chinese
    Windows writes. Lines may end in CRLF, LF or a bare CR (Excel for Mac's "CSV (Macintosh)")."""
    return [Table(_csv_rows(_decode_text(data), MAX_SCANNED_ROWS + HEADER_SCAN_ROWS + 1))]


def _is_table(text: str) -> bool:
    """A text file whose first rows hold a header (a tab separated "Unicode 文本" export)."""
    try:
        return _find_header(_csv_rows(text[:20000], HEADER_SCAN_ROWS)) is not None
    except ImportFormatError:
        return False


# --- GIFT and Aiken -----------------------------------------------------------------------

_GIFT_ESCAPES = {"\\:": ":", "\\=": "=", "\\~": "~", "\\#": "#", "\\{": "{", "\\}": "}", "\\n": "\n", "\\\\": "\\"}


def _gift_unescape(text: str) -> str:
    return re.sub(r"\\[:=~#{}n\\]", lambda m: _GIFT_ESCAPES[m.group(0)], text).strip()


def _blocks(text: str) -> list[tuple[int, list[str]]]:
    """Blank-line separated blocks of lines, each with the line number it starts on."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            if not current:
                start = number
            current.append(line)
        elif current:
            blocks.append((start, current))
            current = []
    if current:
        blocks.append((start, current))
    return blocks


def _decode_text(data: bytes | str) -> str:
    """UTF-16 when the file starts with its byte order mark (Excel's "Unicode 文本"), else UTF-8
    (BOM or not), else GB18030."""
    if isinstance(data, str):
        return data.replace("\x00", "")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16").replace("\x00", "")
        except UnicodeDecodeError as error:
            raise ImportFormatError("unreadable_file", "无法识别文件编码，请保存为 UTF-8 后重试") from error
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding).replace("\x00", "")
        except UnicodeDecodeError:
            continue
    raise ImportFormatError("unreadable_file", "无法识别文件编码，请保存为 UTF-8 后重试")


def parse_gift(data: bytes | str) -> ParseResult:
    """Moodle GIFT: `::title:: stem {=right ~wrong}`, `{T}`/`{F}`, multiple answers with
    `~%50%` (only `~` answers: Moodle's multiple choice), general feedback after `####` (kept as
    the explanation), `$CATEGORY:` lines."""
    text = _decode_text(data)
    lines = [line for line in text.splitlines()]
    cleaned = "\n".join("" if line.lstrip().startswith("//") else line for line in lines)
    result = ParseResult()
    category = None
    blocks = _blocks(cleaned)
    _check_question_count(sum(not "\n".join(block).strip().startswith("$CATEGORY:") for _, block in blocks))
    for start, block in blocks:
        body = "\n".join(block).strip()
        if body.startswith("$CATEGORY:"):
            category = body.split(":", 1)[1].strip().rstrip("/").split("/")[-1].strip() or None
            continue
        try:
            question = _gift_question(body, category)
        except QuestionError as error:
            result.errors.append({"row": start, "message": str(error)})
            continue
        question["row"] = start
        result.questions.append(question)
    return result


def _check_question_count(count: int) -> None:
    """The spreadsheets' cap on questions in one import (`MAX_ROWS`), for the text formats too."""
    if count > MAX_ROWS:
        raise ImportFormatError("import_too_large", f"一次最多导入 {MAX_ROWS} 道题，请分批导入")


def _split_unescaped(text: str, pattern: str) -> list[str]:
    return re.split(rf"(?<!\\){pattern}", text)


# HTML's elements, but those whose content the parser would swallow (script, style, title,
# textarea: a teacher's `a<script>b` is text). Anything else between < and > is the teacher's text
# (`x<y 且 y>z`, `a<b`), which a browser would hide but a student should read.
_HTML_TAGS = frozenset("""a abbr acronym address area article aside audio b bdi bdo big blockquote body br button
    canvas caption center cite code col colgroup data dd del details dfn div dl dt em embed fieldset figcaption
    figure font footer form h1 h2 h3 h4 h5 h6 head header hr html i iframe img input ins kbd label legend li main
    map mark math nav object ol option p picture pre q rp rt ruby s samp section select small source span strike
    strong sub summary sup svg table tbody td tfoot th thead time tr track tt u ul var video wbr""".split())
# A tag as HTML writes it: a name, then ASCII attributes (`a<b 与 b>c` is no <b> tag). Names with a
# prefix are Word's (`<o:p>`).
_ATTRIBUTE = r"""\s+[A-Za-z_:][-A-Za-z0-9_:.]*(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?"""
_TAG = re.compile(rf"</?([A-Za-z][A-Za-z0-9]*(?::[A-Za-z][A-Za-z0-9]*)?)(?:{_ATTRIBUTE})*\s*/?>")
_ENTITY = re.compile(r"&(?:[A-Za-z]+|#\d+|#x[0-9A-Fa-f]+);")


def _is_markup(name: str) -> bool:
    name = name.lower()
    return name in _HTML_TAGS or ":" in name


def _looks_html(text: str) -> bool:
    """Whether unmarked GIFT text holds markup: an entity or one of HTML's own tags."""
    return _ENTITY.search(text) is not None or any(_is_markup(match.group(1)) for match in _TAG.finditer(text))


def _markup_only(text: str) -> str:
    """`text` with every "<" that begins no HTML tag and no complete comment written as "&lt;".

    The parser then sees only well-formed markup: a "<" of the teacher's (a<b) can no longer take
    the text after it, up to the next ">", for a tag, and Python's HTMLParser, quadratic on
    unclosed tags (60 KB of `<a ` took a minute), reads it in one pass. Linear: each comment or tag
    matched is consumed, and a failed tag match stops at the next "<"."""
    out, pos = [], 0
    last_comment_end = text.rfind("-->")
    at = text.find("<")
    while at != -1:
        end = None
        if text.startswith("<!--", at):
            if at + 4 <= last_comment_end:
                end = text.index("-->", at + 4) + 3
        else:
            match = _TAG.match(text, at)
            if match is not None and _is_markup(match.group(1)):
                end = match.end()
        if end is None:
            out.append(text[pos:at] + "&lt;")
            pos = at + 1
        else:
            out.append(text[pos:end])
            pos = end
        at = text.find("<", pos)
    out.append(text[pos:])
    return "".join(out)


class _HtmlText(HTMLParser):
    """The text a browser shows of an HTML fragment: tags dropped, entities decoded, a line break
    where a paragraph, list item or <br> ends. Fed `_markup_only` text: every tag is HTML's."""

    _BREAKS = {"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "br":
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in self._BREAKS:
            self.parts.append("\n")

    def handle_data(self, data):
        self.parts.append(data)


def _html_text(text: str) -> str:
    parser = _HtmlText()
    parser.feed(_markup_only(text))
    parser.close()
    joined = "".join(parser.parts).replace("\xa0", " ")
    return "\n".join(re.sub(r"[ \t]+", " ", line).strip() for line in joined.splitlines() if line.strip())


_GIFT_OPEN = re.compile(r"(?<!\\)\{")
_GIFT_CLOSE = re.compile(r"(?<!\\)\}")


def _gift_question(body: str, category: str | None = None) -> dict:
    """One GIFT question, in the category its `$CATEGORY:` line named (checked with the rest)."""
    body = re.sub(r"^::(.*?)(?<!\\)::", "", body, flags=re.S).strip()
    marker = re.match(r"^\[(html|moodle|plain|markdown)\]", body)
    body = body[marker.end():].strip() if marker else body
    # Moodle shows GIFT text as HTML unless it is marked [plain]; students here read plain text, so
    # markup (an export from Moodle is full of <p> and &nbsp;) becomes the text it displays.
    as_html = (marker is None or marker.group(1) != "plain") and _looks_html(_gift_unescape(body))
    question = _gift_fields(body)
    if as_html:
        for key in ("stem", "explanation"):
            if question.get(key):
                question[key] = _html_text(question[key])
        if "options" in question:
            question["options"] = [_html_text(option) for option in question["options"]]
    return normalize_question({**question, "category": category})


def _gift_fields(body: str) -> dict:
    """The raw fields of one GIFT question (its format marker removed)."""
    # The first unescaped { and the first unescaped } after it, each found once: a lazy `\{(.*?)\}`
    # tried again from every { of a block that never closes takes quadratic time.
    opening = _GIFT_OPEN.search(body)
    closing = _GIFT_CLOSE.search(body, opening.end()) if opening else None
    if closing is None:
        raise QuestionError("没有找到答案部分（GIFT 题目的答案应写在 {} 中）")
    stem = _gift_unescape((body[: opening.start()] + " " + body[closing.end():]).strip())
    inside = body[opening.end(): closing.start()]
    parts = _split_unescaped(inside, "####")
    inside, explanation = parts[0].strip(), _gift_unescape(parts[1]) if len(parts) > 1 else None
    if "->" in inside or inside.startswith("#"):
        raise QuestionError("不支持的 GIFT 题型（仅支持单选、多选和判断题）")
    truth = re.fullmatch(r"(T|TRUE|F|FALSE)\s*(#.*)?", inside, flags=re.S | re.I)
    if truth:
        value = truth.group(1).upper().startswith("T")
        return {"type": "true_false", "stem": stem, "answer": "正确" if value else "错误", "explanation": explanation}
    items = re.findall(r"(?<!\\)([=~])((?:\\.|[^=~\\])*)", inside, flags=re.S)
    if not items:
        raise QuestionError("没有找到选项（GIFT 选项以 = 或 ~ 开头）")
    # Moodle's rule: with an `=` answer the question is single choice (`=` is the full-mark answer;
    # a `~%50%` beside it is partial credit, which all-or-nothing scoring has no use for); with only
    # `~` answers it is multiple choice, right being the positive weights (`~%50%`, `~%100%`).
    single = any(marker == "=" for marker, _ in items)
    options, correct = [], []
    for marker, raw in items:
        raw = _split_unescaped(raw, "#")[0]
        weight_match = re.match(r"\s*%(-?\d+(?:\.\d+)?)%", raw)
        weight = float(weight_match.group(1)) if weight_match else None
        if weight_match:
            raw = raw[weight_match.end():]
        text = _gift_unescape(raw)
        if marker == "=" or (not single and (weight or 0) > 0):  # Moodle reads no weight after =
            correct.append(len(options))
        options.append(text)
    if all(marker == "=" for marker, _ in items):
        raise QuestionError("不支持的 GIFT 题型（填空/简答题），仅支持单选、多选和判断题")
    if single and len(correct) > 1:
        raise QuestionError("有多个以 = 开头的正确答案：单选题只能有一个；多选题请把正确选项写成 ~%50% 这样的权重")
    if len(options) > MAX_OPTIONS:
        raise QuestionError(f"选项超过 {MAX_OPTIONS} 个")
    if not correct:
        raise QuestionError("缺少正确答案", field="answer")
    qtype = "single" if single else "multiple"
    return {"type": qtype, "stem": stem, "options": options, "answer": "".join(LETTERS[i] for i in correct),
            "explanation": explanation}


_AIKEN_OPTION = re.compile(r"^\s*([A-Za-zＡ-Ｆ])\s*[.)．、）]\s*(.*)$")
_AIKEN_ANSWER = re.compile(r"^\s*ANSWER\s*[:：]\s*(.*)$", re.I)


def parse_aiken(data: bytes | str) -> ParseResult:
    """Moodle Aiken: stem line(s), `A. option` / `B) option` lines, then `ANSWER: B`."""
    text = _decode_text(data)
    _check_question_count(sum(1 for line in text.splitlines() if _AIKEN_ANSWER.match(line)))
    result = ParseResult()
    stem_lines: list[str] = []
    options: list[str] = []
    start = None

    def reset():
        nonlocal stem_lines, options, start
        stem_lines, options, start = [], [], None

    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        answer = _AIKEN_ANSWER.match(line)
        option = _AIKEN_OPTION.match(line)
        if answer and start is not None:
            try:
                question = normalize_question({"stem": " ".join(stem_lines), "options": options,
                                               "answer": answer.group(1)})
                if question["type"] == "true_false":
                    raise QuestionError("Aiken 格式只支持选择题")
                question["row"] = start
                result.questions.append(question)
            except QuestionError as error:
                result.errors.append({"row": start, "message": str(error)})
            reset()
        elif option and start is not None and stem_lines:
            options.append(option.group(2).strip())
        else:
            if options:  # a new stem began before the previous question had its ANSWER line
                result.errors.append({"row": start, "message": "缺少 ANSWER 行"})
                reset()
            if start is None:
                start = number
            stem_lines.append(line.strip())
    if start is not None:
        result.errors.append({"row": start, "message": "缺少 ANSWER 行"})
    return result


# --- one entry point ----------------------------------------------------------------------

FORMATS = ("xlsx", "csv", "gift", "aiken")


def detect_format(filename: str, data: bytes) -> str:
    name = (filename or "").lower()
    if name.endswith((".xlsx", ".xlsm")) or data[:2] == b"PK":
        return "xlsx"
    if name.endswith(".xls"):
        return "xlsx"  # read_xlsx explains that .xls must be saved as .xlsx
    if name.endswith((".csv", ".tsv")):
        return "csv"
    if name.endswith(".gift"):
        return "gift"
    text = _decode_text(data)
    if _is_table(text):
        return "csv"
    if re.search(r"^\s*ANSWER\s*[:：]", text, flags=re.M | re.I):
        return "aiken"
    if re.search(r"(?<!\\)\{.*?(?<!\\)\}", text, flags=re.S):
        return "gift"
    raise ImportFormatError("unsupported_file", "无法识别文件格式：请上传 .xlsx、.csv，或 GIFT / Aiken 格式的 .txt")


def parse_file(filename: str, data: bytes, fmt: str | None = None) -> ParseResult:
    if not data:
        raise ImportFormatError("empty_file", "上传的文件是空的")
    fmt = fmt or detect_format(filename, data)
    if fmt == "xlsx":
        result = parse_tables(read_xlsx(data))
    elif fmt == "csv":
        result = parse_tables(read_csv(data))
    elif fmt == "gift":
        result = parse_gift(data)
    else:
        result = parse_aiken(data)
    if not result.questions and not result.errors:
        # Blank lines, a template with only its header: "0 imported" would leave the teacher guessing.
        raise ImportFormatError("import_no_questions", "文件里没有找到题目，请检查文件内容后重试")
    result.format = fmt
    return result


# --- writing workbooks (template and export) ----------------------------------------------

EXPORT_HEADERS = ["序号", "题型", "题干", "选项A", "选项B", "选项C", "选项D", "选项E", "选项F", "正确答案", "答案解析",
                  "知识分类", "难度", "法条依据"]
TEMPLATE_NOTE = ("说明：题型填 单选题 / 多选题 / 判断题；多选题答案如 ACD；判断题答案填 正确 / 错误（或 √ / ×）；"
                 "难度填 易 / 中 / 难（或 1–3）；序号列和其他多出的列不会导入。第 1–3 行可以删除。")


def build_workbook(title: str, questions: list[dict], note: str | None = None) -> bytes:
    """A sheet teachers recognise: a merged title row, a note row, the header, one row per question.
    It imports back as it is."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "题库"
    width = len(EXPORT_HEADERS)
    sheet.append(excel_row(sheet, [title]))
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    sheet["A1"].font = Font(size=14, bold=True)
    sheet["A1"].alignment = Alignment(horizontal="center")
    sheet.append(excel_row(sheet, [note or ""]))
    sheet.merge_cells(start_row=2, start_column=1, end_row=2, end_column=width)
    sheet["A2"].alignment = Alignment(wrap_text=True)
    sheet.append(EXPORT_HEADERS)
    for cell in sheet[3]:
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="DDEBF7")
    for number, question in enumerate(questions, start=1):
        options = list(question["options"]) if question["type"] != "true_false" else []
        options += [""] * (MAX_OPTIONS - len(options))
        sheet.append(excel_row(sheet, [
            number, TYPE_NAMES[question["type"]], question["stem"], *options, answer_display(question),
            question.get("explanation") or "", question.get("category") or "",
            DIFFICULTY_NAMES.get(question.get("difficulty") or 2, "中"), question.get("legal_basis") or ""]))
    for column, size in zip("ABCDEFGHIJKLMN", (6, 8, 50, 18, 18, 18, 18, 12, 12, 10, 50, 14, 6, 28), strict=True):
        sheet.column_dimensions[column].width = size
    sheet.freeze_panes = "A4"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


TEMPLATE_SAMPLES = [
    {"type": "single", "stem": "《中华人民共和国网络安全法》自哪一天起施行？",
     "options": ["2016年11月7日", "2017年6月1日", "2018年1月1日", "2021年11月1日"], "answer": [1],
     "explanation": "网络安全法于2016年11月7日通过，2017年6月1日起施行。", "category": "网络安全法", "difficulty": 1,
     "legal_basis": "《网络安全法》第七十九条"},
    {"type": "multiple", "stem": "收到“退款理赔”电话时，下列做法正确的有哪些？",
     "options": ["挂断后通过官方客服核实", "不向对方提供验证码", "按对方要求下载屏幕共享软件", "拨打96110咨询"],
     "answer": [0, 1, 3], "explanation": "官方退款不会索要验证码，也不会要求屏幕共享。", "category": "防范电信网络诈骗",
     "difficulty": 2, "legal_basis": "《反电信网络诈骗法》"},
    {"type": "true_false", "stem": "网络上的言论是虚拟的，发布不实信息不需要承担法律责任。", "options": [],
     "answer": [1], "explanation": "网络不是法外之地，编造、传播虚假信息要依法承担责任。", "category": "网络文明",
     "difficulty": 1, "legal_basis": "《网络安全法》第十二条"},
]


def template_workbook() -> bytes:
    return build_workbook("清朗校园题库导入模板", TEMPLATE_SAMPLES, TEMPLATE_NOTE)
