"""A terminal of the release before takes what a newer hub sends (the hub is upgraded first): an upgrade
review found a terminal a day old refusing every status change once the hub began tagging events, so its
residents saw 已提交 for cases the centre had accepted. Here a bare MQTT client plays a hub of a release to
come, sending a real terminal a status change with fields no release has yet."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edge.store.cases import NewCase
from protocol import topics
from protocol.cases import CaseEvent, CaseEvents, CaseEventsBody, CaseStatus
from tests.support import applicant, wait_for


def test_a_status_change_with_fields_the_terminal_does_not_know_is_taken(broker, edge_factory):
    edge = edge_factory("T1")
    case = edge.cases.submit(NewCase(item_code="JB-001", applicant=applicant(1)))
    edge.start_sync()
    wait_for(edge.agent.connected_event.is_set, what="terminal online")
    event = CaseEvent(
        event_id=1,
        case_id=case.case_id,
        version=2,
        status=CaseStatus.ACCEPTED,
        at=datetime.now(UTC),
        note="已受理",
        tag="0" * 64,
    )
    raw = json.loads(CaseEvents(terminal="T1", body=CaseEventsBody(events=[event])).encode())
    raw["body"]["events"][0]["handled_by"] = {"department": "MZ", "window": 3}  # a release to come
    hub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="newer-hub", protocol=MQTTProtocolVersion.MQTTv5)
    hub.connect("127.0.0.1", broker.port)
    hub.loop_start()
    try:
        hub.publish(topics.down("T1", topics.Down.EVENTS), json.dumps(raw).encode(), qos=1).wait_for_publish(10)
        wait_for(
            lambda: (edge.cases.get(str(case.case_id)) or {}).get("status") == "accepted",
            what="the terminal showing the case accepted",
        )
        assert (edge.cases.get(str(case.case_id)) or {}).get("status_note") == "已受理"
    finally:
        hub.loop_stop()
        hub.disconnect()
