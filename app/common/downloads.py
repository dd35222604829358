"""Files the API hands out as downloads (Excel exports and templates)."""
import io
import re
from urllib.parse import quote

from flask import current_app, send_file

from app.errors import ValidationFailed

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_download(data: bytes, filename: str, ascii_name: str):
    """An .xlsx attachment that no cache keeps (exports hold children's names). `ascii_name`
    is what browsers that cannot read the UTF-8 name save it as (werkzeug's own fallback drops
    every Chinese character: "签名名单-1-3.xlsx" became "-1-3.xlsx", "题库导入模板.xlsx" ".xlsx")."""
    response = send_file(io.BytesIO(data), mimetype=XLSX, as_attachment=True, download_name=filename, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Disposition"] = (
        f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}")
    return response


def file_name_part(text: str, limit: int = 40) -> str:
    """A title or org name made safe inside a file name on Windows, macOS and phones."""
    cleaned = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", text).strip(" ._")
    return cleaned[:limit] or "未命名"


def check_export_size(rows: int) -> None:
    """Refuse a list longer than `EXPORT_MAX_ROWS` (a whole city's students): building it would
    hold a worker for minutes and give a file Excel cannot open well. The staff member exports
    the district or school instead; the summary answers (stats, leaderboards) cover the city."""
    limit = current_app.config["EXPORT_MAX_ROWS"]
    if rows > limit:
        message = f"名单共 {rows} 行，超过单次导出上限 {limit} 行，请选择下级单位分别导出"
        raise ValidationFailed({"org_id": [message]}, message, code="export_too_large")


def excel_row(sheet, values) -> list:
    """Cell values for `sheet.append` that Excel stores as they are shown here:
    - text pasted from Word may hold control characters (a manual line break is \x0b) that
      openpyxl refuses, which would fail the whole export: a vertical tab becomes a line break,
      other control characters (but tab, newline, return) are dropped;
    - text beginning with "=" (a name or title anyone may type) is written as text: openpyxl would
      write it as a formula, which Excel then runs on the staff member's machine."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    row = []
    for value in values:
        if isinstance(value, str):
            value = ILLEGAL_CHARACTERS_RE.sub("", value.replace("\x0b", "\n"))
            if value.startswith("="):
                cell = WriteOnlyCell(sheet, value=value)
                cell.data_type = "s"
                value = cell
        row.append(value)
    return row
