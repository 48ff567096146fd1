"""The topic rules of `iot_rules/` evaluated as AWS IoT Core's rules engine does (SQL version
2016-03-23): which published MQTT messages a rule selects, and the event its Lambda action
hands to the device-events function.

Only the part of IoT SQL the rules use is understood: a SELECT list of string literals,
top-level payload fields, `encode(*, 'base64')`, `topic()`/`topic(n)`, `clientid()` and
`timestamp()`, each with `AS alias` (fields may keep their own name), and `FROM` a topic
filter with `+` and `#`. Anything else raises UnsupportedSql, so that a rule needing more
is noticed here rather than evaluated wrongly.

As in IoT Core, an expression whose value is undefined (a field the payload lacks, a payload
that is not a JSON object, a topic level past the end) leaves its key out of the event.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

RULES_DIRECTORY = Path(__file__).resolve().parents[2] / "iot_rules"
SQL_VERSION = "2016-03-23"
# What clientid() answers for a message that did not come from an MQTT client, such as the
# lifecycle events the broker publishes itself.
NOT_MQTT = "n/a"
KEYWORDS = frozenset({"SELECT", "FROM", "AS", "WHERE"})

_TOKEN = re.compile(
    r"(?P<string>'[^']*')|(?P<number>\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<symbol>[*(),])"
)


class UnsupportedSql(ValueError):  # noqa: N818 - named for what the reader is told
    """A rule's SQL or topic filter goes beyond what this evaluator understands."""


class _Undefined:
    """IoT SQL's Undefined: the key is left out of the result."""


UNDEFINED = _Undefined()


@dataclass(frozen=True)
class Message:
    """One MQTT message as the broker hands it to the rules engine. `client_id` is None
    for messages the broker publishes itself."""

    topic: str
    client_id: str | None
    payload: bytes
    now: int  # epoch milliseconds when the rules engine received it

    def document(self) -> Mapping[str, Any] | None:
        """The payload as a JSON object, if it is one."""
        try:
            parsed = json.loads(self.payload.decode())
        except (UnicodeDecodeError, ValueError):
            return None
        return parsed if isinstance(parsed, dict) else None


Expression = Callable[[Message], Any]


@dataclass(frozen=True)
class Column:
    name: str
    value: Expression


@dataclass(frozen=True)
class TopicRule:
    """A rule as defined in `iot_rules/<name>.json`, its SQL parsed."""

    name: str
    sql: str
    topic_filter: str
    columns: tuple[Column, ...]
    definition: Mapping[str, Any]


def parse_rule(definition: Mapping[str, Any]) -> TopicRule:
    """A rule from its JSON definition (`name`, `sql`, `sqlVersion`, ...)."""
    version = definition.get("sqlVersion")
    if version != SQL_VERSION:
        raise UnsupportedSql(f"sqlVersion {version!r}: only {SQL_VERSION} is understood")
    sql = definition["sql"]
    columns, topic_filter = _Parser(sql).query()
    return TopicRule(
        name=str(definition["name"]),
        sql=sql,
        topic_filter=topic_filter,
        columns=columns,
        definition=definition,
    )


def load_rules(directory: Path = RULES_DIRECTORY) -> list[TopicRule]:
    """Every rule defined in `directory` (the samples beside them are not rules)."""
    return [parse_rule(json.loads(path.read_text())) for path in sorted(directory.glob("*.json"))]


def evaluate(
    rule: TopicRule, topic: str, client_id: str | None, payload: bytes, now: int
) -> dict[str, Any] | None:
    """The event `rule` produces for a message published on `topic` by `client_id`, received
    at `now` (epoch ms); None when the rule's topic filter does not match the topic."""
    _check_topic(topic)
    if not topic_matches(rule.topic_filter, topic):
        return None
    message = Message(topic, client_id, payload, now)
    event: dict[str, Any] = {}
    for column in rule.columns:
        value = column.value(message)
        if value is not UNDEFINED:
            event[column.name] = value
    return event


def events(
    rules: Iterable[TopicRule], topic: str, client_id: str | None, payload: bytes, now: int
) -> list[tuple[TopicRule, dict[str, Any]]]:
    """Every rule the message triggers, with the event each produces."""
    produced = []
    for rule in rules:
        event = evaluate(rule, topic, client_id, payload, now)
        if event is not None:
            produced.append((rule, event))
    return produced


def topic_matches(topic_filter: str, topic: str) -> bool:
    """MQTT matching: `+` is one level (possibly empty), `#` the rest (including its parent
    level); a filter starting with a wildcard does not match topics starting with `$`."""
    _check_filter(topic_filter)
    if topic.startswith("$") and topic_filter[0] in "+#":
        return False
    wanted = topic_filter.split("/")
    levels = topic.split("/")
    for index, level in enumerate(wanted):
        if level == "#":
            return True
        if index >= len(levels) or level not in ("+", levels[index]):
            return False
    return len(wanted) == len(levels)


def _check_filter(topic_filter: str) -> None:
    if not topic_filter:
        raise UnsupportedSql("the topic filter is empty")
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            raise UnsupportedSql(f"topic filter {topic_filter!r}: # must be the whole last level")
        if "+" in level and level != "+":
            raise UnsupportedSql(f"topic filter {topic_filter!r}: + must be a whole level")


def _check_topic(topic: str) -> None:
    if not topic or "+" in topic or "#" in topic:
        raise ValueError(f"{topic!r} is not a topic a message can be published on")


# The SQL


@dataclass(frozen=True)
class _Token:
    kind: str  # string, number, name, symbol, end
    text: str
    at: int


def _tokens(sql: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = _skip_space(sql, 0)
    while position < len(sql):
        match = _TOKEN.match(sql, position)
        if match is None or match.lastgroup is None:
            raise UnsupportedSql(f"{sql!r} at {position}: cannot read {sql[position:][:20]!r}")
        tokens.append(_Token(match.lastgroup, match.group(), position))
        position = _skip_space(sql, match.end())
    tokens.append(_Token("end", "", len(sql)))
    return tokens


def _skip_space(sql: str, position: int) -> int:
    while position < len(sql) and sql[position].isspace():
        position += 1
    return position


def _literal(value: Any) -> Expression:
    return lambda _message: value


def _field(name: str) -> Expression:
    def read(message: Message) -> Any:
        document = message.document()
        if document is None:
            return UNDEFINED
        return document.get(name, UNDEFINED)

    return read


def _base64_payload(message: Message) -> str:
    return base64.b64encode(message.payload).decode()


def _whole_topic(message: Message) -> str:
    return message.topic


def _topic_level(number: int) -> Expression:
    def read(message: Message) -> Any:
        levels = message.topic.split("/")
        return levels[number - 1] if number <= len(levels) else UNDEFINED

    return read


def _client_id(message: Message) -> str:
    return message.client_id if message.client_id is not None else NOT_MQTT


def _timestamp(message: Message) -> int:
    return message.now


STAR = "*"


class _Parser:
    """`SELECT column, ... FROM 'filter'`, nothing more."""

    def __init__(self, sql: str) -> None:
        self._sql = sql
        self._tokens = _tokens(sql)
        self._next = 0

    def query(self) -> tuple[tuple[Column, ...], str]:
        self._keyword("SELECT")
        columns = [self._column()]
        while self._accept(","):
            columns.append(self._column())
        names = [column.name for column in columns]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise UnsupportedSql(f"{self._sql!r}: columns named twice: {', '.join(duplicates)}")
        self._keyword("FROM")
        topic_filter = self._string()
        _check_filter(topic_filter)
        if self._peek().kind != "end":
            self._fail("nothing may follow the FROM clause (WHERE is not understood)")
        return tuple(columns), topic_filter

    def _column(self) -> Column:
        token = self._take()
        if token.kind == "string":
            return Column(self._alias(required=True), _literal(token.text[1:-1]))
        if token.kind == "name" and token.text.upper() not in KEYWORDS:
            if self._accept("("):
                value = self._call(token)
                return Column(self._alias(required=True), value)
            alias = self._alias(required=False)
            return Column(alias or token.text, _field(token.text))
        return self._fail(f"a column cannot start with {token.text or 'the end'!r}", token)

    def _call(self, function: _Token) -> Expression:
        arguments: list[_Token] = []
        if not self._accept(")"):
            arguments.append(self._take())
            while self._accept(","):
                arguments.append(self._take())
            self._expect(")")
        shape = [(a.kind, a.text) for a in arguments]
        name = function.text
        if name == "encode" and shape == [("symbol", STAR), ("string", "'base64'")]:
            return _base64_payload
        if name == "topic" and not shape:
            return _whole_topic
        if name == "topic" and len(shape) == 1 and shape[0][0] == "number":
            number = int(shape[0][1])
            if number >= 1:
                return _topic_level(number)
        if name == "clientid" and not shape:
            return _client_id
        if name == "timestamp" and not shape:
            return _timestamp
        written = ", ".join(text for _, text in shape)
        return self._fail(f"{name}({written}) is not understood", function)

    def _alias(self, *, required: bool) -> str:
        if self._peek().kind == "name" and self._peek().text.upper() == "AS":
            self._take()
            token = self._take()
            if token.kind != "name" or token.text.upper() in KEYWORDS:
                self._fail("AS needs a name", token)
            return token.text
        if required:
            self._fail("this column needs AS <name>")
        return ""

    def _keyword(self, word: str) -> None:
        token = self._take()
        if token.kind != "name" or token.text.upper() != word:
            self._fail(f"{word} expected", token)

    def _string(self) -> str:
        token = self._take()
        if token.kind != "string":
            self._fail("a quoted topic filter expected", token)
        return token.text[1:-1]

    def _accept(self, symbol: str) -> bool:
        if self._peek().kind == "symbol" and self._peek().text == symbol:
            self._next += 1
            return True
        return False

    def _expect(self, symbol: str) -> None:
        if not self._accept(symbol):
            self._fail(f"{symbol!r} expected")

    def _peek(self) -> _Token:
        return self._tokens[self._next]

    def _take(self) -> _Token:
        token = self._tokens[self._next]
        if token.kind != "end":
            self._next += 1
        return token

    def _fail(self, problem: str, token: _Token | None = None) -> NoReturn:
        at = (token or self._peek()).at
        raise UnsupportedSql(f"{self._sql!r} at {at}: {problem}")
