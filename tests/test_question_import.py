"""Question banks and importing the files teachers actually have.

Spreadsheets are built here with openpyxl the way they come from schools: a merged title row and
blank rows above the header, Chinese headers in an odd order, extra columns (序号, 备注), answers
typed in every way people type them, and broken rows that must come back with their spreadsheet
row number and a Chinese reason while the good rows import. Also CSV (UTF-8 and GBK), GIFT and
Aiken, the template and the export (which import back), and question CRUD for staff.
"""
from __future__ import annotations

import csv
import io
import re
import tracemalloc
import zipfile
from datetime import date, datetime, time
from urllib.parse import quote

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Border, Side

from app.quizzes import importers
from tests.conftest import assert_error

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADER = ["序号", "正确答案", "题干", "题型", "选项C", "选项A", "选项B", "选项D", "解析", "难度", "知识分类", "法条",
          "备注"]


def xlsx(rows: list[list], title: str | None = "2026年网络安全知识竞赛题库（七年级）", blank_rows: int = 2) -> bytes:
    """A teacher's sheet: merged title in row 1, `blank_rows` empty rows, then `rows`."""
    workbook = Workbook()
    sheet = workbook.active
    if title is not None:
        sheet.append([title])
        sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADER))
    for _ in range(blank_rows):
        sheet.append([])
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def row(stem, qtype="单选题", answer="B", a="甲", b="乙", c="丙", d="丁", explanation="解析", difficulty="中",
        category="网络安全法", basis="《网络安全法》", no=1, note="") -> list:
    """One data row in the order of HEADER (answer before stem, C before A: teachers' sheets)."""
    return [no, answer, stem, qtype, c, a, b, d, explanation, difficulty, category, basis, note]


def make_bank(api, who, org_id, name="七年级网络安全题库") -> int:
    response = api.as_(who).post("/question-banks", json={"name": name, "org_id": org_id})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def upload(api, who, bank_id, data: bytes, filename="题库.xlsx", **form):
    return api.as_(who).post(f"/question-banks/{bank_id}/import",
                             data={"file": (io.BytesIO(data), filename), **form},
                             content_type="multipart/form-data")


def imported(api, who, bank_id, data: bytes, filename="题库.xlsx", **form) -> dict:
    response = upload(api, who, bank_id, data, filename, **form)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def questions(api, who, bank_id, **query) -> list[dict]:
    response = api.as_(who).get(f"/question-banks/{bank_id}/questions", query_string={"page_size": 100, **query})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def by_stem(api, who, bank_id) -> dict[str, dict]:
    return {q["stem"]: q for q in questions(api, who, bank_id)}


def test_a_messy_teacher_spreadsheet_imports_its_good_rows_and_reports_the_rest(api, world):
    """Title row (merged) + two blank rows above a Chinese header in odd order; a blank row in
    the middle; bad rows reported by spreadsheet row number; duplicates skipped and counted."""
    bank = make_bank(api, world.sa_a, world.school_a.id)
    first = imported(api, world.sa_a, bank, xlsx([HEADER, row("已经在题库里的题目？", answer="A")]))
    assert first["imported"] == 1 and first["errors"] == [] and first["skipped"] == 0

    data = xlsx([
        HEADER,                                                                  # row 4
        row("网络安全法自哪一天起施行？", answer=" Ｂ ", a="2016年11月7日", b="2017年6月1日",
            c="2018年1月1日", d="2021年11月1日", basis="《网络安全法》第七十九条"),     # row 5
        row("下列哪些属于个人信息？", qtype="多选题", answer="A、C", category="个人信息保护法"),  # row 6
        [],                                                                      # row 7 (blank)
        row("网络不是法外之地。", qtype="判断题", answer="√", a=None, b=None, c=None, d=None,
            difficulty=1),                                                       # row 8
        row("没有答案的题目", answer=None),                                        # row 9
        row("答案超出选项的题目", answer="E"),                                      # row 10
        row("单选题却有两个答案", answer="AC"),                                     # row 11
        row(None, answer="A"),                                                   # row 12: no stem
        row("已经在题库里的题目？", answer="C"),                                     # row 13: duplicate
        row("网络安全法自哪一天起施行", answer="A", a="2017年6月1日", b="2016年11月7日",
            c="2018年1月1日", d="2021年11月1日"),      # row 14: the same question (no ？, options reordered)
        row("难度写错的题目", difficulty="很难"),                                    # row 15
        row("多选题用全角答案", qtype="多选题", answer="ＡＢＣ", difficulty="3"),          # row 16
    ])
    result = imported(api, world.sa_a, bank, data)
    assert result["imported"] == 4
    assert result["skipped"] == 2 and result["skipped_rows"] == [13, 14]
    errors = {error["row"]: error["message"] for error in result["errors"]}
    assert set(errors) == {9, 10, 11, 12, 15}
    assert "缺少正确答案" in errors[9]
    assert "不在选项中" in errors[10] and "E" in errors[10]
    assert "单选题只能有一个正确答案" in errors[11]
    assert "缺少题干" in errors[12]
    assert "难度" in errors[15]
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in message) for message in errors.values())

    stored = by_stem(api, world.sa_a, bank)
    assert len(stored) == 5
    law = stored["网络安全法自哪一天起施行？"]
    assert law["type"] == "single" and law["answer"] == ["B"]
    assert [o["text"] for o in law["options"]] == ["2016年11月7日", "2017年6月1日", "2018年1月1日", "2021年11月1日"]
    assert law["legal_basis"] == "《网络安全法》第七十九条" and law["difficulty"] == 2
    assert law["category"] == "网络安全法" and law["explanation"] == "解析"
    assert stored["下列哪些属于个人信息？"]["answer"] == ["A", "C"]
    judge = stored["网络不是法外之地。"]
    assert judge["type"] == "true_false" and judge["answer"] == ["A"] and judge["difficulty"] == 1
    assert [o["text"] for o in judge["options"]] == ["正确", "错误"]
    assert stored["多选题用全角答案"]["answer"] == ["A", "B", "C"] and stored["多选题用全角答案"]["difficulty"] == 3
    assert stored["已经在题库里的题目？"]["answer"] == ["A"], "a skipped duplicate changes nothing"


@pytest.mark.parametrize(
    ("qtype", "answer", "expected_type", "expected"),
    [
        ("单选题", "B", "single", ["B"]),
        ("单选题", " Ｂ ", "single", ["B"]),
        ("单选", "c", "single", ["C"]),
        ("single", "D", "single", ["D"]),
        ("多选题", "A、C", "multiple", ["A", "C"]),
        ("多选题", "A,B,C", "multiple", ["A", "B", "C"]),
        ("多选题", "ＡＢＣ", "multiple", ["A", "B", "C"]),
        ("多选题", "C A", "multiple", ["A", "C"]),
        ("multiple", "B;D", "multiple", ["B", "D"]),
        ("判断题", "√", "true_false", ["A"]),
        ("判断题", "×", "true_false", ["B"]),
        ("判断题", "对", "true_false", ["A"]),
        ("判断题", "错", "true_false", ["B"]),
        ("判断题", "正确", "true_false", ["A"]),
        ("判断题", "错误", "true_false", ["B"]),
        ("true_false", "False", "true_false", ["B"]),
        ("判断题", 1, "true_false", ["A"]),
        ("判断题", "A", "true_false", ["A"]),
        (None, "ACD", "multiple", ["A", "C", "D"]),
        (None, "√", "true_false", ["A"]),
        (None, "A", "single", ["A"]),
    ],
)
def test_answer_and_type_forms(api, world, qtype, answer, expected_type, expected):
    """Every way teachers write types and answers lands on the same stored answer."""
    bank = make_bank(api, world.t_a, world.school_a.id)
    options = {} if expected_type == "true_false" else {"a": "选项一", "b": "选项二", "c": "选项三", "d": "选项四"}
    if expected_type == "true_false":
        options = {"a": None, "b": None, "c": None, "d": None}
    result = imported(api, world.t_a, bank, xlsx([HEADER, row("题目", qtype=qtype, answer=answer, **options)]))
    assert (result["imported"], result["errors"]) == (1, [])
    [question] = questions(api, world.t_a, bank)
    assert question["type"] == expected_type and question["answer"] == expected


@pytest.mark.parametrize(
    ("a", "b", "answer", "expected"),
    [
        ("对", "错", "A", ["A"]), ("对", "错", "B", ["B"]),
        ("错", "对", "A", ["B"]), ("错", "对", "b", ["A"]),
        ("√", "×", "A", ["A"]), ("×", "√", "A", ["B"]),
        ("是", "否", "B", ["B"]), ("否", "是", "B", ["A"]),
        ("正确", "错误", "A", ["A"]), ("错误", "正确", "A", ["B"]),
        ("T", "F", "Ａ", ["A"]), ("F", "T", "A", ["B"]),
        ("true", "false", "B", ["B"]), ("False", "True", "B", ["A"]),
    ],
)
def test_true_false_answered_with_a_letter_reads_it_through_its_options(api, world, a, b, answer, expected):
    """A 判断题 row with two options that read as true and false (either order) and a letter
    answer: the letter picks the option, stored as 正确/错误 (A = 正确)."""
    bank = make_bank(api, world.t_a, world.school_a.id)
    result = imported(api, world.t_a, bank, xlsx([HEADER, row("判断题目", qtype="判断题", answer=answer, a=a, b=b,
                                                              c=None, d=None)]))
    assert (result["imported"], result["errors"]) == (1, [])
    [question] = questions(api, world.t_a, bank)
    assert question["type"] == "true_false" and question["answer"] == expected
    assert [o["text"] for o in question["options"]] == ["正确", "错误"]


@pytest.mark.parametrize(
    ("a", "b", "c"),
    [("甲", "乙", None), ("对", "是", None), ("对", None, None), ("对", "错", "不确定")],
    ids=["not-true-false-words", "both-true", "one-option", "three-options"],
)
def test_true_false_letter_answers_need_options_that_say_which_is_true(api, world, a, b, c):
    bank = make_bank(api, world.t_a, world.school_a.id)
    data = xlsx([HEADER, row("好题一"), row("判断题目", qtype="判断题", answer="A", a=a, b=b, c=c, d=None),
                 row("好题二")])
    result = imported(api, world.t_a, bank, data)
    assert result["imported"] == 2
    [error] = result["errors"]
    assert error["row"] == 6 and "判断题答案「A」无法识别" in error["message"], error


@pytest.mark.parametrize(("value", "expected"), [("易", 1), ("中", 2), ("难", 3), (1, 1), (2, 2), (3, 3),
                                                 ("3", 3), (None, 2), ("简单", 1), ("困难", 3)])
def test_difficulty_forms(api, world, value, expected):
    bank = make_bank(api, world.t_a, world.school_a.id)
    imported(api, world.t_a, bank, xlsx([HEADER, row("题目", difficulty=value)]))
    assert questions(api, world.t_a, bank)[0]["difficulty"] == expected


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        ({"answer": None}, "缺少正确答案"),
        ({"answer": "  "}, "缺少正确答案"),
        ({"answer": "/"}, "缺少正确答案"),
        ({"answer": "、"}, "缺少正确答案"),
        ({"qtype": "多选题", "answer": " ／ 、, "}, "缺少正确答案"),
        ({"qtype": None, "answer": "/"}, "缺少正确答案"),
        ({"qtype": "判断题", "answer": "/", "a": None, "b": None, "c": None, "d": None}, "缺少正确答案"),
        ({"answer": "F"}, "不在选项中"),
        ({"answer": "AB"}, "单选题只能有一个正确答案"),
        ({"stem": None}, "缺少题干"),
        ({"stem": "   "}, "缺少题干"),
        ({"qtype": "填空题"}, "题型"),
        ({"difficulty": "5"}, "难度"),
        ({"qtype": "判断题", "answer": "也许"}, "判断题答案"),
        ({"answer": "A?"}, "无法识别"),
        ({"b": None, "c": None, "d": None}, "至少需要两个选项"),
        ({"b": None}, "选项B为空"),
        ({"a": "相同", "b": "相同"}, "重复"),
        ({"qtype": "多选题", "answer": "对"}, "选项字母"),
    ],
    ids=["no-answer", "blank-answer", "slash-answer", "comma-answer", "separators-only-answer",
         "untyped-slash-answer", "true-false-slash-answer", "answer-outside", "single-two-answers", "no-stem",
         "blank-stem", "unknown-type", "bad-difficulty", "true-false-garbage", "answer-garbage", "one-option",
         "option-gap", "duplicate-options", "multiple-with-true-false-answer"],
)
def test_bad_rows_are_reported_with_their_row_number(api, world, cells, reason):
    """The bad row sits at spreadsheet row 6 between two good rows; both good rows import. An
    answer of only separators ("/" is how sheets write "none") once imported with no correct
    answer at all, and a blank paper then scored full marks on it."""
    bank = make_bank(api, world.t_a, world.school_a.id)
    fields = {"stem": "坏的题目", **cells}
    stem = fields.pop("stem")
    data = xlsx([HEADER, row("好题一"), row(stem, **fields), row("好题二")])
    result = imported(api, world.t_a, bank, data)
    assert result["imported"] == 2
    [error] = result["errors"]
    assert error["row"] == 6, error
    assert reason in error["message"], error


def workbook_bytes(workbook: Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_every_sheet_with_questions_is_read_and_names_the_type_of_its_rows(api, world):
    """A workbook with a 填写说明 sheet and one sheet per 题型, as contest banks often come: every
    sheet with a header imports (reading only the first silently dropped the 多选题 and 判断题
    sheets). A sheet's name gives the type of rows with no 题型 (a 多选题 with one right answer
    stays multiple); errors and the per-sheet counts name their sheet. A stem already imported from
    an earlier sheet is skipped on the later one."""
    workbook = Workbook()
    notes = workbook.active
    notes.title = "填写说明"
    for line in ("题库导入说明", "1. 每种题型一张表", "2. 正确答案填写选项字母", "3. 请勿修改表头"):
        notes.append([line])
    single = workbook.create_sheet("一、单选题")
    single.append(["2026年网络安全知识竞赛题库"])
    single.append(["序号", "题目", "A", "B", "C", "D", "答案"])
    single.append([1, "单选表的题目", "甲", "乙", "丙", "丁", "C"])
    single.append([2, "没有答案", "甲", "乙", "丙", "丁", None])
    single.append([3, "单选表的第二题", "甲", "乙", "丙", "丁", "A"])
    workbook.create_sheet("空白页")
    multiple = workbook.create_sheet("二、多选题（不定项）")
    multiple.append(["序号", "题目", "A", "B", "C", "D", "答案"])
    multiple.append([1, "多选表的题目", "甲", "乙", "丙", "丁", "ABD"])
    multiple.append([2, "只有一个正确选项的多选题", "甲", "乙", "丙", "丁", "B"])
    multiple.append([3, "单选表的题目", "甲", "乙", "丙", "丁", "AB"])  # already imported from 一、单选题
    judge = workbook.create_sheet("判断题")
    judge.append(["序号", "题目", "答案"])
    judge.append([1, "判断表的题目", "×"])
    judge.append([2, "判断表的坏题", "也许"])
    for name, state in (("填写示例", "visible"), ("旧题", "hidden")):  # neither holds questions for the bank
        aside = workbook.create_sheet(name)
        aside.sheet_state = state
        aside.append(["序号", "题目", "A", "B", "答案"])
        aside.append([1, f"{name}里的题目", "甲", "乙", "A"])
    bank = make_bank(api, world.t_a, world.school_a.id)
    result = imported(api, world.t_a, bank, workbook_bytes(workbook))
    assert result["imported"] == 5 and result["skipped"] == 1
    assert result["errors"] == [
        {"row": 4, "sheet": "一、单选题", "message": "缺少正确答案"},
        {"row": 3, "sheet": "判断题", "message": result["errors"][1]["message"]},
    ]
    assert "判断题答案「也许」" in result["errors"][1]["message"]
    assert result["sheets"] == [
        {"name": "一、单选题", "imported": 2, "skipped": 0, "skipped_rows": [], "errors": 1},
        {"name": "二、多选题（不定项）", "imported": 2, "skipped": 1, "skipped_rows": [4], "errors": 0},
        {"name": "判断题", "imported": 1, "skipped": 0, "skipped_rows": [], "errors": 1},
    ]
    stored = by_stem(api, world.t_a, bank)
    assert {stem: (q["type"], q["answer"]) for stem, q in stored.items()} == {
        "单选表的题目": ("single", ["C"]),
        "单选表的第二题": ("single", ["A"]),
        "多选表的题目": ("multiple", ["A", "B", "D"]),
        "只有一个正确选项的多选题": ("multiple", ["B"]),
        "判断表的题目": ("true_false", ["B"]),
    }

    only_notes = Workbook()
    only_notes.active.title = "填写说明"
    only_notes.active.append(["请在第二张表填写题目"])
    only_notes.create_sheet("题目").append(["序号", "备注"])
    assert_error(upload(api, world.t_a, bank, workbook_bytes(only_notes)), 422, "import_no_header")
    # Questions only on a sheet named 示例 (and the notes): that sheet is read after all.
    only_notes.create_sheet("示例题目").append(["题目", "A", "B", "答案"])
    only_notes["示例题目"].append(["示例表里的题目", "甲", "乙", "B"])
    assert imported(api, world.t_a, bank, workbook_bytes(only_notes))["imported"] == 1


def test_options_under_a_merged_header_or_all_in_one_cell(api, world):
    """The option layouts of sheets from other systems: 选项 merged above A | B | C | D (two
    header rows), 选项 merged across the option columns in one header row, and one 选项 column
    holding every option (A.甲 B.乙 on one line or several, or one per line, or split by |).
    Row numbers stay the sheet's."""
    two_rows = Workbook()
    sheet = two_rows.active
    sheet.append(["网络安全知识题库"])
    sheet.append(["序号", "题干", "选项", None, None, None, "答案"])
    sheet.merge_cells("C2:F2")
    sheet.append([None, None, "A", "B", "C", "D", None])
    sheet.append([1, "两行表头的题目", "甲", "乙", "丙", "丁", "D"])
    sheet.append([2, "两行表头的坏题", "甲", "乙", "丙", "丁", "E"])
    bank = make_bank(api, world.t_a, world.school_a.id)
    result = imported(api, world.t_a, bank, workbook_bytes(two_rows))
    assert result["imported"] == 1 and [error["row"] for error in result["errors"]] == [5]
    question = by_stem(api, world.t_a, bank)["两行表头的题目"]
    assert [o["text"] for o in question["options"]] == ["甲", "乙", "丙", "丁"] and question["answer"] == ["D"]

    one_row = Workbook()
    sheet = one_row.active
    sheet.append(["题干", "选项", None, None, "答案", "题型"])
    sheet.merge_cells("B1:D1")
    sheet.append(["合并表头下的题目", "甲", "乙", "丙", "AC", "多选题"])
    sheet.append(["同一列里的选项", "A.甲 B.乙 C.丙", None, None, "B", "单选题"])
    result = imported(api, world.t_a, bank, workbook_bytes(one_row))
    assert (result["imported"], result["errors"]) == (2, [])
    stored = by_stem(api, world.t_a, bank)
    assert [o["text"] for o in stored["合并表头下的题目"]["options"]] == ["甲", "乙", "丙"]
    assert [o["text"] for o in stored["同一列里的选项"]["options"]] == ["甲", "乙", "丙"]

    in_one_cell = xlsx([
        ["题型", "题目", "选项", "正确答案"],
        ["单选题", "一行里的选项", "A．2016年 B、2017年 C:2018年 D) 2019年", "B"],
        ["单选题", "分行的选项", "A. 拨打110\nB. 拨打96110\nC. 转账", "B"],
        ["多选题", "竖线分隔的选项", "不点链接|不给验证码|下载共享屏幕软件", "AB"],
        ["单选题", "每行一个选项", "点击\n不点击", "B"],
        ["单选题", "七个选项", "A.1 B.2 C.3 D.4 E.5 F.6 G.7", "A"],
        ["单选题", "只有一个选项", "唯一的选项", "A"],
        ["单选题", "小写字母不是选项号", "A.访问 b.com B.不访问", "B"],
    ])
    result = imported(api, world.t_a, bank, in_one_cell)
    assert result["imported"] == 5
    assert [(error["row"], error["message"]) for error in result["errors"]] == [
        (9, "选项超过 6 个"), (10, "单选题至少需要两个选项")]
    stored = by_stem(api, world.t_a, bank)
    assert [o["text"] for o in stored["一行里的选项"]["options"]] == ["2016年", "2017年", "2018年", "2019年"]
    assert [o["text"] for o in stored["分行的选项"]["options"]] == ["拨打110", "拨打96110", "转账"]
    assert [o["text"] for o in stored["竖线分隔的选项"]["options"]] == ["不点链接", "不给验证码", "下载共享屏幕软件"]
    assert stored["竖线分隔的选项"]["answer"] == ["A", "B"]
    assert [o["text"] for o in stored["每行一个选项"]["options"]] == ["点击", "不点击"]
    assert [o["text"] for o in stored["小写字母不是选项号"]["options"]] == ["访问 b.com", "不访问"]


@pytest.mark.parametrize(
    ("qtype", "answer", "expected"),
    [("单选题", "2017年6月1日", ["B"]), ("单选题", "B. 2017年6月1日", ["B"]), ("单选题", "Ｂ、2017年6月1日", ["B"]),
     (None, "2017年6月1日", ["B"]), ("单选题", "对", ["C"])],
)
def test_an_answer_written_as_the_option_itself(api, world, qtype, answer, expected):
    """Banks exported from other systems (and teachers who copy the right option) write the
    option, not its letter: it counts when it is exactly one option."""
    bank = make_bank(api, world.t_a, world.school_a.id)
    result = imported(api, world.t_a, bank, xlsx([HEADER, row("题目", qtype=qtype, answer=answer, a="2016年11月7日",
                                                              b="2017年6月1日", c="对", d="错")]))
    assert (result["imported"], result["errors"]) == (1, [])
    [question] = questions(api, world.t_a, bank)
    assert question["type"] == "single" and question["answer"] == expected


def test_a_letter_answer_stays_a_letter_where_an_option_reads_as_one(api, world):
    """Options that are themselves letters (which letter …?): the answer B is option B, not the
    option whose text is B."""
    bank = make_bank(api, world.t_a, world.school_a.id)
    result = imported(api, world.t_a, bank, xlsx([HEADER, row("字母题", answer="B", a="C", b="A", c="B", d="D")]))
    assert (result["imported"], result["errors"]) == (1, [])
    assert questions(api, world.t_a, bank)[0]["answer"] == ["B"]


def test_an_answer_that_is_no_options_text_is_still_refused(api, world):
    bank = make_bank(api, world.t_a, world.school_a.id)
    result = imported(api, world.t_a, bank, xlsx([HEADER, row("题目", answer="2018年", a="2016年", b="2017年"),
                                                  row("另一题", answer="A. 2017年", a="2016年", b="2017年")]))
    assert result["imported"] == 0
    assert [(error["row"], "无法识别" in error["message"]) for error in result["errors"]] == [(5, True), (6, True)]


def test_unicode_text_from_excel_imports(api, world):
    """Excel's "Unicode 文本 (*.txt)": UTF-16 with a byte order mark, tab separated. It was read
    as GB18030 (garbage), or refused as an unknown text format."""
    bank = make_bank(api, world.t_a, world.school_a.id)
    text = ("题型\t题目\t选项A\t选项B\t答案\t难度\r\n"
            "单选题\t收到陌生链接应该？\t点击\t不点击并核实\tB\t3.0\r\n"
            "判断题\t验证码可以告诉客服。\t\t\t❌\t★☆☆\r\n"
            "判断题\t网络不是法外之地。\t\t\t✔️\t★★\r\n")
    result = imported(api, world.t_a, bank, text.encode("utf-16"), filename="题库.txt")
    assert (result["format"], result["imported"], result["errors"]) == ("csv", 3, [])
    stored = by_stem(api, world.t_a, bank)
    assert (stored["收到陌生链接应该？"]["answer"], stored["收到陌生链接应该？"]["difficulty"]) == (["B"], 3)
    assert (stored["验证码可以告诉客服。"]["answer"], stored["验证码可以告诉客服。"]["difficulty"]) == (["B"], 1)
    assert (stored["网络不是法外之地。"]["answer"], stored["网络不是法外之地。"]["difficulty"]) == (["A"], 2)


def test_english_headers_in_any_order_and_extra_columns(api, world):
    bank = make_bank(api, world.t_a, world.school_a.id)
    data = xlsx([
        ["No.", "Remark", "Answer", "A", "B", "C", "Question", "Type", "Explanation", "Category", "Difficulty",
         "Basis"],
        [1, "x", "b", "one", "two", "three", "Which is two?", "single", "because", "网络文明", "1", "《公约》"],
        [2, "y", "A,C", "one", "two", "three", "Which are odd?", "multiple", None, None, None, None],
    ], title=None, blank_rows=0)
    result = imported(api, world.t_a, bank, data)
    assert (result["imported"], result["errors"]) == (2, [])
    stored = by_stem(api, world.t_a, bank)
    assert stored["Which is two?"]["answer"] == ["B"] and stored["Which is two?"]["category"] == "网络文明"
    assert stored["Which are odd?"]["answer"] == ["A", "C"] and stored["Which are odd?"]["explanation"] is None


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gbk"])
def test_csv_in_the_encodings_excel_writes(api, world, encoding):
    bank = make_bank(api, world.t_a, world.school_a.id)
    text = ("题库导出\n\n"
            "题型,题目,选项A,选项B,选项C,答案,解析,分类,难度,依据\n"
            "单选题,收到陌生链接应该？,点击,不点击并核实,转发,B,不点不明链接,防范电信网络诈骗,易,《反电信网络诈骗法》\n"
            "判断题,验证码可以告诉客服。,,,,错,验证码不告诉任何人,防范电信网络诈骗,1,\n"
            "多选题,没有答案的题,甲,乙,丙,,,,,\n")
    result = imported(api, world.t_a, bank, text.encode(encoding), filename="questions.csv")
    assert result["imported"] == 2 and result["format"] == "csv"
    assert result["errors"] == [{"row": 6, "message": "缺少正确答案"}]
    stored = by_stem(api, world.t_a, bank)
    assert stored["收到陌生链接应该？"]["answer"] == ["B"]
    assert stored["验证码可以告诉客服。"]["answer"] == ["B"]


GIFT = """// 网络安全题库 (GIFT)
$CATEGORY: $course$/网络安全法

::q1:: 网络安全法自哪一天起施行？ {
  ~2016年11月7日
  =2017年6月1日#对，2017年6月1日起施行
  ~2018年1月1日
  ####网络安全法第七十九条规定了施行日期。
}

::q2:: 下列哪些属于敏感个人信息？ {~%50%生物识别信息 ~%50%医疗健康信息 ~%-100%公开的新闻}

网络不是法外之地。{T}

验证码可以告诉自称客服的人。{FALSE####验证码不能告诉任何人。}

网络安全法的英文缩写是？ {=CSL =Cybersecurity Law}

含有转义字符\\{括号\\}的题目？ {=对\\=的 ~错的}

带部分得分的单选题？ {=全对 ~%50%半对 ~错}

只有一个正确选项的多选题？ {~%100%对的 ~%-50%错的 ~错的二}

等号后的权重不算数？ {=%50%对的 ~错的}

两个等号答案的题目？ {=甲 =乙 ~丙}
"""


def test_gift_import(api, world):
    bank = make_bank(api, world.t_a, world.school_a.id)
    result = imported(api, world.t_a, bank, GIFT.encode(), filename="bank.gift")
    assert result["format"] == "gift" and result["imported"] == 8
    assert [(error["row"], error["message"].split("（")[0].split("：")[0]) for error in result["errors"]] == [
        (17, "不支持的 GIFT 题型"), (27, "有多个以 = 开头的正确答案")]
    stored = by_stem(api, world.t_a, bank)
    law = stored["网络安全法自哪一天起施行？"]
    assert law["answer"] == ["B"] and law["category"] == "网络安全法"
    assert law["explanation"] == "网络安全法第七十九条规定了施行日期。"
    sensitive = stored["下列哪些属于敏感个人信息？"]
    assert sensitive["type"] == "multiple" and sensitive["answer"] == ["A", "B"]
    assert stored["网络不是法外之地。"]["answer"] == ["A"]
    assert stored["验证码可以告诉自称客服的人。"]["answer"] == ["B"]
    assert stored["验证码可以告诉自称客服的人。"]["explanation"] == "验证码不能告诉任何人。"
    escaped = stored["含有转义字符{括号}的题目？"]
    assert [o["text"] for o in escaped["options"]] == ["对=的", "错的"] and escaped["answer"] == ["A"]
    # Moodle's rule: an `=` makes it single choice, the `=` answer the right one (~%50% is partial
    # credit there, not a second right answer); only `~` answers make it multiple choice.
    partial = stored["带部分得分的单选题？"]
    assert (partial["type"], partial["answer"]) == ("single", ["A"])
    weighted = stored["只有一个正确选项的多选题？"]
    assert (weighted["type"], weighted["answer"]) == ("multiple", ["A"])
    assert stored["等号后的权重不算数？"]["answer"] == ["A"]  # Moodle: an = answer is full marks



def test_staff_filter_a_banks_questions(api, world):
    """By category, type, difficulty and words of the stem, as typed into a search box (spaces
    around them); a blank filter (an "all" choice) filters nothing."""
    bank = make_bank(api, world.t_a, world.school_a.id)
    imported(api, world.t_a, bank, xlsx([
        HEADER, row("收到陌生链接怎么办？"),
        row("哪些属于个人信息？", qtype="多选题", answer="AC", category="个人信息保护法"),
        row("网络不是法外之地。", qtype="判断题", answer="√", difficulty="易", category="网络文明"),
        row("个人信息可以随意转卖吗？", category="个人信息保护法", difficulty="难")]))

    def stems(**query):
        return sorted(q["stem"] for q in questions(api, world.t_a, bank, **query))

    assert stems(category=" 个人信息保护法 ") == ["个人信息可以随意转卖吗？", "哪些属于个人信息？"]
    assert stems(category="个人信息保护法", type="multiple") == ["哪些属于个人信息？"]
    assert stems(difficulty=1) == ["网络不是法外之地。"]
    assert stems(q=" 个人信息 ", difficulty=3) == ["个人信息可以随意转卖吗？"]
    assert len(stems(category="", q=" ")) == 4
    assert stems(q="100%_") == []  # LIKE's wildcards are the words themselves


def test_a_gift_category_too_long_is_reported_with_each_question_it_names(api, world):
    """A `$CATEGORY:` whose last part is over 40 characters made the whole file a generic 422 with
    no line (the database refused the value), even the question above it."""
    bank = make_bank(api, world.t_a, world.school_a.id)
    category = "七年级网络安全知识竞赛题库（第一单元：网络安全法基础知识与典型案例分析及课后练习）"
    gift = ("先有一题：网络不是法外之地。{T}\n\n$CATEGORY: $course$/top/" + category + "\n\n"
            "::q1:: 未成年人可以沉迷网络游戏。{F}\n\n$CATEGORY: $course$/top/网络安全法\n\n个人信息可以随意转卖。{F}\n")
    result = imported(api, world.t_a, bank, gift.encode(), filename="moodle.gift")
    assert result["imported"] == 2
    assert result["errors"] == [{"row": 5, "message": "知识分类超过 40 字"}]
    stored = by_stem(api, world.t_a, bank)
    assert stored["先有一题：网络不是法外之地。"]["category"] is None
    assert stored["个人信息可以随意转卖。"]["category"] == "网络安全法"


def test_gift_exported_from_moodle_as_html_reads_as_the_text_students_saw(api, world):
    """Moodle writes GIFT text as HTML ([html], <p>, &nbsp;, entities): the mini-program shows
    plain text, so the markup becomes the text it displayed. [plain] text is taken as written, and
    a `<…>` that is no HTML tag is the teacher's text even in HTML (a browser would hide it)."""
    bank = make_bank(api, world.t_a, world.school_a.id)
    gift = ("[html]<p>《个人信息保护法》&nbsp;自&lt;哪天&gt;起施行？</p>{=<span>2021年11月1日</span> ~2020年1月1日"
            "####<p>见第七十四条。</p><p>自 2021 年 11 月 1 日起施行。</p>}\n\n"
            "<b>网络不是法外之地</b>。{T}\n\n"
            "[plain]a<b 与 b>c 哪个写法正确？{=a<b ~b>c}\n\n"
            "若 x<y 且 y>z，x 与 z 的大小关系确定吗？{F}\n\n"
            "[html]<p>若 m<n 且 n>k，</p><p>m<b>一定</b>小于 k 吗？</p>{F}\n\n"
            # A "<" with no ">" after it took the text up to the next tag's ">" for its own tag.
            "<p>已知 x<y</p><p>判断：x 小于 y 吗？</p>{T}\n\n"
            "<p>下列不等式正确的是</p>{=<p>1<2</p> ~<p>2<1</p>}\n\n"
            "<p>从 Word 粘贴的题目<o:p></o:p></p>{T}\n")
    result = imported(api, world.t_a, bank, gift.encode(), filename="moodle.gift")
    assert (result["imported"], result["errors"]) == (8, [])
    stored = by_stem(api, world.t_a, bank)
    law = stored["《个人信息保护法》 自<哪天>起施行？"]
    assert [o["text"] for o in law["options"]] == ["2021年11月1日", "2020年1月1日"] and law["answer"] == ["A"]
    assert law["explanation"] == "见第七十四条。\n自 2021 年 11 月 1 日起施行。"
    assert stored["网络不是法外之地。"]["answer"] == ["A"]
    assert [o["text"] for o in stored["a<b 与 b>c 哪个写法正确？"]["options"]] == ["a<b", "b>c"]
    assert stored["若 x<y 且 y>z，x 与 z 的大小关系确定吗？"]["answer"] == ["B"]
    assert stored["若 m<n 且 n>k，\nm一定小于 k 吗？"]["answer"] == ["B"]
    assert stored["已知 x<y\n判断：x 小于 y 吗？"]["answer"] == ["A"]
    assert [o["text"] for o in stored["下列不等式正确的是"]["options"]] == ["1<2", "2<1"]
    assert "从 Word 粘贴的题目" in stored

AIKEN = """网络安全法自哪一天起施行？
A. 2016年11月7日
B. 2017年6月1日
C. 2018年1月1日
ANSWER: B

反诈预警劝阻专线是？
A) 96110
B) 12315
ANSWER: A

没有答案行的题目？
A. 甲
B. 乙

答案超出选项的题目？
A. 甲
B. 乙
ANSWER: D
"""


def test_aiken_import(api, world):
    bank = make_bank(api, world.t_a, world.school_a.id)
    result = imported(api, world.t_a, bank, AIKEN.encode(), filename="aiken.txt")
    assert result["format"] == "aiken" and result["imported"] == 2
    errors = {error["row"]: error["message"] for error in result["errors"]}
    assert "ANSWER" in errors[12]
    assert "不在选项中" in errors[16]
    stored = by_stem(api, world.t_a, bank)
    assert stored["网络安全法自哪一天起施行？"]["answer"] == ["B"]
    assert [o["text"] for o in stored["反诈预警劝阻专线是？"]["options"]] == ["96110", "12315"]


@pytest.mark.parametrize(
    ("data", "filename", "code"),
    [
        (b"", "empty.xlsx", "empty_file"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old.xls", "unsupported_file"),
        (b"PK\x03\x04 not really a zip", "broken.xlsx", "unreadable_file"),
        ("只是一段文字，没有题目".encode(), "notes.txt", "unsupported_file"),
        ("序号,内容\n1,没有题干和答案列\n".encode(), "no-header.csv", "import_no_header"),
        (xlsx([HEADER]), "模板.xlsx", "import_no_questions"),  # the template, header only
        (b"   \r\n\r\n  \x00\x00\r\n", "题库.gift", "import_no_questions"),  # was "0 imported", no reason
    ],
    ids=["empty", "old-xls", "broken-xlsx", "plain-text", "no-header", "header-only", "blank-gift"],
)
def test_unreadable_files_are_refused_as_a_whole(api, world, data, filename, code):
    bank = make_bank(api, world.t_a, world.school_a.id)
    error = assert_error(upload(api, world.t_a, bank, data, filename), 422, code)
    assert "file" in error["errors"]
    assert questions(api, world.t_a, bank) == []


def damaged(part: str, content: bytes | None) -> bytes:
    """A good workbook with one part replaced (None: removed), as a half-copied or hand-edited
    file arrives."""
    source = zipfile.ZipFile(io.BytesIO(xlsx([HEADER, row("题目")])))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            if item.filename != part:
                target.writestr(item, source.read(item))
            elif content is not None:
                target.writestr(item, content)
    return buffer.getvalue()


SHEET = "xl/worksheets/sheet1.xml"


def sheet_with(cell: bytes) -> bytes:
    return (b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            b'<row r="1">' + cell + b"</row></sheetData></worksheet>")


@pytest.mark.parametrize(
    ("part", "content"),
    [
        ("xl/workbook.xml", b"<<<"),
        ("xl/styles.xml", b"<<<"),
        (SHEET, b"<not xml"),
        (SHEET, None),
        (SHEET, sheet_with(b'<c r="A1" t="n"><v>abc</v></c>')),
        (SHEET, sheet_with(b'<c r="A1" t="d"><v>notadate</v></c>')),
        (SHEET, sheet_with(b'<c r="A1" t="s"><v>9999</v></c>')),
        (SHEET, sheet_with(b'<c r="ZZZZZZ99999999"><v>1</v></c>')),
    ],
    ids=["workbook-xml", "styles-xml", "sheet-xml", "sheet-missing", "bad-number", "bad-date", "bad-string-index",
         "bad-cell-name"],
)
def test_damaged_workbooks_are_refused_as_a_whole(api, world, part, content):
    """openpyxl reads a sheet only while its rows are read, and a damaged part raises whatever
    its XML or cell reader raises: each is the same clear 422, never a 500, nothing imported."""
    bank = make_bank(api, world.t_a, world.school_a.id)
    error = assert_error(upload(api, world.t_a, bank, damaged(part, content)), 422, "unreadable_file")
    assert "file" in error["errors"]
    assert questions(api, world.t_a, bank) == []


def test_csv_with_classic_mac_line_endings_imports(api, world):
    """Excel for Mac's "CSV (Macintosh)" ends lines with a bare CR."""
    bank = make_bank(api, world.t_a, world.school_a.id)
    text = ("题型,题目,选项A,选项B,答案\r"
            "单选题,收到陌生链接应该？,点击,不点击并核实,B\r"
            "判断题,验证码可以告诉客服。,,,错\r")
    result = imported(api, world.t_a, bank, text.encode(), filename="mac.csv")
    assert (result["imported"], result["errors"]) == (2, [])
    assert by_stem(api, world.t_a, bank)["收到陌生链接应该？"]["answer"] == ["B"]


def test_a_csv_field_beyond_the_readers_limit_names_its_line(api, world):
    bank = make_bank(api, world.t_a, world.school_a.id)
    text = "题型,题目,选项A,选项B,答案\n单选题,正常的题,甲,乙,A\n单选题,\"" + "长" * 140_000 + "\",甲,乙,A\n"
    error = assert_error(upload(api, world.t_a, bank, text.encode(), "long.csv"), 422, "unreadable_file")
    assert "第 3 行" in error["errors"]["file"][0]
    assert questions(api, world.t_a, bank) == []


def test_import_needs_a_file_and_a_bank_you_may_change(api, world):
    city_bank = make_bank(api, world.city_admin, world.city.id, name="市级题库")
    school_bank = make_bank(api, world.sa_a, world.school_a.id)
    data = xlsx([HEADER, row("题目")])
    assert_error(api.as_(world.sa_a).post(f"/question-banks/{school_bank}/import", data={},
                                          content_type="multipart/form-data"), 422)
    # A school teacher uses the city's bank but does not change it; school B does not see school A's.
    assert_error(upload(api, world.t_a, city_bank, data), 403, "forbidden")
    assert_error(upload(api, world.t_b, school_bank, data), 404, "bank_not_found")
    assert_error(upload(api, world.s_a1, school_bank, data), 404, "bank_not_found")
    assert_error(upload(api, world.sa_a, 999_999, data), 404, "bank_not_found")
    assert imported(api, world.city_admin, city_bank, data)["imported"] == 1


def test_imports_into_one_bank_at_once_each_answer_and_add_every_question_once(app, api, world):
    """A double tap on 导入, or two teachers filling one bank: the imports run one after the other,
    so the bank gets each question once and every request answers (none fails halfway)."""
    from tests.concurrency import released_together

    bank = make_bank(api, world.sa_a, world.school_a.id)
    data = xlsx([HEADER, *[row(f"第{n}题：收到陌生链接应当怎么做", no=n) for n in range(1, 31)]])

    def import_call():
        client = app.test_client()
        return lambda: client.post(f"/api/v1/question-banks/{bank}/import",
                                   headers={"Authorization": f"Bearer {world.sa_a.token}"},
                                   data={"file": (io.BytesIO(data), "题库.xlsx")}, content_type="multipart/form-data")

    responses = released_together([import_call() for _ in range(4)])
    assert [r.status_code for r in responses] == [200] * 4, [r.get_json() for r in responses]
    counts = sorted((r.get_json()["imported"], r.get_json()["skipped"]) for r in responses)
    assert counts == [(0, 30), (0, 30), (0, 30), (30, 0)]
    assert len(questions(api, world.sa_a, bank)) == 30


def test_who_sees_which_banks(api, world):
    city_bank = make_bank(api, world.city_admin, world.city.id, name="市级题库")
    school_a = make_bank(api, world.sa_a, world.school_a.id, name="甲校题库")
    school_b = make_bank(api, world.sa_b, world.school_b.id, name="乙校题库")
    class_a1 = make_bank(api, world.t_a1, world.class_a1.id, name="一班题库")

    def listed(who, **query):
        response = api.as_(who).get("/question-banks", query_string=query)
        assert response.status_code == 200, response.get_json()
        return {item["id"]: item["can_edit"] for item in response.get_json()["items"]}

    assert listed(world.city_admin) == {city_bank: True, school_a: True, school_b: True, class_a1: True}
    assert listed(world.t_a) == {city_bank: False, school_a: True, class_a1: True}
    assert listed(world.t_a1) == {city_bank: False, school_a: False, class_a1: True}
    assert listed(world.city_admin, org_id=world.class_a1.id) == {city_bank: True, school_a: True, class_a1: True}
    assert_error(api.as_(world.s_a1).get("/question-banks"), 403, "forbidden")
    assert_error(api.as_(world.t_b).get(f"/question-banks/{school_a}"), 404, "bank_not_found")
    detail = api.as_(world.t_a).get(f"/question-banks/{city_bank}").get_json()
    assert detail["org_name"] == "测试市" and detail["can_edit"] is False and detail["question_count"] == 0
    assert_error(api.as_(world.t_a).post("/question-banks", json={"name": "乙校", "org_id": world.school_b.id}),
                 404, "org_not_found")
    assert_error(api.as_(world.t_a).post("/question-banks", json={"name": "x", "org_id": world.school_a.id}), 422)


def test_template_imports_as_it_is_and_the_export_round_trips(api, world):
    response = api.as_(world.t_a).get("/question-banks/template")
    assert response.status_code == 200 and response.mimetype == XLSX
    # A name for clients that cannot read the UTF-8 one (werkzeug's own fallback was ".xlsx").
    assert response.headers["Content-Disposition"].startswith('attachment; filename="question-bank-template.xlsx";')
    sheet = load_workbook(io.BytesIO(response.data)).active
    assert "A1:N1" in {str(r) for r in sheet.merged_cells.ranges}
    bank = make_bank(api, world.t_a, world.school_a.id)
    assert imported(api, world.t_a, bank, response.data)["imported"] == 3
    from app.quizzes.starter_bank import CATEGORIES  # the spec's six topics, as the starter bank names them

    assert {q["category"] for q in questions(api, world.t_a, bank)} <= set(CATEGORIES)

    data = xlsx([HEADER, row("单选题目", answer="C", explanation="单选解析", basis="《网络安全法》第十二条"),
                 row("多选题目", qtype="多选题", answer="ABD", difficulty="难"),
                 row("判断题目", qtype="判断题", answer="×", a=None, b=None, c=None, d=None, category="网络文明")])
    imported(api, world.t_a, bank, data)
    exported = api.as_(world.t_a).get(f"/question-banks/{bank}/export")
    assert exported.status_code == 200 and exported.mimetype == XLSX
    assert "attachment" in exported.headers["Content-Disposition"]
    copy = make_bank(api, world.t_a, world.school_a.id, name="导出再导入")
    again = imported(api, world.t_a, copy, exported.data)
    assert (again["imported"], again["errors"], again["skipped"]) == (6, [], 0)

    def comparable(bank_id):
        return sorted((q["stem"], q["type"], tuple(o["text"] for o in q["options"]), tuple(q["answer"]),
                       q["explanation"], q["category"], q["difficulty"], q["legal_basis"])
                      for q in questions(api, world.t_a, bank_id))

    assert comparable(copy) == comparable(bank)
    # Importing the export into the same bank skips everything.
    assert imported(api, world.t_a, bank, exported.data)["skipped"] == 6
    assert_error(api.as_(world.t_b).get(f"/question-banks/{bank}/export"), 404, "bank_not_found")
    # A name with a line break or a slash (typed into the console) still downloads, under a file
    # name every system takes, with an ASCII name for clients that cannot read the Chinese one.
    odd = make_bank(api, world.t_a, world.school_a.id, name="网络安全\n题库/第一期")
    named = api.as_(world.t_a).get(f"/question-banks/{odd}/export")
    assert named.status_code == 200 and named.mimetype == XLSX
    disposition = named.headers["Content-Disposition"]
    assert f'filename="question-bank-{odd}.xlsx"' in disposition
    assert "filename*=UTF-8''" + quote("网络安全_题库_第一期.xlsx", safe="") in disposition


def test_question_crud_for_staff(api, world):
    bank = make_bank(api, world.sa_a, world.school_a.id)
    body = {"type": "multiple", "stem": "下列哪些做法能保护个人信息？",
            "options": ["撕毁快递单", "晒车票", "不乱点链接"],
            "answer": ["A", "C"], "explanation": "信息不外泄", "category": "个人信息保护法", "difficulty": "易",
            "legal_basis": "《个人信息保护法》"}
    created = api.as_(world.t_a).post(f"/question-banks/{bank}/questions", json=body)
    assert created.status_code == 201, created.get_json()
    question = created.get_json()
    assert question["answer"] == ["A", "C"] and question["difficulty"] == 1
    assert [o["key"] for o in question["options"]] == ["A", "B", "C"]
    assert_error(api.as_(world.t_a).post(f"/question-banks/{bank}/questions", json=body), 409, "duplicate_question")
    bad = assert_error(api.as_(world.t_a).post(f"/question-banks/{bank}/questions",
                                               json={**body, "stem": "另一题", "answer": ["D"]}),
                       422, "invalid_question")
    assert "不在选项中" in bad["message"] and list(bad["errors"]) == ["answer"]
    assert_error(api.as_(world.t_a).post(f"/question-banks/{bank}/questions", json={"stem": "缺答案"}), 422)

    url = f"/questions/{question['id']}"
    changed = api.as_(world.t_a).put(url, json={"answer": "ABC", "explanation": "新的解析"})
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["answer"] == ["A", "B", "C"] and changed.get_json()["stem"] == body["stem"]
    judged = api.as_(world.t_a).put(url, json={"type": "true_false", "answer": "错", "stem": "晒车票很安全。"})
    assert judged.get_json()["type"] == "true_false" and judged.get_json()["answer"] == ["B"]
    assert [o["text"] for o in judged.get_json()["options"]] == ["正确", "错误"]
    assert api.as_(world.t_a).get(url).get_json()["stem"] == "晒车票很安全。"
    assert_error(api.as_(world.t_b).get(url), 404, "question_not_found")
    assert_error(api.as_(world.t_b).put(url, json={"stem": "改"}), 404, "question_not_found")
    assert_error(api.as_(world.s_a1).delete(url), 404, "question_not_found")
    assert api.as_(world.t_a).delete(url).status_code == 204
    assert_error(api.as_(world.t_a).get(url), 404, "question_not_found")
    assert questions(api, world.t_a, bank) == []


def test_a_generic_stem_with_other_options_is_another_question(api, world):
    """下列说法正确的是（ ）heads many questions of a real bank: what tells them apart is their
    options. The same question again (other spacing, options reordered) is still a duplicate."""
    bank = make_bank(api, world.sa_a, world.school_a.id)
    generic = "下列说法正确的是（ ）"
    data = xlsx([HEADER,
                 row(generic, a="不随意点击陌生链接", b="把验证码告诉客服", c="在网上公开同学照片", d="以上都不对",
                     answer="A", no=1),
                 row(generic, a="网络不是法外之地", b="转发谣言不违法", c="个人信息可随意买卖", d="以上都不对",
                     answer="A", no=2),
                 row("下列说法正确的是（  ）", a="把验证码告诉客服", b="不随意点击陌生链接", c="在网上公开同学照片",
                     d="以上都不对", answer="B", no=3)])
    result = imported(api, world.sa_a, bank, data)
    assert (result["imported"], result["skipped"], result["skipped_rows"]) == (2, 1, [7])
    firsts = [q["options"][0]["text"] for q in questions(api, world.sa_a, bank)]
    assert firsts == ["不随意点击陌生链接", "网络不是法外之地"]

    body = {"type": "single", "stem": generic, "options": ["以上都不对", "把验证码告诉客服", "在网上公开同学照片",
                                                            "不随意点击陌生链接"], "answer": ["D"]}
    duplicate = assert_error(api.as_(world.t_a).post(f"/question-banks/{bank}/questions", json=body), 409,
                             "duplicate_question")
    assert "题干和选项都相同" in duplicate["message"]
    other = {**body, "options": ["不随意点击陌生链接", "在公共场所连免费Wi-Fi网购"], "answer": ["A"]}
    assert api.as_(world.t_a).post(f"/question-banks/{bank}/questions", json=other).status_code == 201
    assert len(questions(api, world.sa_a, bank)) == 3


@pytest.mark.parametrize("answer", [["、"], ["/", "、"], [], [" "], "/", " 、 "],
                         ids=["comma", "separators", "empty-list", "blank-item", "slash", "comma-text"])
def test_staff_cannot_save_a_question_whose_answer_is_only_separators(api, world, answer):
    """The API reads answers with the importer's parser: `["、"]` used to be stored as a question
    with no correct answer (scored right for a blank paper). Creating and editing both refuse it."""
    bank = make_bank(api, world.sa_a, world.school_a.id)
    body = {"type": "multiple", "stem": "下列哪些做法能保护个人信息？",
            "options": ["撕毁快递单", "晒车票", "不乱点链接"], "answer": ["A", "C"]}
    url = f"/question-banks/{bank}/questions"
    refused = assert_error(api.as_(world.t_a).post(url, json={**body, "answer": answer}), 422, "invalid_question")
    assert "缺少正确答案" in refused["message"] and refused["errors"] == {"answer": ["缺少正确答案"]}, refused
    assert questions(api, world.t_a, bank) == []

    created = api.as_(world.t_a).post(url, json=body)
    assert created.status_code == 201, created.get_json()
    url = f"/questions/{created.get_json()['id']}"
    refused = assert_error(api.as_(world.t_a).put(url, json={"answer": answer}), 422, "invalid_question")
    assert "缺少正确答案" in refused["message"] and refused["errors"] == {"answer": ["缺少正确答案"]}, refused
    assert api.as_(world.t_a).get(url).get_json()["answer"] == ["A", "C"]


def test_date_and_time_cells_read_as_the_teacher_typed_them(api, world):
    """Excel stores a typed 2017年6月1日 as a date cell; read with str() it reached students as
    `2017-06-01 00:00:00`. Every cell read as text (stem, options, explanation …) shows it in Chinese."""
    bank = make_bank(api, world.t_a, world.school_a.id)
    data = xlsx([HEADER,
                 row("网络安全法自哪一天起施行？", a=datetime(2016, 11, 7), b=datetime(2017, 6, 1),
                     c=datetime(2017, 6, 1, 8, 30), d=time(8, 30), explanation=date(2021, 11, 1),
                     basis=datetime(2016, 11, 7, 9, 5, 30)),
                 row(datetime(2017, 6, 1), answer="A")])
    result = imported(api, world.t_a, bank, data)
    assert (result["imported"], result["errors"]) == (2, [])
    stored = by_stem(api, world.t_a, bank)
    law = stored["网络安全法自哪一天起施行？"]
    assert [o["text"] for o in law["options"]] == ["2016年11月7日", "2017年6月1日", "2017年6月1日 08:30", "08:30"]
    assert law["explanation"] == "2021年11月1日" and law["legal_basis"] == "2016年11月7日 09:05:30"
    assert "2017年6月1日" in stored


def with_dimension(data: bytes, ref: str) -> bytes:
    """The workbook with its first sheet's `<dimension ref>` replaced, as some tools write a stale
    "A1" whatever the sheet holds (openpyxl's read-only mode trusts it)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == SHEET:
                content, count = re.subn(rb'<dimension ref="[^"]*"\s*/>', f'<dimension ref="{ref}"/>'.encode(),
                                         content)
                assert count == 1
            target.writestr(item, content)
    return buffer.getvalue()


def prepared_sheet(filled: int, numbered_to: int, last_row: int, fmt: str = "xlsx") -> bytes:
    """A template prepared ahead: the header in row 1, `filled` questions, 序号 typed down to row
    `numbered_to` (one of those rows with a 备注), and the stem column bordered down to `last_row`
    (saved as CSV, Excel writes those rows as lines of commas)."""
    rows = [HEADER] + [row(f"第{n}题？", no=n) for n in range(1, filled + 1)]
    rows += [[n - 1] + [None] * (len(HEADER) - 1) for n in range(filled + 2, numbered_to + 1)]
    if numbered_to > filled + 1:
        rows[-1][-1] = "待补充"
    if fmt == "csv":
        rows += [[None] * len(HEADER) for _ in range(len(rows), last_row)]
        text = io.StringIO()
        csv.writer(text).writerows(rows)
        return text.getvalue().encode()
    workbook = Workbook()
    sheet = workbook.active
    for cells in rows:
        sheet.append(cells)
    for number in range(2, last_row + 1):
        sheet.cell(row=number, column=3).border = Border(bottom=Side(style="thin"))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("stale", [False, True], ids=["dimension-kept", "stale-dimension"])
def test_pre_numbered_and_formatted_empty_rows_are_not_questions(api, world, stale):
    """50 questions, 序号 typed down to row 200 and borders down to row 10,100: the empty rows are
    neither errors (缺少题干) nor counted against the 10,000-question limit. With a stale
    `<dimension ref="A1"/>` the same file once found no header."""
    data = prepared_sheet(50, numbered_to=200, last_row=10_100)
    if stale:
        data = with_dimension(data, "A1")
    bank = make_bank(api, world.t_a, world.school_a.id)
    result = imported(api, world.t_a, bank, data)
    assert (result["imported"], result["errors"], result["skipped"]) == (50, [], 0)
    assert len(questions(api, world.t_a, bank)) == 50


@pytest.mark.parametrize(
    ("fmt", "filled", "last_row", "stale", "expected"),
    [
        ("xlsx", 5, 101, True, 5),
        ("xlsx", 6, 7, False, "一次最多导入 5 道题"),
        ("xlsx", 5, 102, False, "超过 100 行"),
        ("xlsx", 5, 102, True, "超过 100 行"),
        ("csv", 5, 101, False, 5),
        ("csv", 6, 7, False, "一次最多导入 5 道题"),
        ("csv", 5, 102, False, "超过 100 行"),
    ],
    ids=["xlsx-rows-at-scan-cap", "xlsx-too-many-questions", "xlsx-too-many-rows", "xlsx-stale-too-many-rows",
         "csv-rows-at-scan-cap", "csv-too-many-questions", "csv-too-many-rows"],
)
def test_import_limits_count_questions_and_cap_the_rows_read(api, world, monkeypatch, fmt, filled, last_row, stale,
                                                             expected):
    """MAX_ROWS counts questions; MAX_SCANNED_ROWS (rows below the header, empty ones included)
    keeps a file of endless formatted rows from tying up the server. Both answer import_too_large.
    Small limits here; the real ones are 10,000 questions and 20 times as many rows."""
    monkeypatch.setattr(importers, "MAX_ROWS", 5)
    monkeypatch.setattr(importers, "MAX_SCANNED_ROWS", 100)
    data = prepared_sheet(filled, numbered_to=min(last_row, 60), last_row=last_row, fmt=fmt)
    if stale:
        data = with_dimension(data, "A1")
    bank = make_bank(api, world.t_a, world.school_a.id)
    response = upload(api, world.t_a, bank, data, filename=f"题库.{fmt}")
    if isinstance(expected, int):
        assert response.status_code == 200, response.get_json()
        assert (response.get_json()["imported"], response.get_json()["errors"]) == (expected, [])
    else:
        error = assert_error(response, 422, "import_too_large")
        assert expected in error["message"], error
        assert questions(api, world.t_a, bank) == []


def test_files_built_to_exhaust_the_server_are_refused_or_read_within_bounds(api, world, monkeypatch):
    """What a hostile or broken upload can cost is bounded: text formats have the spreadsheets'
    cap on questions; a GIFT block that never closes its { is read once (it was re-scanned from
    every {: a 100 KB file held a worker until gunicorn killed it — pytest-timeout fails a
    regression here); an .xlsx whose parts inflate beyond MAX_INFLATED_BYTES (a zip bomb) is
    refused before it is read; a stray cell far right (column XFD) does not make every row
    16,384 cells wide."""
    bank = make_bank(api, world.t_a, world.school_a.id)
    unclosed = upload(api, world.t_a, bank, ("题目 " + "{" * 1_000_000).encode(), filename="bank.gift")
    assert unclosed.status_code == 200, unclosed.get_json()
    assert [e["message"] for e in unclosed.get_json()["errors"]] == ["没有找到答案部分（GIFT 题目的答案应写在 {} 中）"]
    # Unclosed tags: Python's HTMLParser is quadratic on them (60 KB of "<a " took a minute).
    tags = upload(api, world.t_a, bank, ("<p>" + "<a " * 300_000 + " 题干 {T}").encode(), filename="bank.gift")
    assert [e["message"] for e in tags.get_json()["errors"]] == ["题干超过 2000 字"]

    monkeypatch.setattr(importers, "MAX_ROWS", 3)
    many_gift = "\n\n".join(f"第{n}题？{{=对 ~错}}" for n in range(4)) + "\n"
    many_aiken = "".join(f"第{n}题？\nA. 对\nB. 错\nANSWER: A\n\n" for n in range(4))
    for data, filename in ((many_gift, "bank.gift"), (many_aiken, "aiken.txt")):
        error = assert_error(upload(api, world.t_a, bank, data.encode(), filename=filename), 422, "import_too_large")
        assert "一次最多导入 3 道题" in error["message"]
    assert questions(api, world.t_a, bank) == []

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    sheet.append(row("收到陌生链接应当怎么做？"))
    for number in range(2, 1_002):  # a stray cell in XFD on 1,000 rows: a 15 KB file
        sheet.cell(row=number, column=16384, value="误触的单元格")
    buffer = io.BytesIO()
    workbook.save(buffer)
    tracemalloc.start()
    try:
        importers.read_xlsx(buffer.getvalue())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Read to column XFD, these rows held 1,000 × 16,384 cells (over 120 MB).
    assert peak < 40 * 1024 * 1024, f"reading took {peak / 2**20:.0f} MB"
    assert imported(api, world.t_a, bank, buffer.getvalue())["imported"] == 1

    monkeypatch.setattr(importers, "MAX_INFLATED_BYTES", 100_000)
    bomb = xlsx([HEADER, row("第一题？", explanation="解析" * 16_000)])  # ~110 KB of XML in a ~6 KB file
    assert len(bomb) < 10_000, "it compresses well: that is the point"
    error = assert_error(upload(api, world.t_a, bank, bomb), 422, "import_too_large")
    assert "解压后过大" in error["message"]
    assert len(questions(api, world.t_a, bank)) == 1


def test_options_merged_across_the_last_header_columns_are_read(api, world):
    """选项 merged (合并后居中, bordered) over the last header columns: the blank cells it spans
    are part of the header, although trailing blanks of other rows are dropped."""
    from openpyxl.styles import Alignment

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["序号", "题型", "题干", "答案", "选项", None, None, None])
    sheet.merge_cells("E1:H1")
    thin = Side(style="thin")
    for column in "EFGH":
        sheet[f"{column}1"].alignment = Alignment(horizontal="center")
        sheet[f"{column}1"].border = Border(top=thin, bottom=thin, left=thin, right=thin)
    sheet.append([1, "单选题", "收到陌生链接应当怎么做？", "A", "不点开", "点开", "转发", "回复"])
    sheet.append([2, "单选题", "网络安全法自哪一天起施行？", "B", "2016年11月7日", "2017年6月1日", None, None])
    buffer = io.BytesIO()
    workbook.save(buffer)
    bank = make_bank(api, world.t_a, world.school_a.id)
    result = imported(api, world.t_a, bank, buffer.getvalue())
    assert (result["imported"], result["errors"]) == (2, [])
    assert [[o["text"] for o in q["options"]] for q in questions(api, world.t_a, bank)] == [
        ["不点开", "点开", "转发", "回复"], ["2016年11月7日", "2017年6月1日"]]


def test_an_import_and_the_same_question_added_by_hand_at_once_answer_cleanly(app, api, world, monkeypatch):
    """Every writer to a bank locks it first, in the same order: the hand-added question waits
    for the import holding the bank, then finds its duplicate (409). Before, the two deadlocked
    on PostgreSQL (the question's key inserted, its foreign-key check waiting for the bank row)
    and one answered 500."""
    import threading
    import time

    from app.quizzes import services

    bank = make_bank(api, world.sa_a, world.school_a.id)
    data = xlsx([HEADER, row("收到陌生链接应当怎么做？", a="不点开", b="点开", c="转发", d="回复", answer="A")])
    holding, go = threading.Event(), threading.Event()
    original = services._new_question

    def paused(bank_row, item, key):  # the import, holding the bank, about to add its question
        holding.set()
        go.wait(10)
        return original(bank_row, item, key)

    monkeypatch.setattr(services, "_new_question", paused)
    results = {}
    token = {"Authorization": f"Bearer {world.sa_a.token}"}
    import_client, create_client = app.test_client(), app.test_client()
    importer = threading.Thread(target=lambda: results.__setitem__("import", import_client.post(
        f"/api/v1/question-banks/{bank}/import", headers=token, data={"file": (io.BytesIO(data), "题库.xlsx")},
        content_type="multipart/form-data")), daemon=True)
    creator = threading.Thread(target=lambda: results.__setitem__("create", create_client.post(
        f"/api/v1/question-banks/{bank}/questions", headers=token, json={
            "type": "single", "stem": "收到陌生链接应当怎么做？", "options": ["不点开", "点开", "转发", "回复"],
            "answer": ["A"]})), daemon=True)
    importer.start()
    assert holding.wait(20)
    creator.start()
    time.sleep(1.0)  # the hand-added question is on its way and waits for the bank
    go.set()
    importer.join(30)
    creator.join(30)
    assert results["import"].status_code == 200 and results["import"].get_json()["imported"] == 1
    assert results["create"].status_code == 409, results["create"].get_json()
    assert results["create"].get_json()["code"] == "duplicate_question"
    assert len(questions(api, world.sa_a, bank)) == 1
