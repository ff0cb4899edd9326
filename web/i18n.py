"""Page text in Simplified Chinese (the default) and English.

Templates call ``t("key")``; a missing key is a bug that tests/test_pages.py catches by
rendering every page in both languages and comparing the catalogs' keys.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

LANG_COOKIE = "surveil_lang"
DEFAULT_LANG: Final = "zh"
HTML_LANG: Final = {"zh": "zh-CN", "en": "en"}

CATALOG: Final[dict[str, dict[str, str]]] = {
    "zh": {
        "app.name": "受理窗口录像系统",
        "nav.lookup": "录像查询",
        "nav.desk": "窗口受理登记",
        "nav.dashboard": "运行状态",
        "nav.cameras": "摄像机",
        "nav.counters": "受理窗口",
        "nav.users": "用户",
        "nav.tokens": "API 令牌",
        "nav.audit": "审计日志",
        "nav.logout": "退出",
        "nav.language": "English",
        "login.title": "登录",
        "login.username": "用户名",
        "login.password": "密码",
        "login.submit": "登录",
        "login.failed": "用户名或密码错误。",
        "login.limited": "失败次数过多，请 {seconds} 秒后再试。",
        "login.expired": "会话已过期，请重新登录。",
        "error.title": "出错了",
        "error.back": "返回",
        "lookup.title": "录像查询",
        "lookup.by_receipt": "按受理回执编号查询",
        "lookup.receipt_no": "回执编号",
        "lookup.receipt_hint": "输入或扫描回执条码后按回车",
        "lookup.search": "查询",
        "lookup.by_counter": "按窗口和时间查询",
        "lookup.counter": "窗口",
        "lookup.start": "开始时间",
        "lookup.end": "结束时间",
        "lookup.not_found": "没有编号为 {no} 的受理回执。",
        "lookup.receipt": "受理回执",
        "lookup.accepted": "受理开始",
        "lookup.completed": "受理完成",
        "lookup.open": "受理中（录像显示到当前时刻）",
        "lookup.case_no": "案件编号",
        "lookup.service": "事项",
        "lookup.handler": "经办人",
        "lookup.window": "录像时段",
        "lookup.coverage": "录像覆盖率",
        "lookup.no_cameras": "该窗口没有关联的摄像机。",
        "lookup.no_footage": "该时段没有可播放的录像。",
        "lookup.clip": "片段",
        "lookup.download": "下载 MP4",
        "lookup.hevc_note": "此录像为 H.265 编码，浏览器可能无法播放，"
        "请下载后用播放器观看（原始文件未经转码）。",
        "lookup.pending": "最近的录像仍在写入，封存后（不超过一个分段时长）即可播放。",
        "lookup.gaps": "录像缺失",
        "lookup.gap_from": "从",
        "lookup.gap_to": "到",
        "lookup.gap_duration": "时长",
        "lookup.gap_reason": "原因",
        "lookup.no_gaps": "整个时段均有录像。",
        "lookup.legend_recorded": "有录像",
        "lookup.legend_gap": "缺失",
        "lookup.legend_receipt": "受理时段",
        "lookup.results_counter": "窗口 {counter}：{start} 至 {end}",
        "reason.nothing recorded": "无录像",
        "reason.recorder down": "录像服务未运行",
        "reason.segment missing": "录像文件缺失",
        "reason.camera": "摄像机离线：{detail}",
        "desk.title": "窗口受理登记",
        "desk.help": "扫描回执条码（或输入编号后按回车）："
        "第一次扫描记为受理开始，第二次扫描记为受理完成。",
        "desk.counter": "本窗口",
        "desk.scan": "回执编号",
        "desk.submit": "登记",
        "desk.started": "回执 {no} 已开始受理（{time}）。",
        "desk.completed": "回执 {no} 已完成受理（{time}）。",
        "desk.already": "回执 {no} 已于 {time} 完成，未作更改。",
        "desk.other_counter": "回执 {no} 属于窗口 {counter}，不能在本窗口登记。",
        "desk.recent": "本窗口最近的回执",
        "desk.no_counters": "您的账号没有分配受理窗口，请联系管理员。",
        "desk.view": "查看录像",
        "common.none": "无",
        "common.seconds": "{n} 秒",
    },
    "en": {
        "app.name": "Counter Video Recorder",
        "nav.lookup": "Find footage",
        "nav.desk": "Counter desk",
        "nav.dashboard": "Dashboard",
        "nav.cameras": "Cameras",
        "nav.counters": "Counters",
        "nav.users": "Users",
        "nav.tokens": "API tokens",
        "nav.audit": "Audit log",
        "nav.logout": "Sign out",
        "nav.language": "中文",
        "login.title": "Sign in",
        "login.username": "User name",
        "login.password": "Password",
        "login.submit": "Sign in",
        "login.failed": "Wrong user name or password.",
        "login.limited": "Too many failed attempts; try again in {seconds} s.",
        "login.expired": "Your session ended; please sign in again.",
        "error.title": "Something went wrong",
        "error.back": "Back",
        "lookup.title": "Find footage",
        "lookup.by_receipt": "By receipt number",
        "lookup.receipt_no": "Receipt number",
        "lookup.receipt_hint": "Type or scan the receipt barcode, then Enter",
        "lookup.search": "Search",
        "lookup.by_counter": "By counter and time",
        "lookup.counter": "Counter",
        "lookup.start": "From",
        "lookup.end": "To",
        "lookup.not_found": "There is no receipt numbered {no}.",
        "lookup.receipt": "Receipt",
        "lookup.accepted": "Accepted",
        "lookup.completed": "Completed",
        "lookup.open": "Still open (footage up to now)",
        "lookup.case_no": "Case number",
        "lookup.service": "Service",
        "lookup.handler": "Handled by",
        "lookup.window": "Footage window",
        "lookup.coverage": "Recorded",
        "lookup.no_cameras": "No camera covers this counter.",
        "lookup.no_footage": "No playable footage in this window.",
        "lookup.clip": "Clip",
        "lookup.download": "Download MP4",
        "lookup.hevc_note": "This footage is H.265; a browser may not play it. Download it and "
        "use a video player (the stored original, never transcoded).",
        "lookup.pending": "The newest footage is still being written; it becomes playable "
        "when its segment is sealed (within one segment length).",
        "lookup.gaps": "Gaps",
        "lookup.gap_from": "From",
        "lookup.gap_to": "To",
        "lookup.gap_duration": "Length",
        "lookup.gap_reason": "Reason",
        "lookup.no_gaps": "Recorded throughout.",
        "lookup.legend_recorded": "recorded",
        "lookup.legend_gap": "gap",
        "lookup.legend_receipt": "acceptance",
        "lookup.results_counter": "Counter {counter}: {start} to {end}",
        "reason.nothing recorded": "nothing recorded",
        "reason.recorder down": "recorder down",
        "reason.segment missing": "segment file missing",
        "reason.camera": "camera offline: {detail}",
        "desk.title": "Counter desk",
        "desk.help": "Scan the receipt barcode (or type the number and press Enter): the "
        "first scan marks the start of acceptance, the second its completion.",
        "desk.counter": "This counter",
        "desk.scan": "Receipt number",
        "desk.submit": "Record",
        "desk.started": "Receipt {no}: acceptance started at {time}.",
        "desk.completed": "Receipt {no}: acceptance completed at {time}.",
        "desk.already": "Receipt {no} was already completed at {time}; nothing changed.",
        "desk.other_counter": "Receipt {no} belongs to counter {counter}, not this one.",
        "desk.recent": "Recent receipts at this counter",
        "desk.no_counters": "Your account has no counters; ask an administrator.",
        "desk.view": "View footage",
        "common.none": "none",
        "common.seconds": "{n} s",
    },
}


def request_lang(request: web.Request) -> str:
    """The page language: ?lang= first, then the cookie, else Chinese."""
    for candidate in (request.query.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in CATALOG:
            return candidate
    return DEFAULT_LANG


def translate(lang: str, key: str, **values: object) -> str:
    """The text for key in lang; falls back to Chinese, then to the key itself."""
    text = CATALOG.get(lang, {}).get(key) or CATALOG[DEFAULT_LANG].get(key) or key
    return text.format(**values) if values else text


def reason_text(lang: str, reason: str) -> str:
    """A gap reason for people: known reasons translated, a camera's error quoted."""
    key = f"reason.{reason}"
    if key in CATALOG[lang]:
        return translate(lang, key)
    return translate(lang, "reason.camera", detail=reason)
