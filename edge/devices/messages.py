"""The Chinese texts people see for device conditions, in one place (STYLE 12).

Keys are stable codes used by errors and health; the kiosk may override them from its own catalogue.
"""

from __future__ import annotations

__all__ = ["MESSAGES", "text"]

MESSAGES: dict[str, str] = {
    "device_error": "设备故障，请联系工作人员",
    "no_device": "读卡设备未连接，请联系工作人员",
    "not_responding": "设备无响应，请联系工作人员",
    "frame_corrupted": "设备通信出错，请重新放卡",
    "sam_failed": "读卡器安全模块自检失败，请联系工作人员",
    "protocol_error": "设备应答异常，请联系工作人员",
    "read_failed": "读卡失败，请拿起证件重新放好",
    "no_card": "未检测到卡片，请把证件放在读卡区",
    "card_refused": "此卡无法使用，请到窗口办理",
    "printer_not_ready": "打印机暂不可用，请联系工作人员",
    "paper_out": "打印机缺纸，请联系工作人员",
    "cover_open": "打印机盖未关好，请联系工作人员",
    "printer_error": "打印机故障，请联系工作人员",
    "printer_offline": "打印机未连接，请联系工作人员",
    "refused_id_number": "证件号码无效：{reason}，请到窗口办理",
    "refused_birth_mismatch": "证件信息不一致（出生日期与号码不符），请到窗口办理",
    "refused_unreadable": "证件信息无法识别，请到窗口办理",
}


def text(code: str, **fields: str) -> str:
    """The message for ``code`` with ``fields`` filled in; an unknown code falls back to a generic text."""
    template = MESSAGES.get(code, MESSAGES["device_error"])
    return template.format(**fields) if fields else template
