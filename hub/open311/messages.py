"""What partners (and the operators behind them) read from the Open311 side, in one place."""

from __future__ import annotations

__all__ = ["ERRORS", "NOTICES"]

ERRORS = {
    "no_key": "需要合作方 api_key（api_key required）",
    "bad_key": "api_key 无效或已停用（invalid or revoked api_key）",
    "no_service": "没有事项 {code}（service_code not found）",
    "service_missing": "缺少 service_code（service_code required）",
    "not_online": "事项 {code} 不可网上申请，请到社区事务受理服务中心或居委会办理（not allowed online）",
    "no_request": "没有请求 {id}（service_request_id not found）",
    "name": "请填写来电人姓名 last_name/first_name（caller's name required）",
    "id_number": "来电人身份证号码有误（invalid id_number）",
    "required": "缺少必填项 attribute[{code}]（required attribute missing）",
    "choice": "attribute[{code}] 不是可选值之一（not one of the values）",
    "number": "attribute[{code}] 须为数字（must be a number）",
    "date": "attribute[{code}] 须为日期 YYYY-MM-DD（must be a date）",
    "phone": "phone 须为11位手机号码（must be a mainland mobile number）",
    "too_long": "{field} 过长（too long）",
    "date_param": "{param} 须为 W3C 日期时间，如 2026-12-01T00:00:00+08:00（must be a W3C datetime）",
    "range": "start_date 到 end_date 不能超过90天（range over 90 days）",
    "status": "status 只能是 open 或 closed（open or closed）",
    "format": "格式只能是 .json 或 .xml（json or xml only）",
    "not_found": "没有这个地址（not found）",
}

NOTICES = {
    "created": "已转社区事务受理服务中心{department}办理，承诺办结日期 {due}。",
    "created_no_due": "已转社区事务受理服务中心{department}办理。",
    "materials_attr": "来电人已备齐的材料",
    "id_number_description": "18位居民身份证号码",
    "contact": "社区事务受理服务中心",
}
