"""The IoT SQL evaluator the device-event tests route messages with: it reproduces each rule's
sample event from the sample message, matches topics as MQTT does, and refuses SQL it does
not understand."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.iot_sql import (
    NOT_MQTT,
    RULES_DIRECTORY,
    SQL_VERSION,
    TopicRule,
    UnsupportedSql,
    evaluate,
    events,
    load_rules,
    parse_rule,
    topic_matches,
)

RULES = load_rules()
SAMPLES = sorted((RULES_DIRECTORY / "samples").glob("*.json"))
NOW = 1_795_000_000_042


def rule(sql: str) -> TopicRule:
    return parse_rule({"name": "test_rule", "sql": sql, "sqlVersion": SQL_VERSION})


def compact(document: Any) -> bytes:
    """JSON as a device library serialises it: no spaces."""
    return json.dumps(document, separators=(",", ":")).encode()


# The rules of iot_rules/ and their samples


def test_every_rule_has_a_sample_and_routes_on_a_kind() -> None:
    assert [r.definition["name"] for r in RULES] == [r.name for r in RULES]
    assert sorted(p.name for p in SAMPLES) == sorted(p.name for p in RULES_DIRECTORY.glob("*.json"))
    assert {r.columns[0].name for r in RULES} == {"kind"}


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda path: path.stem)
def test_each_sample_event_is_what_its_rule_makes_of_its_message(sample: Path) -> None:
    document = json.loads(sample.read_text())
    message, expected = document["message"], document["event"]
    # The receive time is the rules engine's: fixed to the sample's where the event shows it.
    now = expected.get("receivedAt", NOW)
    produced = events(
        RULES, message["topic"], message["clientId"], compact(message["payload"]), now
    )
    [(matched, event)] = produced
    assert matched.definition == json.loads((RULES_DIRECTORY / sample.name).read_text())
    assert event == expected
    assert list(event) == list(expected)  # in SELECT order


def test_the_payload_travels_as_published_even_when_it_is_not_json() -> None:
    (telemetry,) = (r for r in RULES if r.name == "idnode_telemetry")
    raw = b"\xff\x00temperature=71.5"
    event = evaluate(telemetry, "idnode/devices/d-1/telemetry", "d-1", raw, NOW)
    assert event is not None
    assert base64.b64decode(event["payload"]) == raw
    assert event == {
        "kind": "telemetry",
        "payload": event["payload"],
        "device": "d-1",
        "clientId": "d-1",
        "receivedAt": NOW,
    }


def test_a_presence_payload_without_a_field_leaves_its_key_out() -> None:
    (presence,) = (r for r in RULES if r.name == "idnode_presence")
    topic = "$aws/events/presence/connected/d-1"
    partial = evaluate(presence, topic, None, compact({"clientId": "d-1"}), NOW)
    assert partial == {"kind": "presence", "clientId": "d-1"}
    for not_an_object in (b"not json", compact([1, 2]), compact("d-1")):
        assert evaluate(presence, topic, None, not_an_object, NOW) == {"kind": "presence"}


@pytest.mark.parametrize(
    ("topic", "rules"),
    [
        ("idnode/devices/d-1/telemetry", ["idnode_telemetry"]),
        ("idnode/devices/d-1/responses/c-1", ["idnode_command_responses"]),
        ("$aws/events/presence/connected/d-1", ["idnode_presence"]),
        ("$aws/events/presence/disconnected/d-1", ["idnode_presence"]),
        ("idnode/devices/d-1/commands/c-1", []),
        ("idnode/devices/d-1/telemetry/extra", []),
        ("idnode/devices/d-1/responses", []),
        ("idnode/devices/d-1/responses/c-1/extra", []),
        ("idnode/devices/telemetry", []),
        ("Idnode/devices/d-1/telemetry", []),
        ("$aws/things/d-1/shadow/update", []),
        ("$aws/events/subscriptions/subscribed/d-1", []),
        ("$aws/events/presence/connected", []),
    ],
)
def test_which_rules_a_topic_triggers(topic: str, rules: list[str]) -> None:
    produced = events(RULES, topic, "d-1", compact({"values": {}}), NOW)
    assert [r.name for r, _ in produced] == rules


# The SQL subset


def test_fields_functions_and_literals() -> None:
    query = rule(
        "select 'x' as kind, eventType, clientId AS who, topic() AS topic, topic(2) AS second, "
        "topic(9) AS ninth, clientid() AS client, timestamp() AS at FROM 'a/+/#'"
    )
    payload = compact({"eventType": "connected", "clientId": "d-2", "other": 1})
    assert evaluate(query, "a/b/c", "d-1", payload, NOW) == {
        "kind": "x",
        "eventType": "connected",
        "who": "d-2",
        "topic": "a/b/c",
        "second": "b",
        "client": "d-1",
        "at": NOW,
    }


def test_a_message_from_no_mqtt_client_has_no_client_id() -> None:
    query = rule("SELECT clientid() AS client FROM '$aws/events/#'")
    assert evaluate(query, "$aws/events/presence/connected/d-1", None, b"{}", NOW) == {
        "client": NOT_MQTT
    }


def test_json_null_is_kept_and_field_names_are_case_sensitive() -> None:
    query = rule("SELECT status, Status AS other FROM 'a'")
    assert evaluate(query, "a", "d-1", compact({"status": None}), NOW) == {"status": None}


@given(st.binary(max_size=512))
def test_encode_carries_any_payload(payload: bytes) -> None:
    query = rule("SELECT encode(*, 'base64') AS payload FROM 'a/b'")
    event = evaluate(query, "a/b", "d-1", payload, NOW)
    assert event is not None
    assert base64.b64decode(event["payload"], validate=True) == payload


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM 'a'",
        "SELECT 'x' AS kind FROM 'a' WHERE eventType = 'connected'",
        "SELECT state.reported AS reported FROM 'a'",
        "SELECT upper(clientId) AS who FROM 'a'",
        "SELECT encode(*, 'hex') AS payload FROM 'a'",
        "SELECT encode(payload, 'base64') AS payload FROM 'a'",
        "SELECT topic(0) AS level FROM 'a'",
        "SELECT topic('1') AS level FROM 'a'",
        "SELECT clientid(1) AS client FROM 'a'",
        "SELECT 'x' FROM 'a'",
        "SELECT timestamp() FROM 'a'",
        "SELECT 1 AS one FROM 'a'",
        "SELECT \"x\" AS kind FROM 'a'",
        "SELECT 'x AS kind FROM 'a'",
        "SELECT 'x' AS kind, 'y' AS kind FROM 'a'",
        "SELECT 'x' AS FROM 'a'",
        "SELECT 'x' AS kind",
        "SELECT 'x' AS kind FROM a",
        "SELECT FROM 'a'",
        "SELECT 'x' AS kind FROM 'a/#/b'",
        "SELECT 'x' AS kind FROM 'a/b+'",
        "SELECT 'x' AS kind FROM ''",
        "SELECT 'x' AS kind FROM 'a' 'b'",
        "SELECT 'x' AS kind; FROM 'a'",
        "SELECT topic(1 AS level FROM 'a'",
        "INSERT 'x' AS kind FROM 'a'",
    ],
)
def test_sql_beyond_the_subset_is_refused(sql: str) -> None:
    with pytest.raises(UnsupportedSql):
        rule(sql)


def test_other_sql_versions_are_refused() -> None:
    definition = {"name": "r", "sql": "SELECT 'x' AS kind FROM 'a'", "sqlVersion": "2015-10-08"}
    with pytest.raises(UnsupportedSql, match="sqlVersion"):
        parse_rule(definition)


def test_a_topic_with_wildcards_cannot_be_published_on() -> None:
    query = rule("SELECT 'x' AS kind FROM '#'")
    for topic in ("a/+", "a/#", ""):
        with pytest.raises(ValueError, match="not a topic"):
            evaluate(query, topic, "d-1", b"{}", NOW)


# Topic filters


@pytest.mark.parametrize(
    ("topic_filter", "topic", "matches"),
    [
        ("a/+/c", "a/b/c", True),
        ("a/+/c", "a//c", True),
        ("a/+/c", "a/b/d", False),
        ("a/+/c", "a/b/c/d", False),
        ("a/+/c", "a/b", False),
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("a/#", "ab", False),
        ("#", "a/b", True),
        ("+", "a", True),
        ("+", "a/b", False),
        ("#", "$aws/events", False),
        ("+/events", "$aws/events", False),
        ("$aws/events/presence/+/+", "$aws/events/presence/connected/d-1", True),
        ("$aws/events/presence/+/+", "$aws/events/presence/connected", False),
        ("a/b", "a/B", False),
    ],
)
def test_topic_filters_match_as_in_mqtt(topic_filter: str, topic: str, matches: bool) -> None:
    assert topic_matches(topic_filter, topic) is matches


_LEVEL = st.text(alphabet="abcd-_0", min_size=1, max_size=4)


@given(st.lists(_LEVEL, min_size=1, max_size=6), st.data())
def test_a_filter_made_from_a_topic_matches_it(levels: list[str], data: st.DataObject) -> None:
    topic = "/".join(levels)
    wild = data.draw(st.lists(st.booleans(), min_size=len(levels), max_size=len(levels)))
    pattern = ["+" if w else level for level, w in zip(levels, wild, strict=True)]
    assert topic_matches("/".join(pattern), topic)
    cut = data.draw(st.integers(0, len(levels)))
    assert topic_matches("/".join([*pattern[:cut], "#"]), topic)
    assert not topic_matches("/".join([*pattern, "extra"]), topic)
    changed = data.draw(st.integers(0, len(levels) - 1))
    other = list(pattern)
    other[changed] = levels[changed] + "x"
    assert not topic_matches("/".join(other), topic)
