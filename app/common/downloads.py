"""Files the API hands out as downloads (Excel exports and templates)."""
import io
import re
from urllib.parse import quote

from flask import send_file

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_download(data: bytes, filename: str, ascii_name: str | None = None):
    """An .xlsx attachment that no cache keeps (exports hold children's names). `ascii_name`
    is what browsers that cannot read the UTF-8 name save it as (werkzeug's own fallback drops
    every Chinese character: "签名名单-1-3.xlsx" became "-1-3.xlsx")."""
    response = send_file(io.BytesIO(data), mimetype=XLSX, as_attachment=True, download_name=filename, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    if ascii_name:
        response.headers["Content-Disposition"] = (
            f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}")
    return response


def file_name_part(text: str, limit: int = 40) -> str:
    """A title or org name made safe inside a file name on Windows, macOS and phones."""
    cleaned = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", text).strip(" ._")
    return cleaned[:limit] or "未命名"
