"""Page text in Simplified Chinese (the default) and English.

Templates call ``t("key")``; a missing key is a bug that tests/test_pages.py catches by
rendering every page in both languages and comparing the catalogs' keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
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
        "lookup.pending": "最后约一秒的录像仍在写入，稍后刷新页面即可播放。",
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
        "reason.segment damaged": "录像文件已损坏",
        "reason.disk full": "磁盘已满",
        "reason.disk error": "磁盘写入错误",
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
        "users.title": "用户",
        "users.username": "用户名",
        "users.role": "角色",
        "users.counters": "受理窗口",
        "users.counters_hint": "仅对窗口人员有效",
        "users.last_login": "最近登录",
        "users.never": "从未",
        "users.state": "状态",
        "users.active": "启用",
        "users.disabled": "已停用",
        "users.edit": "修改",
        "users.save": "保存角色和窗口",
        "users.new_password": "新密码",
        "users.reset_password": "重设密码",
        "users.disable": "停用账号",
        "users.enable": "启用账号",
        "users.add": "添加用户",
        "users.password": "密码",
        "users.password_hint": "10–256 个字符，首尾不能是空格，不能包含用户名。",
        "users.create": "添加",
        "users.no_counters": "还没有受理窗口。",
        "users.done_created": "已添加用户 {name}。",
        "users.done_updated": "已保存用户 {name} 的角色和窗口。",
        "users.done_password": "已重设用户 {name} 的密码，其登录会话已全部结束。",
        "users.done_disabled": "已停用用户 {name}，其登录会话已全部结束。",
        "users.done_enabled": "已启用用户 {name}。",
        "role.admin": "管理员",
        "role.staff": "窗口人员",
        "role.auditor": "审计员",
        "tokens.title": "API 令牌",
        "tokens.name": "名称",
        "tokens.name_hint": "用途，例如：受理系统",
        "tokens.created": "创建时间",
        "tokens.last_used": "最近使用",
        "tokens.active": "有效",
        "tokens.revoked": "已吊销（{time}）",
        "tokens.revoke": "吊销",
        "tokens.add": "创建令牌",
        "tokens.create": "创建",
        "tokens.none": "还没有 API 令牌。",
        "tokens.new_title": "新令牌：{name}",
        "tokens.new_once": "请立即复制此令牌：它只显示这一次，系统只保存其哈希值。",
        "tokens.done_revoked": "已吊销令牌 {name}。",
        "audit.title": "审计日志",
        "audit.time": "时间",
        "audit.actor": "操作者",
        "audit.remote": "来源地址",
        "audit.action": "操作",
        "audit.action_hint": "前缀，例如 user.",
        "audit.target": "对象",
        "audit.outcome": "结果",
        "audit.detail": "详情",
        "audit.any": "全部",
        "audit.outcome_ok": "成功",
        "audit.outcome_denied": "拒绝",
        "audit.outcome_failed": "失败",
        "audit.from": "从",
        "audit.to": "到",
        "audit.filter": "筛选",
        "audit.older": "更早的记录",
        "audit.newest": "回到最新",
        "audit.empty": "没有符合条件的记录。",
        "common.none": "无",
        "common.seconds": "{n} 秒",
        # Dashboard, cameras and counters pages (web/camera_pages.py).
        "dash.title": "运行状态",
        "dash.alarms": "告警",
        "dash.no_alarms": "当前没有告警。",
        "dash.alarm_offline": "摄像机 {camera} 未在录像：{detail}",
        "dash.alarm_clock": "摄像机 {camera} 的时钟偏差 {offset} 秒",
        "dash.alarm_disk": "数据盘已用 {pct}%，超过 {limit}%：请清理或扩容",
        "dash.alarm_disk_full": "数据盘已满，录像无法写入（{cameras}）：腾出空间后自动恢复录像",
        "dash.alarm_disk_error": "数据盘写入出错，录像无法写入（{cameras}）：可写入后自动恢复录像",
        "dash.alarm_damaged": (
            "摄像机 {camera} 有 {count} 个录像文件已损坏（大小或哈希与封存时不符）："
            "请运行 surveil verify 核查"
        ),
        "dash.no_error": "未连接",
        "dash.disk": "数据盘",
        "dash.disk_use": "已用 {used} GB / 共 {total} GB（{pct}%），剩余 {free} GB",
        "dash.disk_unknown": "无法读取数据目录的磁盘用量。",
        "dash.cameras": "各摄像机录像状态",
        "dash.no_cameras": "还没有摄像机。",
        "dash.state": "状态",
        "dash.fps": "帧率",
        "dash.bitrate": "码率",
        "dash.last_packet": "最后收到数据",
        "dash.segment": "当前分段",
        "dash.clock": "时钟偏差",
        "dash.camera_alarms": "告警",
        "dash.refresh": "每 {n} 秒自动刷新；更新于",
        "state.recording": "录像中",
        "state.connecting": "连接中",
        "state.offline": "离线",
        "state.disabled": "已停用",
        "state.deleted": "已删除",
        "cams.title": "摄像机",
        "cams.list": "摄像机列表",
        "cams.name": "名称",
        "cams.origin": "来源",
        "cams.origin_config": "配置文件",
        "cams.origin_api": "页面/API",
        "cams.source": "视频流",
        "cams.counters": "受理窗口",
        "cams.enabled": "启用",
        "cams.edit": "修改",
        "cams.enable": "启用",
        "cams.disable": "停用",
        "cams.delete": "删除",
        "cams.config_note": "在配置文件中管理",
        "cams.no_counters": "还没有受理窗口。",
        "cams.discover": "发现局域网内的 ONVIF 摄像机",
        "cams.discover_button": "搜索",
        "cams.discover_help": "发送 WS-Discovery 探测（只能发现同一网段的设备）。",
        "cams.discover_none": "没有设备应答。",
        "cams.discover_failed": "无法发送发现探测",
        "cams.device": "设备",
        "cams.address": "地址",
        "cams.location": "位置",
        "cams.use_device": "填入添加表单",
        "cams.prefilled": "已填入发现的设备地址；请填写名称、用户名和密码。",
        "cams.add_onvif": "通过 ONVIF 添加",
        "cams.add_url": "通过 RTSP 地址添加",
        "cams.host": "设备地址（IP 或主机名）",
        "cams.port": "端口",
        "cams.username": "用户名",
        "cams.password": "密码",
        "cams.profile": "媒体配置（可选）",
        "cams.profile_hint": "留空则自动选择最高分辨率",
        "cams.url": "RTSP 地址",
        "cams.test": "测试连接",
        "cams.add": "添加",
        "cams.probe_ok": "连接成功",
        "cams.stream": "录像流",
        "cams.firmware": "固件",
        "cams.serial": "序列号",
        "cams.profiles": "媒体配置",
        "cams.main_profile": "录像（主码流）",
        "cams.sub_profile": "子码流",
        "cams.preview": "摄像机画面预览",
        "cams.no_preview": "该设备没有提供快照。",
        "cams.fail.onvif_auth_failed": "摄像机拒绝了用户名或密码。",
        "cams.fail.camera_unreachable": "无法连接摄像机：请检查地址、端口和网络。",
        "cams.fail.not_onvif": "该地址不是可用的 ONVIF 设备（或设备不支持录像所需的功能）。",
        "cams.fail.camera_error": "摄像机出错。",
        "cams.fail.invalid_value": "设置不符合规则：请检查地址（主机、端口）和密码；"
        "RTSP 地址中的 *** 需同时填写密码。",
        "cams.fail.counter_not_found": "所选受理窗口不存在（可能已被删除），请刷新页面后重新选择。",
        "cams.done_created": "已添加摄像机 {name}。",
        "cams.done_updated": "已保存摄像机 {name}。",
        "cams.done_enabled": "已启用摄像机 {name}。",
        "cams.done_disabled": "已停用摄像机 {name}（已有录像保留）。",
        "cams.done_deleted": "已删除摄像机 {name}（已有录像保留）。",
        "cam.edit_title": "修改摄像机 {name}",
        "cam.probed": "最近一次探测",
        "cam.profile_auto": "自动（最高分辨率）",
        "cam.password_unchanged": "（不变）",
        "cam.password_note": "密码只写不读：留空表示不修改。",
        "cam.record": "录像（启用）",
        "cam.save": "保存",
        "cam.delete_title": "删除摄像机 {name}",
        "cam.delete_explain": "删除后停止录像，名称不能再用于新摄像机；"
        "已有录像和审计记录全部保留。",
        "cam.delete_confirm": "确认删除 {name}",
        "cam.cancel": "取消",
        "ctr.title": "受理窗口",
        "ctr.create": "新建受理窗口",
        "ctr.code": "编号",
        "ctr.name": "名称",
        "ctr.site": "地点",
        "ctr.create_button": "新建",
        "ctr.cameras": "覆盖该窗口的摄像机",
        "ctr.save_cameras": "保存摄像机",
        "ctr.no_cameras": "没有摄像机。",
        "ctr.config_camera": "配置文件中的摄像机与窗口的关联只能在配置文件中修改。",
        "ctr.done_created": "已新建窗口 {code}。",
        "ctr.done_updated": "已保存窗口 {code}。",
        "ctr.done_deleted": "已删除窗口 {code}。",
        "ctr.done_mapped": "已保存窗口 {code} 的摄像机。",
        "common.yes": "是",
        "common.no": "否",
        "common.seconds_ago": "{n} 秒前",
        "nav.integrity": "完整性",
        "dash.integrity": "完整性日志",
        "dash.integrity_unavailable": "此进程不提供完整性日志。",
        "dash.log_size": "日志条目：{n}",
        "dash.last_checkpoint": "最近检查点：{time}（{size} 条）",
        "dash.no_checkpoint": "尚未签发检查点。",
        "dash.last_scrub": (
            "最近一轮巡检：{time} 完成，检查 {checked} 个文件，发现 {findings} 处问题"
        ),
        "dash.scrub_running": "巡检进行中：已检查 {checked} 个文件，发现 {findings} 处问题",
        "dash.no_scrub": "尚未完成巡检。",
        "dash.alarm_integrity": "完整性日志：{detail}",
        "dash.integrity_more": "详情",
        "integ.title": "完整性日志",
        "integ.unavailable": "此进程不提供完整性日志。",
        "integ.status": "状态",
        "integ.log_size": "日志条目数",
        "integ.checkpoint_count": "已签发检查点",
        "integ.last_checkpoint": "最近检查点",
        "integ.at_size": "{time}，{size} 条",
        "integ.last_scrub": "最近一轮巡检",
        "integ.scrub_done": "{time} 完成：检查 {checked} 个文件，发现 {findings} 处问题",
        "integ.scrub_running": "进行中：已检查 {checked} 个文件，发现 {findings} 处问题",
        "integ.last_verify": "最近一次校验",
        "integ.verify_ok": "{time} 完成：全部一致（检查 {checked} 项）",
        "integ.verify_findings": (
            "{time} 完成：发现 {findings} 处问题，请运行 surveil verify 查看每一处"
        ),
        "integ.verify_failed": "{time} 中断：校验出错，详见服务日志",
        "integ.no_verify": "尚未运行过校验。",
        "integ.alarms": "告警",
        "integ.no_alarms": "没有完整性告警。",
        "integ.verify": "校验",
        "integ.verify_hint": (
            "重新计算每个录像文件的哈希，并与日志和签名检查点逐一核对；可能需要较长时间。"
        ),
        "integ.run_verify": "运行校验",
        "integ.started": "已开始校验。",
        "integ.running": "校验进行中：{stage}，{done} / {total}",
        "integ.stage_files": "核对录像文件",
        "integ.stage_log": "核对日志条目",
        "integ.stage_checkpoints": "核对检查点",
        "integ.stage_done": "完成",
        "integ.stage_failed": "出错",
        "integ.refresh": "每 {n} 秒自动刷新，直到校验结束。",
        "integ.issue": "立即签发检查点",
        "integ.issued": "已签发检查点（{size} 条）。",
        "integ.key": "验证公钥",
        "integ.key_hint": "请将此公钥和一份检查点保存在本录像机以外的地方（见说明）。",
        "integ.download_key": "下载公钥",
        "integ.download_checkpoint": "下载最新检查点",
        "integ.help": "如何独立核验录像",
        "integ.checkpoints": "检查点",
        "integ.size": "日志条目数",
        "integ.issued_at": "签发时间",
        "integ.timestamped": "可信时间戳",
        "integ.root": "根哈希",
        "integ.download": "下载",
        "integ.no_checkpoints": "尚未签发检查点。",
        "integ.older": "更早的检查点",
        "integ.newest": "回到最新",
        "ihelp.title": "如何独立核验录像",
        "ihelp.intro": (
            "本录像机把每个已封存的录像分段和每条审计记录写入一棵 Merkle 树日志（RFC 9162），并定期"
            "对树根签名。只要有一份签名检查点和验证公钥，就能用自己的程序证明：下载的录像文件正是当"
            "时录下并记入日志的那一个，而且日志只增不改。"
        ),
        "ihelp.log_h": "日志",
        "ihelp.log": (
            "每个叶子是一条记录的规范 JSON（UTF-8，键按字典序排列，无空白，只含整数）：录像分段的叶"
            "子包含编号、摄像机、路径、起止时间、大小和整个文件的 SHA-256；审计记录的叶子包含该记录"
            "的全部字段。叶子哈希 = SHA-256(0x00 ‖ 叶子)，内部节点 = SHA-256(0x01 ‖ 左 ‖ 右)（RFC "
            "9162 §2.1.1）。"
        ),
        "ihelp.checkpoint_h": "检查点",
        "ihelp.checkpoint": (
            "检查点采用 C2SP tlog-checkpoint 格式，是一份签名文本（signed note）：正文三行，依次为"
            "来源（日志名称）、树的大小和 base64 编码的根哈希；其后一个空行，再是每个密钥一行签名："
            "“— <名称> <base64(4 字节密钥编号 ‖ Ed25519 签名)>”。签名覆盖正文直到最后一个换行符（含"
            "）。密钥编号是 SHA-256(名称 ‖ 0x0A ‖ 0x01 ‖ 32 字节公钥) 的前 4 个字节。"
        ),
        "ihelp.key_h": "本系统的验证公钥",
        "ihelp.key": (
            "格式为 <名称>+<8 位十六进制密钥编号>+<base64(0x01 ‖ 公钥)>。请与系统安装时交给您的副本"
            "核对，不要只相信本页面。"
        ),
        "ihelp.steps_h": "核验步骤",
        "ihelp.step1": (
            "下载检查点（GET /api/v1/integrity/checkpoint）和公钥（GET /api/v1/integrity/key），保"
            "存检查点，记下其中的树大小 N。"
        ),
        "ihelp.step2": (
            "验证签名：公钥名称与签名行中的名称一致，密钥编号与签名的前 4 个字节一致，且 Ed25519 签"
            "名对正文有效。"
        ),
        "ihelp.step3": (
            "在 GET /api/v1/recordings（按摄像机和时间）中找到该录像分段，记下它的 leaf_index（记为"
            " I）、sha256 和 url，并从 url 下载文件。"
        ),
        "ihelp.step4": "计算下载文件的 SHA-256，应与该分段的 sha256 相同。",
        "ihelp.step5": (
            "获取 GET /api/v1/integrity/proof/inclusion?index=I&size=N。其中 leaf 是 base64 编码的"
            "叶子：解码后核对其中的 sha256（以及编号、摄像机、时间）与该分段一致，再计算叶子哈希 "
            "SHA-256(0x00 ‖ 叶子)。"
        ),
        "ihelp.step6": (
            "按 RFC 9162 §2.1.3.2 的步骤，从叶子哈希出发依次合并证明中的哈希，得到树根，与检查点中"
            "的根哈希比较。两者相同，即证明该文件就是日志中记录的那一个，且该日志经公钥签名。"
        ),
        "ihelp.keep_h": "为什么要在录像机以外保存检查点",
        "ihelp.keep": (
            "掌握录像机的人也掌握其签名密钥，理论上可以把整个日志连同签名一起重建。事先复制到别处的"
            "检查点固定了过去：surveil verify --checkpoint 文件 （或一致性证明 GET "
            "/api/v1/integrity/proof/consistency?from=M&to=N）能证明现在的日志是它的延续，即它之前"
            "记录的内容没有被删除或修改。请定期下载一份检查点，与审计材料一起保存。"
        ),
        "ihelp.guide": "带命令行示例的完整说明见 surveil 代码库中的 docs/guide/verify.md（英文）。",
        "ihelp.back": "返回完整性日志",
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
        "lookup.pending": "The last second or so is still being written; reload the page "
        "in a moment to play it.",
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
        "reason.segment damaged": "segment file damaged",
        "reason.disk full": "disk full",
        "reason.disk error": "disk error",
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
        "users.title": "Users",
        "users.username": "User name",
        "users.role": "Role",
        "users.counters": "Counters",
        "users.counters_hint": "staff accounts only",
        "users.last_login": "Last sign-in",
        "users.never": "never",
        "users.state": "State",
        "users.active": "active",
        "users.disabled": "disabled",
        "users.edit": "Edit",
        "users.save": "Save role and counters",
        "users.new_password": "New password",
        "users.reset_password": "Set password",
        "users.disable": "Disable account",
        "users.enable": "Enable account",
        "users.add": "Add a user",
        "users.password": "Password",
        "users.password_hint": "10–256 characters, no blank at either end, "
        "not containing the user name.",
        "users.create": "Add",
        "users.no_counters": "There are no counters yet.",
        "users.done_created": "User {name} added.",
        "users.done_updated": "User {name}: role and counters saved.",
        "users.done_password": "User {name}: password set; all their sessions have ended.",
        "users.done_disabled": "User {name} disabled; all their sessions have ended.",
        "users.done_enabled": "User {name} enabled.",
        "role.admin": "administrator",
        "role.staff": "counter staff",
        "role.auditor": "auditor",
        "tokens.title": "API tokens",
        "tokens.name": "Name",
        "tokens.name_hint": "what uses it, e.g. acceptance system",
        "tokens.created": "Created",
        "tokens.last_used": "Last used",
        "tokens.active": "active",
        "tokens.revoked": "revoked {time}",
        "tokens.revoke": "Revoke",
        "tokens.add": "Create a token",
        "tokens.create": "Create",
        "tokens.none": "No API tokens yet.",
        "tokens.new_title": "New token: {name}",
        "tokens.new_once": "Copy this token now: it is shown only this once, and only its "
        "hash is stored.",
        "tokens.done_revoked": "Token {name} revoked.",
        "audit.title": "Audit log",
        "audit.time": "Time",
        "audit.actor": "Actor",
        "audit.remote": "From",
        "audit.action": "Action",
        "audit.action_hint": "prefix, e.g. user.",
        "audit.target": "Target",
        "audit.outcome": "Outcome",
        "audit.detail": "Detail",
        "audit.any": "any",
        "audit.outcome_ok": "ok",
        "audit.outcome_denied": "denied",
        "audit.outcome_failed": "failed",
        "audit.from": "From",
        "audit.to": "To",
        "audit.filter": "Filter",
        "audit.older": "Older entries",
        "audit.newest": "Back to newest",
        "audit.empty": "No matching entries.",
        "common.none": "none",
        "common.seconds": "{n} s",
        # Dashboard, cameras and counters pages (web/camera_pages.py).
        "dash.title": "Dashboard",
        "dash.alarms": "Alarms",
        "dash.no_alarms": "No alarms.",
        "dash.alarm_offline": "Camera {camera} is not recording: {detail}",
        "dash.alarm_clock": "Camera {camera}: clock off by {offset} s",
        "dash.alarm_disk": "Data disk {pct}% full (over {limit}%): free space or add storage",
        "dash.alarm_disk_full": (
            "Data disk full: recordings cannot be written ({cameras}); "
            "recording resumes by itself when space is freed"
        ),
        "dash.alarm_disk_error": (
            "Data disk error: recordings cannot be written ({cameras}); "
            "recording resumes by itself when writes succeed again"
        ),
        "dash.alarm_damaged": (
            "Camera {camera}: {count} damaged segment files (size or hash not as sealed): "
            "run surveil verify"
        ),
        "dash.no_error": "not connected",
        "dash.disk": "Data disk",
        "dash.disk_use": "{used} GB of {total} GB used ({pct}%), {free} GB free",
        "dash.disk_unknown": "Cannot read the disk use of the data directory.",
        "dash.cameras": "Recording per camera",
        "dash.no_cameras": "No cameras yet.",
        "dash.state": "State",
        "dash.fps": "Frame rate",
        "dash.bitrate": "Bitrate",
        "dash.last_packet": "Last data",
        "dash.segment": "Current segment",
        "dash.clock": "Clock offset",
        "dash.camera_alarms": "Alarms",
        "dash.refresh": "Reloads every {n} s; updated",
        "state.recording": "recording",
        "state.connecting": "connecting",
        "state.offline": "offline",
        "state.disabled": "disabled",
        "state.deleted": "deleted",
        "cams.title": "Cameras",
        "cams.list": "Cameras",
        "cams.name": "Name",
        "cams.origin": "Managed in",
        "cams.origin_config": "config file",
        "cams.origin_api": "pages/API",
        "cams.source": "Stream",
        "cams.counters": "Counters",
        "cams.enabled": "Enabled",
        "cams.edit": "Edit",
        "cams.enable": "Enable",
        "cams.disable": "Disable",
        "cams.delete": "Delete",
        "cams.config_note": "managed in the config file",
        "cams.no_counters": "No counters yet.",
        "cams.discover": "Find ONVIF cameras on the network",
        "cams.discover_button": "Search",
        "cams.discover_help": "Sends a WS-Discovery probe (finds devices on this subnet only).",
        "cams.discover_none": "No device answered.",
        "cams.discover_failed": "Discovery could not send its probe",
        "cams.device": "Device",
        "cams.address": "Address",
        "cams.location": "Location",
        "cams.use_device": "Use in the add form",
        "cams.prefilled": "The device's address is filled in; add a name, user name and password.",
        "cams.add_onvif": "Add by ONVIF",
        "cams.add_url": "Add by RTSP URL",
        "cams.host": "Device address (IP or host name)",
        "cams.port": "Port",
        "cams.username": "User name",
        "cams.password": "Password",
        "cams.profile": "Media profile (optional)",
        "cams.profile_hint": "empty: the highest resolution",
        "cams.url": "RTSP URL",
        "cams.test": "Test connection",
        "cams.add": "Add",
        "cams.probe_ok": "Connection works",
        "cams.stream": "Recorded stream",
        "cams.firmware": "Firmware",
        "cams.serial": "Serial number",
        "cams.profiles": "Media profiles",
        "cams.main_profile": "recorded (main)",
        "cams.sub_profile": "sub stream",
        "cams.preview": "Camera preview",
        "cams.no_preview": "The device offers no snapshot.",
        "cams.fail.onvif_auth_failed": "The camera refused the user name or password.",
        "cams.fail.camera_unreachable": "Cannot reach the camera: check the address, port and "
        "network.",
        "cams.fail.not_onvif": "This address is not a usable ONVIF device (or it lacks what "
        "recording needs).",
        "cams.fail.camera_error": "The camera reported an error.",
        "cams.fail.invalid_value": "A setting breaks a rule: check the address (host, port) "
        "and the password; *** in an RTSP address needs the password as well.",
        "cams.fail.counter_not_found": "A chosen counter does not exist (it may have been "
        "deleted): reload the page and choose again.",
        "cams.done_created": "Camera {name} added.",
        "cams.done_updated": "Camera {name} saved.",
        "cams.done_enabled": "Camera {name} enabled.",
        "cams.done_disabled": "Camera {name} disabled (its footage is kept).",
        "cams.done_deleted": "Camera {name} deleted (its footage is kept).",
        "cam.edit_title": "Edit camera {name}",
        "cam.probed": "Last probed",
        "cam.profile_auto": "automatic (highest resolution)",
        "cam.password_unchanged": "(unchanged)",
        "cam.password_note": "Passwords are write-only: leave empty to keep the current one.",
        "cam.record": "Record (enabled)",
        "cam.save": "Save",
        "cam.delete_title": "Delete camera {name}",
        "cam.delete_explain": "Recording stops and the name cannot be reused; all footage and "
        "audit records are kept.",
        "cam.delete_confirm": "Delete {name}",
        "cam.cancel": "Cancel",
        "ctr.title": "Counters",
        "ctr.create": "New counter",
        "ctr.code": "Code",
        "ctr.name": "Name",
        "ctr.site": "Site",
        "ctr.create_button": "Create",
        "ctr.cameras": "Cameras covering this counter",
        "ctr.save_cameras": "Save cameras",
        "ctr.no_cameras": "No cameras.",
        "ctr.config_camera": "Links of config-file cameras are changed in the config file.",
        "ctr.done_created": "Counter {code} created.",
        "ctr.done_updated": "Counter {code} saved.",
        "ctr.done_deleted": "Counter {code} deleted.",
        "ctr.done_mapped": "Cameras of counter {code} saved.",
        "common.yes": "yes",
        "common.no": "no",
        "common.seconds_ago": "{n} s ago",
        "nav.integrity": "Integrity",
        "dash.integrity": "Integrity log",
        "dash.integrity_unavailable": "The integrity log is not available in this process.",
        "dash.log_size": "Log entries: {n}",
        "dash.last_checkpoint": "Last checkpoint: {time} (size {size})",
        "dash.no_checkpoint": "No checkpoint issued yet.",
        "dash.last_scrub": (
            "Last scrub: finished {time}, {checked} files checked, {findings} findings"
        ),
        "dash.scrub_running": "Scrub running: {checked} files checked, {findings} findings",
        "dash.no_scrub": "No scrub has finished yet.",
        "dash.alarm_integrity": "Integrity log: {detail}",
        "dash.integrity_more": "Details",
        "integ.title": "Integrity log",
        "integ.unavailable": "The integrity log is not available in this process.",
        "integ.status": "Status",
        "integ.log_size": "Log entries",
        "integ.checkpoint_count": "Checkpoints issued",
        "integ.last_checkpoint": "Last checkpoint",
        "integ.at_size": "{time}, size {size}",
        "integ.last_scrub": "Last scrub",
        "integ.scrub_done": "finished {time}: {checked} files checked, {findings} findings",
        "integ.scrub_running": "running: {checked} files checked, {findings} findings",
        "integ.last_verify": "Last verify",
        "integ.verify_ok": "finished {time}: everything holds ({checked} checked)",
        "integ.verify_findings": (
            "finished {time}: {findings} findings; run surveil verify to see each one"
        ),
        "integ.verify_failed": "stopped {time}: verify failed, see the server log",
        "integ.no_verify": "No verify has run yet.",
        "integ.alarms": "Alarms",
        "integ.no_alarms": "No integrity alarms.",
        "integ.verify": "Verify",
        "integ.verify_hint": (
            "Re-hashes every segment file and checks each entry against the log and the signed "
            "checkpoints; this can take a while."
        ),
        "integ.run_verify": "Run verify",
        "integ.started": "Verify started.",
        "integ.running": "Verify running: {stage}, {done} / {total}",
        "integ.stage_files": "checking segment files",
        "integ.stage_log": "checking log entries",
        "integ.stage_checkpoints": "checking checkpoints",
        "integ.stage_done": "done",
        "integ.stage_failed": "failed",
        "integ.refresh": "Reloads every {n} s until the verify ends.",
        "integ.issue": "Issue checkpoint now",
        "integ.issued": "Checkpoint issued at size {size}.",
        "integ.key": "Verifier key",
        "integ.key_hint": (
            "Keep this key and a checkpoint somewhere other than this recorder (see the help)."
        ),
        "integ.download_key": "Download the key",
        "integ.download_checkpoint": "Download the latest checkpoint",
        "integ.help": "How to check footage independently",
        "integ.checkpoints": "Checkpoints",
        "integ.size": "Size",
        "integ.issued_at": "Issued",
        "integ.timestamped": "Timestamped",
        "integ.root": "Root hash",
        "integ.download": "Download",
        "integ.no_checkpoints": "No checkpoint issued yet.",
        "integ.older": "Older checkpoints",
        "integ.newest": "Back to newest",
        "ihelp.title": "How to check footage independently",
        "ihelp.intro": (
            "The recorder keeps a Merkle tree log (RFC 9162) of every sealed segment and every "
            "audit entry, and signs its root regularly. With a signed checkpoint and the verifier "
            "key you can prove with your own code that a downloaded segment file is the one that "
            "was recorded and logged, and that the log was only ever appended to."
        ),
        "ihelp.log_h": "The log",
        "ihelp.log": (
            "Each leaf is the canonical JSON of one entry (UTF-8, keys sorted, no whitespace, "
            "integers only): for a sealed segment its id, camera, path, times, size and the "
            "SHA-256 of the whole file; for an audit entry every field of the row. Leaf hash = "
            "SHA-256(0x00 ‖ leaf), interior node = SHA-256(0x01 ‖ left ‖ right) (RFC 9162 §2.1.1)."
        ),
        "ihelp.checkpoint_h": "Checkpoints",
        "ihelp.checkpoint": (
            "A checkpoint is a C2SP tlog-checkpoint, a signed note: its text is three lines, the "
            "origin (the log's name), the tree size and the base64 root hash; then a blank line "
            "and one signature line per key, '— <name> <base64(4-byte key id ‖ Ed25519 "
            "signature)>'. The signature covers the text up to and including its last newline. The "
            "key id is the first 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ 32-byte public key)."
        ),
        "ihelp.key_h": "This installation's verifier key",
        "ihelp.key": (
            "Its form is <name>+<key id, 8 hex digits>+<base64(0x01 ‖ public key)>. Compare it "
            "with the copy you were given when the recorder was set up, not only with this page."
        ),
        "ihelp.steps_h": "Steps",
        "ihelp.step1": (
            "Download the checkpoint (GET /api/v1/integrity/checkpoint) and the key (GET "
            "/api/v1/integrity/key). Keep the checkpoint and note its tree size N."
        ),
        "ihelp.step2": (
            "Verify the signature: the key's name is the signature line's name, the key id is the "
            "signature's first 4 bytes, and the Ed25519 signature over the text is valid."
        ),
        "ihelp.step3": (
            "Find the segment in GET /api/v1/recordings (by camera and time): note its leaf_index "
            "I, its sha256 and its url, and download the file from the url."
        ),
        "ihelp.step4": "Check that the SHA-256 of the downloaded file equals the segment's sha256.",
        "ihelp.step5": (
            "Fetch GET /api/v1/integrity/proof/inclusion?index=I&size=N. Its leaf is the leaf "
            "input in base64: decode it, check that its sha256 (and id, camera, times) are the "
            "segment's, and compute the leaf hash SHA-256(0x00 ‖ leaf)."
        ),
        "ihelp.step6": (
            "Fold the proof into the leaf hash as RFC 9162 §2.1.3.2 describes and compare the "
            "result with the checkpoint's root. Equal: the file is the one logged, in the log the "
            "key signed."
        ),
        "ihelp.keep_h": "Why to keep a checkpoint outside the recorder",
        "ihelp.keep": (
            "Whoever controls the recorder holds its signing key and could rebuild the whole log "
            "with valid signatures. A checkpoint copied elsewhere earlier pins the past: surveil "
            "verify --checkpoint FILE (or a consistency proof, GET "
            "/api/v1/integrity/proof/consistency?from=M&to=N) proves that today's log extends it, "
            "so nothing logged before it was removed or changed. Download one regularly and keep "
            "it with the audit records."
        ),
        "ihelp.guide": (
            "The full guide, with command lines, is docs/guide/verify.md in the surveil repository."
        ),
        "ihelp.back": "Back to the integrity log",
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


# -- errors, by their stable code (web/errors.py) -----------------------------------------

_ERRORS: Final[dict[str, tuple[str, str]]] = {
    # code: (Chinese, English)
    "bad_request": ("请求参数不正确。", "The request is not valid."),
    "invalid_value": ("填写的值不符合规则。", "A value breaks a rule."),
    "unauthorized": ("请先登录。", "Sign in first."),
    "forbidden": ("您的账号无权进行此操作。", "Your account may not do this."),
    "csrf": ("页面已过期，请刷新后重试。", "The page expired: reload it and try again."),
    "internal_error": ("服务器内部错误，请查看服务器日志。", "Internal error; see the server log."),
    "index_unavailable": (
        "索引数据库无法写入（磁盘是否已满？），请求被拒绝。",
        "The index cannot be written (is its disk full?), so the request is refused.",
    ),
    "audit_unavailable": (
        "无法写入审计日志，请求被拒绝。",
        "The audit log cannot be written, so the request is refused.",
    ),
    "cameras_unavailable": ("此进程不提供摄像机管理。", "Camera management is not available."),
    "integrity_unavailable": ("此进程不提供完整性日志。", "The integrity log is not available."),
    "checkpoint_not_found": ("没有这个检查点。", "No such checkpoint."),
    "leaf_not_found": ("日志中没有这个条目。", "No such entry in the log."),
    "log_corrupt": ("完整性日志已损坏，请运行校验。", "The integrity log is damaged: run verify."),
    "discovery_failed": ("无法发送发现探测。", "Discovery could not send its probe."),
    "precondition_failed": ("文件已变化。", "The file has changed."),
    "range_not_satisfiable": ("请求的字节范围无效。", "The byte range cannot be satisfied."),
    "not_found": ("找不到该记录。", "No such record."),
    "camera_not_found": ("找不到该摄像机。", "No such camera."),
    "segment_not_found": ("找不到该录像片段。", "No such segment."),
    "counter_not_found": ("找不到该受理窗口。", "No such counter."),
    "receipt_not_found": ("找不到该受理回执。", "No such receipt."),
    "user_not_found": ("找不到该用户。", "No such user."),
    "token_not_found": ("找不到该令牌。", "No such token."),
    "no_footage": ("该时段没有可播放的录像。", "No playable footage in that window."),
    "conflict": ("与现有记录冲突。", "This conflicts with what is stored."),
    "self_disable": ("不能停用您自己的账号。", "You cannot disable your own account."),
    "last_admin": (
        "这是最后一个启用的管理员，请先设置另一个管理员。",
        "This is the last active admin; make another admin first.",
    ),
    "segment_open": ("该片段仍在录制中。", "The segment is still being written."),
    "segment_damaged": ("该片段已损坏。", "The segment is damaged."),
    "segment_gone": ("该片段的文件已丢失。", "The segment's file is gone."),
    "clip_unavailable": ("这些片段无法拼接为一个视频。", "These segments cannot be stitched."),
    "credentials_unreadable": (
        "无法解密已保存的摄像机密码。",
        "The stored camera password cannot be decrypted.",
    ),
    "password_rejected": (
        "密码不符合要求：10 至 256 个字符，且不能包含用户名。",
        "The password breaks the rule: 10 to 256 characters, not containing the user name.",
    ),
    "onvif_auth_failed": (
        "摄像机拒绝了用户名或密码。",
        "The camera refused the user name or password.",
    ),
    "not_onvif": (
        "该设备不支持所需的 ONVIF 功能。",
        "The device does not support what ONVIF needs.",
    ),
    "camera_unreachable": ("无法连接摄像机。", "The camera cannot be reached."),
    "camera_rejected": ("摄像机拒绝了请求。", "The camera refused the request."),
    "onvif_error": ("摄像机的 ONVIF 服务出错。", "The camera's ONVIF service failed."),
    "camera_error": ("摄像机出错。", "The camera failed."),
    "method_not_allowed": ("不支持该请求方法。", "Method not allowed."),
    "payload_too_large": ("请求内容过大。", "The request is too large."),
}

# What a form field's refusal means, by the kind of failure (pydantic's error type).
_FORM_ERRORS: Final[dict[str, tuple[str, str]]] = {
    "missing": ("「{field}」为必填项。", "'{field}' is required."),
    "string_too_short": ("「{field}」太短。", "'{field}' is too short."),
    "string_too_long": ("「{field}」太长。", "'{field}' is too long."),
    "string_pattern_mismatch": ("「{field}」格式不正确。", "'{field}' is not in the right form."),
    "literal_error": ("「{field}」不是可选的值。", "'{field}' is not one of the choices."),
    "int_parsing": ("「{field}」应为整数。", "'{field}' must be a whole number."),
    "greater_than_equal": ("「{field}」太小。", "'{field}' is too small."),
    "less_than_equal": ("「{field}」太大。", "'{field}' is too large."),
    "bool_parsing": ("「{field}」应为是或否。", "'{field}' must be yes or no."),
    "invalid_value": ("「{field}」不符合规则。", "'{field}' breaks a rule."),
    "invalid": ("「{field}」的值不正确。", "'{field}' is not valid."),
    "too_long": ("「{field}」项目太多。", "'{field}' has too many items."),
    "datetime_parsing": (
        "「{field}」不是有效的时间（例如 2026-11-26T09:30）。",
        "'{field}' is not a time like 2026-11-26T09:30.",
    ),
}

for _code, (_zh, _en) in _ERRORS.items():
    CATALOG["zh"][f"err.{_code}"] = _zh
    CATALOG["en"][f"err.{_code}"] = _en
for _kind, (_zh, _en) in _FORM_ERRORS.items():
    CATALOG["zh"][f"form.err.{_kind}"] = _zh
    CATALOG["en"][f"form.err.{_kind}"] = _en
CATALOG["zh"]["err.status"] = "请求失败（{status}）。"
CATALOG["en"]["err.status"] = "The request failed ({status})."


def error_text(lang: str, code: str, status: int, message: str | None = None) -> str:
    """A refusal for people, by its stable code; English pages add the detail, Chinese
    pages never show English text from the server."""
    key = f"err.{code}"
    text = (
        translate(lang, key)
        if key in CATALOG[lang]
        else translate(lang, "err.status", status=status)
    )
    if lang == "en" and message:
        return f"{text} ({message})"
    return text


def form_error_text(lang: str, field: str, kind: str) -> str:
    """A form field's refusal for people (web.wire.forms.FormInvalid)."""
    key = f"form.err.{kind}" if f"form.err.{kind}" in CATALOG[lang] else "form.err.invalid"
    return translate(lang, key, field=field)


# -- the storage lifecycle: the dashboard's box, /storage, a receipt's holds on /lookup ----

_STORAGE: Final[dict[str, tuple[str, str]]] = {
    # key: (Chinese, English)
    "nav.storage": ("存储与保留", "Storage"),
    "err.hold_not_found": ("找不到该保全。", "No such hold."),
    "err.retention_rule_not_found": ("没有这条保存期限规则。", "No such retention rule."),
    "err.lifecycle_unavailable": ("此进程不提供存储管理。", "Storage management is not available."),
    "storage.title": ("存储与保留", "Storage and retention"),
    "storage.unavailable": ("此进程不提供存储管理。", "Storage management is not available here."),
    "storage.read_only": (
        "您可以查看；只有管理员可以修改。",
        "You may look; only admins change these.",
    ),
    "storage.box": ("存储", "Storage"),
    "storage.unmeasured": ("尚未读取各存储卷的用量。", "The volumes have not been measured yet."),
    "storage.level_ok": ("正常", "ok"),
    "storage.level_warn": ("将满", "filling up"),
    "storage.level_critical": ("临界", "critical"),
    "storage.level_full": ("已满——证据录像受保护", "full — evidence protected"),
    "storage.level_error": ("无法读取", "cannot be read"),
    "storage.quota": ("配额 {size}", "quota {size}"),
    "storage.volume_use": (
        "已用 {used} / 共 {total}（{pct}%），剩余 {free}",
        "{used} of {total} used ({pct}%), {free} free",
    ),
    "storage.oldest": ("最早的录像", "Oldest footage"),
    "storage.kept_vs_rule": ("已保存 / 保存期限", "Kept / rule"),
    "storage.days_kept": ("{kept} / {days} 天", "{kept} / {days} days"),
    "storage.size": ("大小", "Size"),
    "storage.rule": ("依据", "Rule"),
    "storage.legal_active": ("生效中的保全：{n} 项", "Active legal holds: {n}"),
    "storage.last_pass": (
        "最近一次清理：{time}（{trigger}），删除 {n} 个片段，{size}",
        "Last retention pass: {time} ({trigger}), deleted {n} segments, {size}",
    ),
    "storage.transfer": ("中心存储", "Central storage"),
    "storage.transfer_line": (
        "{target}：{waiting} 个片段（{size}）待确认，最久 {hours} 小时；"
        "已确认 {confirmed} 个（{confirmed_size}）",
        "{target}: {waiting} segments ({size}) not yet confirmed, the oldest {hours} h; "
        "{confirmed} confirmed ({confirmed_size})",
    ),
    "storage.transfer_current": (
        "{target}：全部已确认（{confirmed} 个片段，{confirmed_size}）",
        "{target}: everything confirmed ({confirmed} segments, {confirmed_size})",
    ),
    "storage.transfer_locked": ("对象锁定（合规模式）", "object lock (compliance mode)"),
    "storage.transfer_off": (
        "已配置中心存储，但未运行；未确认的录像不会被删除。",
        "Central storage is configured but not running; nothing unconfirmed is deleted.",
    ),
    "storage.transfer_none": (
        "未配置中心存储（[transfer]）：录像只在本机。",
        "No central storage configured ([transfer]): footage is only on this recorder.",
    ),
    "storage.alarm_transfer": ("中心存储告警：{detail}", "Central storage: {detail}"),
    "storage.alarm_transfer_off": (
        "中心存储未运行：{detail}",
        "Central storage is not running: {detail}",
    ),
    "storage.alarm_transfer_lag": (
        "上传滞后 {hours} 小时（告警阈值 {warn} 小时）",
        "Transfer lag {hours} h (warning at {warn} h)",
    ),
    "storage.alarm_transfer_late": (
        "上传滞后 {hours} 小时：超过 24 小时的录像尚未进入中心存储（第二十二条）",
        "Transfer lag {hours} h: footage older than 24 h is not yet in central storage (art. 22)",
    ),
    "storage.deleted_total": (
        "按保存期限累计删除 {n} 个片段，{size}。",
        "Deleted under retention so far: {n} segments, {size}.",
    ),
    "storage.alarm_full": (
        "磁盘已满——证据录像受保护：卷 {volume} 仅剩 {free} MB，其上没有可以删除的录像；"
        "该卷已停止录像，腾出空间后自动恢复",
        "Disk full — evidence protected: volume {volume} has {free} MB free and nothing on it "
        "may be deleted; recording on it has stopped and resumes by itself when space returns",
    ),
    "storage.alarm_critical": (
        "卷 {volume} 已用 {pct}%（临界值 {mark}%）：正在删除可以删除的过期录像",
        "Volume {volume} is {pct}% full (critical mark {mark}%); retention frees what it may",
    ),
    "storage.alarm_warn": (
        "卷 {volume} 已用 {pct}%（警告值 {mark}%）",
        "Volume {volume} is {pct}% full (warning mark {mark}%)",
    ),
    "storage.alarm_error": (
        "无法读取卷 {volume}：{detail}",
        "Volume {volume} cannot be read: {detail}",
    ),
    "storage.alarm_retention": (
        "最近一次清理失败：{detail}",
        "The last retention pass failed: {detail}",
    ),
    "storage.rules": ("保存期限", "Retention rules"),
    "storage.default_rule": (
        "配置文件规定的默认保存期限：{days} 天。",
        "The configured default: {days} days.",
    ),
    "storage.rules_hint": (
        "最具体的规则优先：摄像机的规则，其次是其所属窗口中最长的规则，再次是全局规则，最后是默认值。"
        "与受理回执、保全或导出关联的录像不会被删除；案件归档后其录像再保留 {archive} 天。",
        "The most specific rule applies: the camera's, else the longest of its counters', else "
        "the installation's, else the default. Footage held for a receipt, a legal hold or an "
        "export is never deleted; a case's footage stays held {archive} days after the case "
        "is archived.",
    ),
    "storage.scope": ("范围", "Scope"),
    "storage.scope_installation": ("全局", "installation"),
    "storage.scope_counter": ("窗口", "counter"),
    "storage.scope_camera": ("摄像机", "camera"),
    "storage.ref": ("窗口或摄像机", "Counter or camera"),
    "storage.ref_hint": ("全局规则留空", "empty for the installation"),
    "storage.retain_days": ("保存天数", "Days kept"),
    "storage.days": ("{n} 天", "{n} days"),
    "storage.updated": ("修改", "Changed"),
    "storage.remove": ("删除规则", "Remove"),
    "storage.no_rules": ("没有规则：所有录像按默认期限保存。", "No rules: the default applies."),
    "storage.set_rule": ("设置", "Set the rule"),
    "storage.per_camera": ("各摄像机适用的期限", "What applies to each camera"),
    "storage.holds": ("保全", "Legal holds"),
    "storage.holds_hint": (
        "保全期间，所选摄像机在该时段的录像不会被删除；解除时须说明理由，保全记录永久保留。",
        "While a legal hold is active, the cameras' footage over its span is never deleted; "
        "releasing one needs a reason, and the hold stays on record.",
    ),
    "storage.hold": ("保全", "Hold"),
    "storage.span": ("时段", "Span"),
    "storage.reason": ("理由", "Reason"),
    "storage.reason_hint": ("例如：法院调取通知书编号", "e.g. the court order's number"),
    "storage.placed": ("设置", "Placed"),
    "storage.release": ("解除", "Release"),
    "storage.release_reason": ("解除理由", "Why it is released"),
    "storage.released": ("解除", "Released"),
    "storage.expired": ("已于 {time} 到期", "expired at {time}"),
    "storage.no_holds": ("没有生效中的保全。", "No active legal holds."),
    "storage.ended_holds": ("已解除的保全", "Released legal holds"),
    "storage.no_ended_holds": ("没有已解除的保全。", "No released legal holds."),
    "storage.place": ("设置保全", "Place a legal hold"),
    "storage.place_button": ("设置保全", "Place the hold"),
    "storage.cameras": ("摄像机", "Cameras"),
    "storage.from": ("从", "From"),
    "storage.to": ("到", "To"),
    "storage.to_hint": ("留空：直到解除", "empty: until released"),
    "storage.open_ended": ("直到解除", "until released"),
    "storage.plan": ("现在清理会删除什么", "What a pass would delete now"),
    "storage.plan_total": ("共 {n} 个片段，{size}。", "{n} segments, {size}."),
    "storage.plan_central": (
        "只删除已确认复制到中心存储的录像。",
        "Only footage confirmed in central storage is deleted.",
    ),
    "storage.would_delete": ("将删除", "Would delete"),
    "storage.kept": ("超过期限但保留", "Old enough but kept"),
    "storage.segments": ("{n} 个片段，{size}", "{n} segments, {size}"),
    "storage.kept_held": ("受保留（回执、保全或导出）", "held (receipt, legal hold or export)"),
    "storage.kept_not_transferred": ("尚未复制到中心存储", "not yet in central storage"),
    "storage.kept_damaged": ("文件已损坏", "damaged"),
    "storage.kept_missing": ("文件缺失", "missing"),
    "storage.kept_open": ("仍在写入", "still being written"),
    "storage.plan_first": ("最早的 {n} 个", "The oldest {n}"),
    "storage.why": ("原因", "Why"),
    "storage.passes": ("清理记录", "Retention passes"),
    "storage.run_pass": ("立即清理", "Run a pass now"),
    "storage.run_pass_hint": (
        "按上面的规则删除过期且未受保留的录像；每一次删除都记入日志。",
        "Deletes what the rules above allow, no more; every deletion is logged.",
    ),
    "storage.trigger": ("触发", "Trigger"),
    "storage.trigger_schedule": ("定时", "scheduled"),
    "storage.trigger_startup": ("启动时", "at startup"),
    "storage.trigger_manual": ("手动", "manual"),
    "storage.trigger_disk": ("磁盘空间", "disk space"),
    "storage.trigger_quota": ("配额", "quota"),
    "storage.started": ("开始", "Started"),
    "storage.finished": ("结束", "Finished"),
    "storage.deleted": ("删除", "Deleted"),
    "storage.unfinished": ("未完成", "did not finish"),
    "storage.no_passes": ("还没有清理记录。", "No retention pass yet."),
    "storage.done_rule_set": ("已保存保存期限规则。", "The retention rule is set."),
    "storage.done_rule_removed": ("已删除规则。", "The rule is removed."),
    "storage.done_hold_placed": (
        "已设置保全（{n} 台摄像机）。",
        "Legal hold placed ({n} cameras).",
    ),
    "storage.done_hold_released": ("已解除保全 {n}。", "Legal hold {n} released."),
    "storage.done_pass": ("已完成清理 {n}。", "Retention pass {n} done."),
    "storage.err_hold_order": (
        "保全的结束时间必须晚于开始时间。",
        "The hold must end after it starts.",
    ),
    "lookup.case_state": ("案件状态", "Case"),
    "lookup.case_open": ("办理中", "open"),
    "lookup.case_closed": ("{time} 办结", "closed at {time}"),
    "lookup.case_archived": ("{time} 归档", "archived at {time}"),
    "lookup.holds": ("本回执的录像保留", "Footage kept for this receipt"),
    "lookup.hold_camera": ("摄像机", "Camera"),
    "lookup.hold_span": ("时段", "Span"),
    "lookup.hold_kept": ("保留期限", "Kept"),
    "lookup.hold_open": ("受理中", "open"),
    "lookup.hold_until_archived": (
        "保留至案件归档后 {days} 天",
        "held until the case is archived + {days} days",
    ),
    "lookup.hold_until_case": ("保留至案件归档后的保存期满", "held until the case is archived"),
    "lookup.hold_until": (
        "保留至 {time}（案件归档后 {days} 天）",
        "held until {time} (case archived + {days} days)",
    ),
    "lookup.hold_expired": (
        "已于 {time} 到期，此后按保存期限处理",
        "expired at {time}; the retention rules apply since",
    ),
    "lookup.hold_released": ("已于 {time} 解除", "released at {time}"),
}

for _key, (_zh, _en) in _STORAGE.items():
    CATALOG["zh"][_key] = _zh
    CATALOG["en"][_key] = _en


# -- export requests: /exports, the request form and page, the users page's permissions ------

_EXPORTS: Final[dict[str, tuple[str, str]]] = {
    # key: (Chinese, English)
    "nav.exports": ("导出", "Exports"),
    "nav.waiting": ("{n} 项待您处理", "{n} waiting for you"),
    "err.export_not_found": ("找不到该导出申请。", "No such export request."),
    "err.export_forbidden": (
        "您不能对此导出申请进行此操作。",
        "You may not take this step on this export request.",
    ),
    "err.export_state": (
        "该导出申请当前的状态不允许此操作，请刷新页面。",
        "The request's state does not allow this step; reload the page.",
    ),
    "err.package_missing": ("导出包尚未生成或已丢失。", "The package is not built, or is gone."),
    "exp.title": ("导出申请", "Export requests"),
    "exp.waiting": ("待您处理", "Waiting for you"),
    "exp.waiting_review": ("待审核：{n} 项", "To review: {n}"),
    "exp.waiting_approve": ("待审批：{n} 项", "To approve: {n}"),
    "exp.view_all": ("全部", "All"),
    "exp.view_mine": ("我提交的", "Filed by me"),
    "exp.view_to_review": ("待我审核", "To review"),
    "exp.view_to_approve": ("待我审批", "To approve"),
    "exp.state": ("状态", "State"),
    "exp.any_state": ("任意状态", "any state"),
    "exp.filter": ("筛选", "Filter"),
    "exp.state_submitted": ("已提交，待审核", "submitted, to review"),
    "exp.state_returned": ("已退回", "returned"),
    "exp.state_reviewed": ("已审核，待审批", "reviewed, to approve"),
    "exp.state_approved": ("已批准", "approved"),
    "exp.state_rejected": ("未批准", "rejected"),
    "exp.state_withdrawn": ("已撤回", "withdrawn"),
    "exp.state_packaged": ("已生成导出包", "packaged"),
    "exp.state_delivered": ("已交付", "delivered"),
    "exp.kind": ("方式", "Kind"),
    "exp.kind_view": ("现场查看", "View on site"),
    "exp.kind_copy": ("复制", "Copy"),
    "exp.counter": ("窗口", "Counter"),
    "exp.receipt": ("回执编号", "Receipt"),
    "exp.window": ("时段", "Window"),
    "exp.cameras": ("摄像机", "Cameras"),
    "exp.party": ("申请人", "Requesting party"),
    "exp.party_name": ("申请人姓名", "Party's name"),
    "exp.party_id": ("证件", "ID"),
    "exp.party_id_type": ("证件类型", "ID type"),
    "exp.party_id_number": ("证件号码", "ID number"),
    "exp.party_relation": ("与案件的关系", "Relation to the case"),
    "exp.id_id_card": ("居民身份证", "resident ID card"),
    "exp.id_passport": ("护照", "passport"),
    "exp.id_hk_macao": ("港澳居民来往内地通行证", "Home Return Permit"),
    "exp.id_taiwan": ("台湾居民来往大陆通行证", "Taiwan Compatriot Permit"),
    "exp.id_residence": ("外国人永久居留身份证", "foreigner's permanent residence ID"),
    "exp.id_org_code": ("统一社会信用代码", "unified social credit code"),
    "exp.rel_applicant": ("申请人本人", "the applicant"),
    "exp.rel_agent": ("委托代理人", "authorised agent"),
    "exp.rel_lawyer": ("律师", "lawyer"),
    "exp.rel_heir": ("近亲属", "close relative"),
    "exp.rel_court": ("司法机关", "court or prosecutor"),
    "exp.purpose": ("用途", "Purpose"),
    "exp.legal_basis": ("法律依据", "Legal basis"),
    "exp.legal_basis_hint": (
        "例如：《政府信息公开条例》第二十七条；法院调取通知书编号",
        "e.g. the article relied on; the court order's number",
    ),
    "exp.case_no": ("案件编号", "Case number"),
    "exp.case_no_hint": ("留空：使用回执编号", "empty: the receipt number"),
    "exp.filed": ("提交", "Filed"),
    "exp.how_to_file": (
        "导出申请从录像查询结果发起（按回执或按窗口和时间），也可以：",
        "Requests start from a lookup result (by receipt, or counter and time), or:",
    ),
    "exp.new": ("新建申请", "New request"),
    "exp.none": ("没有符合条件的导出申请。", "No export requests match."),
    "exp.older": ("更早的申请", "Older requests"),
    "exp.new_title": ("申请导出", "Request export"),
    "exp.choose_source": (
        "输入回执编号，或选择窗口和时段：",
        "Give a receipt number, or a counter and a window:",
    ),
    "exp.from": ("从", "From"),
    "exp.to": ("到", "To"),
    "exp.next": ("下一步", "Next"),
    "exp.max_window": ("一次申请最多 {hours} 小时。", "A request covers at most {hours} hours."),
    "exp.covers": ("申请的录像", "The footage requested"),
    "exp.receipt_window": (
        "时段为该回执的受理时段（含前后预留时间），受理仍在进行时截至当前时刻。",
        "The window is the receipt's acceptance with its pre- and post-roll; an open one "
        "runs to now.",
    ),
    "exp.submit": ("提交申请", "File the request"),
    "exp.request_title": ("导出申请 {id}", "Export request {id}"),
    "exp.view_until": ("现场查看有效期至", "Viewing open until"),
    "exp.expired": ("已过期", "expired"),
    "exp.timeline": ("办理进度", "Progress"),
    "exp.custody": ("流转记录", "Custody chain"),
    "exp.step": ("环节", "Step"),
    "exp.who": ("经办人", "Who"),
    "exp.role": ("角色", "Role"),
    "exp.role_system": ("系统", "system"),
    "exp.when": ("时间", "When"),
    "exp.reason": ("理由", "Reason"),
    "exp.step_submit": ("提交", "filed"),
    "exp.step_review": ("审核通过", "review passed"),
    "exp.step_return": ("审核退回", "returned"),
    "exp.step_resubmit": ("重新提交", "resubmitted"),
    "exp.step_approve": ("批准", "approved"),
    "exp.step_reject": ("不予批准", "rejected"),
    "exp.step_withdraw": ("撤回", "withdrawn"),
    "exp.step_package": ("生成导出包", "packaged"),
    "exp.step_deliver": ("交付", "delivered"),
    "exp.step_view": ("现场查看", "viewed"),
    "exp.step_download": ("下载导出包", "downloaded"),
    "exp.delivered_to": ("交付给 {recipient}（{method}）", "handed to {recipient} ({method})"),
    "exp.package": ("导出包", "Package"),
    "exp.package_ready": ("导出包已生成（{size}）。", "The package is ready ({size})."),
    "exp.download": ("下载导出包", "Download the package"),
    "exp.package_failed": (
        "导出包生成失败，系统将自动重试。",
        "The package could not be built; it is retried by itself.",
    ),
    "exp.package_off": (
        "此进程未运行完整性日志，导出包暂不能生成。",
        "This process runs without the integrity log: the package waits.",
    ),
    "exp.package_building": ("正在生成导出包：{pct}%", "Building the package: {pct}%"),
    "exp.package_queued": ("等待生成导出包。", "The package is queued."),
    "exp.package_after": ("批准后自动生成导出包。", "The package is built once approved."),
    "exp.refreshing": ("本页每 {n} 秒自动刷新。", "This page reloads every {n} s."),
    "exp.holds": ("录像保留", "Footage held"),
    "exp.hold_state": ("保留状态", "Held"),
    "exp.hold_active": ("保留中，不会被删除", "held: never deleted"),
    "exp.hold_released": ("已于 {time} 解除", "released at {time}"),
    "exp.actions": ("您可以进行的操作", "What you can do"),
    "exp.do_review": ("审核通过", "Pass the review"),
    "exp.do_return": ("退回（须填写理由）", "Return (a reason is needed)"),
    "exp.do_approve": ("批准", "Approve"),
    "exp.do_reject": ("不予批准（须填写理由）", "Reject (a reason is needed)"),
    "exp.reason_needed": (
        "退回和不予批准须填写理由；每一步都记入审计日志。",
        "Returning and rejecting need a reason; every step is in the audit log.",
    ),
    "exp.do_resubmit": ("重新提交", "Resubmit"),
    "exp.do_withdraw": ("撤回申请", "Withdraw the request"),
    "exp.do_deliver": ("登记交付", "Record the hand-over"),
    "exp.recipient": ("接收人", "Handed to"),
    "exp.method": ("交付方式", "How"),
    "exp.method_on_site": ("现场查看", "shown on site"),
    "exp.method_disc": ("光盘", "disc"),
    "exp.method_usb": ("U 盘", "USB drive"),
    "exp.method_network": ("政务网络", "government network"),
    "exp.do_view": ("现场查看录像", "View the footage on site"),
    "exp.view_audited": ("每次查看都记入审计日志。", "Every viewing is audited."),
    "exp.viewing": ("现场查看", "Viewing on site"),
    "exp.no_clips": ("该时段没有可播放的录像。", "No playable footage in the window."),
    "exp.back": ("返回导出申请列表", "Back to the export requests"),
    "exp.done_submitted": ("申请已提交，等待审核。", "The request is filed; it waits for review."),
    "exp.done_review": ("已审核通过，等待审批。", "Review passed; it waits for approval."),
    "exp.done_return": ("已退回申请人。", "Returned to the requester."),
    "exp.done_approve": ("已批准。", "Approved."),
    "exp.done_reject": ("已不予批准。", "Rejected."),
    "exp.done_withdraw": ("已撤回。", "Withdrawn."),
    "exp.done_resubmit": ("已重新提交，等待审核。", "Resubmitted; it waits for review."),
    "exp.done_deliver": ("已登记交付。", "The hand-over is recorded."),
    "exp.done_view": ("现场查看已记录。", "The viewing is recorded."),
    "lookup.request_export": ("申请导出", "Request export"),
    "dash.exports": ("导出申请", "Export requests"),
    "dash.exports_more": ("查看导出申请", "Open the export requests"),
    "users.permissions": ("导出权限", "Export permissions"),
    "users.permissions_hint": (
        "审核和审批须由不同的人进行，且不能是申请人；审计员不能被授予。",
        "Reviewer and approver are different people, never the requester; not for auditors.",
    ),
    "users.perm_export.review": ("审核导出申请", "review export requests"),
    "users.perm_export.approve": ("审批导出申请", "approve export requests"),
}

# The service's reasons for refusing a step (surveil.exports), by their English sentence.
# surveil.exports.REASONS in Chinese, by key (tests/test_exports_pages.py checks that every
# key has its sentence here).
EXPORT_REASONS_ZH: Final[dict[str, str]] = {
    "needs_review": "审核导出申请需要“审核导出申请”权限。",
    "own_review": "申请人不能审核自己的申请。",
    "needs_approve": "审批导出申请需要“审批导出申请”权限。",
    "own_approve": "申请人不能审批自己的申请。",
    "reviewer_approves": "审核人不能同时审批：须由第三人审批。",
    "not_requester": "只有申请人可以撤回或重新提交。",
    "not_deliverer": "交付录像须由窗口人员或管理员登记。",
    "not_viewer": "只有申请人可以进行现场查看。",
    "not_a_viewing": "该申请为复制，不是现场查看。",
    "viewing_expired": "现场查看的有效期已过。",
    "not_downloader": "只有申请人、审核人、审批人或管理员可以下载导出包。",
    "not_filer": "导出申请须由窗口人员或管理员提交。",
    "out_of_scope": "窗口 {counter} 不在您负责的窗口之内。",
}
# Sentences of the service's InvalidRecord refusals (no keys: they are field rules).
_EXPORT_REASONS: Final[dict[str, str]] = {
    "the window ends in the future: no footage exists there yet": "时段的结束时间晚于当前时刻。",
    "the window must end after it starts": "结束时间必须晚于开始时间。",
    "give a receipt number, or a counter with start and end": "请填写回执编号，或窗口和时段。",
}
_EXPORT_REASON_PATTERNS: Final = (
    (r"^a request may cover at most ([0-9.]+) hours$", "一次申请最多 {0} 小时。"),
    (r"^receipt '([^']*)' holds no footage", "回执 {0} 没有保留的录像（受理时窗口没有摄像机）。"),
    (r"^receipt '([^']*)' has no footage yet$", "回执 {0} 还没有录像。"),
    (r"^counter '([^']*)' has no camera$", "窗口 {0} 没有摄像机。"),
)

for _key, (_zh, _en) in _EXPORTS.items():
    CATALOG["zh"][_key] = _zh
    CATALOG["en"][_key] = _en


def export_refusal_text(
    lang: str,
    code: str,
    status: int,
    message: str,
    reason: str | None = None,
    values: Mapping[str, object] | None = None,
) -> str:
    """A refusal of the export workflow for people: a forbidden step by its reason key
    (surveil.exports.REASONS), a field rule by its sentence, in Chinese where the catalog
    knows it, else the code's text (English pages show the service's sentence)."""
    if lang == "zh":
        if reason is not None and reason in EXPORT_REASONS_ZH:
            return EXPORT_REASONS_ZH[reason].format(**(values or {}))
        if message in _EXPORT_REASONS:
            return _EXPORT_REASONS[message]
        for pattern, text in _EXPORT_REASON_PATTERNS:
            found = re.match(pattern, message)
            if found is not None:
                return text.format(*found.groups())
        return error_text(lang, code, status)
    if message:
        return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")
    return error_text(lang, code, status)
