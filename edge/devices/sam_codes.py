"""GA 467 SAM codes: the host commands (CMD PARA), the UART rates of ``60 xx``, and SW3 statuses."""

from __future__ import annotations

import enum

__all__ = ["SET_BAUD_CMD", "STATUS_TEXT", "UNKNOWN_STATUS_TEXT", "Baud", "Command", "Status"]


class Command(tuple[int, int], enum.Enum):
    """(CMD, PARA) of the host commands."""

    RESET_SAM = (0x10, 0xFF)
    SAM_STATUS = (0x11, 0xFF)
    READ_SAM_ID = (0x12, 0xFF)
    FIND_CARD = (0x20, 0x01)
    SELECT_CARD = (0x20, 0x02)
    READ_BASE = (0x30, 0x01)
    READ_ADDRESS = (0x30, 0x03)
    READ_WITH_FINGERPRINT = (0x30, 0x10)


class Baud(enum.IntEnum):
    """PARA of command ``60 xx`` (change the UART rate) for each rate."""

    B115200 = 0x00
    B57600 = 0x01
    B38400 = 0x02
    B19200 = 0x03
    B9600 = 0x04

    @property
    def rate(self) -> int:
        return int(self.name[1:])


SET_BAUD_CMD = 0x60


class Status(enum.IntEnum):
    """SW3: the SAM's status byte."""

    OK = 0x90
    ITEM_ABSENT = 0x91
    CARD_FOUND = 0x9F
    CHECKSUM_ERROR = 0x10
    LENGTH_ERROR = 0x11
    COMMAND_ERROR = 0x21
    UNAUTHORISED = 0x23
    UNKNOWN_ERROR = 0x24
    CARD_AUTH_SAM_FAILED = 0x31
    SAM_AUTH_CARD_FAILED = 0x32
    INFO_CHECK_FAILED = 0x33
    FINGERPRINT_ERROR = 0x37
    INFO_LENGTH_ERROR = 0x3F
    UNKNOWN_CARD_TYPE = 0x40
    READ_FAILED = 0x41
    RANDOM_NUMBER_ERROR = 0x47
    SAM_SELF_TEST_FAILED = 0x60
    SAM_NOT_AUTHORISED = 0x66
    NO_CARD = 0x80
    SELECT_FAILED = 0x81


UNKNOWN_STATUS_TEXT = "未知状态"
"""The reference's words for a status code it does not list."""

STATUS_TEXT: dict[Status, str] = {
    Status.OK: "操作成功",
    Status.ITEM_ABSENT: "证/卡中此项无内容",
    Status.CARD_FOUND: "寻找证/卡成功",
    Status.CHECKSUM_ERROR: "接收业务终端数据的校验和错",
    Status.LENGTH_ERROR: "接收业务终端数据的长度错",
    Status.COMMAND_ERROR: "接收业务终端的命令错误",
    Status.UNAUTHORISED: "越权操作",
    Status.UNKNOWN_ERROR: "无法识别的错误",
    Status.CARD_AUTH_SAM_FAILED: "证/卡认证机具失败",
    Status.SAM_AUTH_CARD_FAILED: "机具认证证/卡失败",
    Status.INFO_CHECK_FAILED: "信息验证错误",
    Status.FINGERPRINT_ERROR: "指纹信息验证错误",
    Status.INFO_LENGTH_ERROR: "信息长度错误",
    Status.UNKNOWN_CARD_TYPE: "无法识别的证/卡类型",
    Status.READ_FAILED: "读证/卡操作失败",
    Status.RANDOM_NUMBER_ERROR: "取随机数失败",
    Status.SAM_SELF_TEST_FAILED: "SAM自检失败，不能接收命令",
    Status.SAM_NOT_AUTHORISED: "SAM未经授权，无法使用",
    Status.NO_CARD: "寻找证/卡失败",
    Status.SELECT_FAILED: "选取证/卡失败",
}
