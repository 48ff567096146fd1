"""Device profiles: typed metrics and alarm rules, and every rule that keeps a profile sound."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idnode.domain.devices import (
    MAX_ALARM_RULES,
    MAX_METRICS,
    AlarmRule,
    Comparison,
    DeviceProfile,
    Metric,
    MetricType,
    Severity,
    build_profile,
)
from idnode.domain.errors import InvalidValueError

TEMPERATURE = Metric("temperature", MetricType.NUMBER, "°C", -50.0, 150.0)
RPM = Metric("rpm", MetricType.INTEGER, "1/min", 0, 6000)
RUNNING = Metric("running", MetricType.BOOLEAN)
OVERHEAT = AlarmRule("overheat", "temperature", Comparison.GT, 90.0, 60, Severity.MAJOR)


def profile(
    metrics: list[Metric] | None = None,
    rules: list[AlarmRule] | None = None,
    *,
    name: str = "pump",
    description: str = "Centrifugal pump",
) -> DeviceProfile:
    return build_profile(
        "ent-1",
        name,
        description,
        [TEMPERATURE, RPM, RUNNING] if metrics is None else metrics,
        [OVERHEAT] if rules is None else rules,
        version=1,
        created_at=1_000,
        updated_at=1_000,
    )


def test_a_profile_keeps_its_metrics_and_rules_in_order() -> None:
    built = profile()
    assert built.metrics == (TEMPERATURE, RPM, RUNNING)
    assert built.alarm_rules == (OVERHEAT,)
    assert (built.enterprise, built.name, built.version) == ("ent-1", "pump", 1)
    assert built.metric("rpm") is RPM
    assert built.metric("pressure") is None


def test_profiles_compare_by_their_fields_and_survive_replace() -> None:
    assert profile() == profile()
    assert hash(profile()) == hash(profile())
    changed = replace(profile(), metrics=(RUNNING,), alarm_rules=())
    assert changed.metric("running") is RUNNING
    assert changed.metric("temperature") is None
    assert changed != profile()


def test_a_profile_without_alarm_rules_is_allowed() -> None:
    assert profile(rules=[]).alarm_rules == ()


def test_the_limits_themselves_are_allowed() -> None:
    metrics = [Metric(f"m{i}", MetricType.NUMBER) for i in range(MAX_METRICS)]
    rules = [
        AlarmRule(f"r{i}", "m0", Comparison.GE, 1.0, 86_400, Severity.WARNING)
        for i in range(MAX_ALARM_RULES)
    ]
    built = profile(metrics, rules, name="a" * 63, description="d" * 500)
    assert len(built.metrics) == MAX_METRICS
    assert len(built.alarm_rules) == MAX_ALARM_RULES
    assert profile([Metric("level", MetricType.NUMBER, "u" * 32, 5.0, 5.0)], []).metrics


def _metric(**changes: object) -> list[Metric]:
    return [replace(TEMPERATURE, **changes), RPM, RUNNING]  # type: ignore[arg-type]


def _rule(**changes: object) -> list[AlarmRule]:
    return [replace(OVERHEAT, **changes)]  # type: ignore[arg-type]


INVALID = [
    pytest.param({"name": "Pump"}, "name: 'Pump'", id="uppercase-name"),
    pytest.param({"name": "-pump"}, "name: '-pump'", id="leading-hyphen"),
    pytest.param({"name": "a" * 64}, "name: 'aaaa", id="long-name"),
    pytest.param({"name": ""}, "name: ''", id="empty-name"),
    pytest.param({"name": "pump\n"}, "name: 'pump\\n'", id="trailing-newline"),
    pytest.param({"description": "d" * 501}, "description: 501 characters", id="description"),
    pytest.param({"metrics": []}, "metrics: 0 given", id="no-metrics"),
    pytest.param(
        {"metrics": [Metric(f"m{i}", MetricType.NUMBER) for i in range(51)], "rules": []},
        "metrics: 51 given",
        id="too-many-metrics",
    ),
    pytest.param({"metrics": _metric(name="1st")}, "metrics[0].name: '1st'", id="metric-name"),
    pytest.param({"metrics": _metric(name="t\n")}, "metrics[0].name: 't\\n'", id="metric-eol"),
    pytest.param(
        {"metrics": _metric(name="a" * 65)}, "metrics[0].name: 'aaa", id="long-metric-name"
    ),
    pytest.param(
        {"metrics": [TEMPERATURE, RPM, replace(RPM, unit="")]},
        "metrics[2].name: 'rpm' is defined twice",
        id="duplicate-metric",
    ),
    pytest.param({"metrics": _metric(unit="u" * 33)}, "metrics[0].unit: 'uuu", id="long-unit"),
    pytest.param({"metrics": _metric(unit="a\nb")}, "metrics[0].unit: 'a\\nb'", id="unit-newline"),
    pytest.param(
        {"metrics": _metric(minimum=10.0, maximum=5.0)},
        "metrics[0].minimum: 10.0 is above the maximum 5.0",
        id="min-above-max",
    ),
    pytest.param(
        {"metrics": _metric(minimum=math.nan)}, "metrics[0].minimum: nan", id="nan-minimum"
    ),
    pytest.param(
        {"metrics": _metric(maximum=math.inf)}, "metrics[0].maximum: inf", id="inf-maximum"
    ),
    pytest.param(
        {"metrics": _metric(maximum=1e300)}, "metrics[0].maximum: 1e+300", id="huge-maximum"
    ),
    pytest.param({"rules": _rule(threshold=1e-300)}, "alarmRules[0].threshold: 1e-300", id="tiny"),
    pytest.param({"rules": _rule(threshold=10**400)}, "alarmRules[0].threshold: 1000", id="huge"),
    pytest.param(
        {"metrics": _metric(minimum=True)}, "metrics[0].minimum: True", id="boolean-minimum"
    ),
    pytest.param(
        {"metrics": [TEMPERATURE, RPM, replace(RUNNING, maximum=1.0)]},
        "metrics[2]: a boolean metric has no minimum or maximum",
        id="boolean-range",
    ),
    pytest.param(
        {"metrics": _metric(type="number")}, "metrics[0].type: 'number'", id="untyped-type"
    ),
    pytest.param(
        {
            "rules": [
                AlarmRule(f"r{i}", "rpm", Comparison.GT, 1.0, 0, Severity.MINOR) for i in range(21)
            ]
        },
        "alarmRules: 21 given",
        id="too-many-rules",
    ),
    pytest.param({"rules": _rule(name="over heat")}, "alarmRules[0].name: 'over heat'", id="rn"),
    pytest.param(
        {"rules": [OVERHEAT, replace(OVERHEAT, metric="rpm")]},
        "alarmRules[1].name: 'overheat' is defined twice",
        id="duplicate-rule",
    ),
    pytest.param(
        {"rules": _rule(metric="pressure")},
        "alarmRules[0].metric: 'pressure' is not a metric of the profile",
        id="unknown-metric",
    ),
    pytest.param(
        {"rules": _rule(metric="running")},
        "alarmRules[0].metric: 'running' is a boolean metric",
        id="boolean-metric",
    ),
    pytest.param(
        {"rules": _rule(threshold=math.nan)}, "alarmRules[0].threshold: nan", id="nan-threshold"
    ),
    pytest.param(
        {"rules": _rule(threshold=-math.inf)},
        "alarmRules[0].threshold: -inf",
        id="inf-threshold",
    ),
    pytest.param(
        {"rules": _rule(duration_seconds=-1)},
        "alarmRules[0].durationSeconds: -1 must be between 0 and 86400",
        id="negative-duration",
    ),
    pytest.param(
        {"rules": _rule(duration_seconds=86_401)},
        "alarmRules[0].durationSeconds: 86401",
        id="long-duration",
    ),
    pytest.param(
        {"rules": _rule(duration_seconds=1.5)},
        "alarmRules[0].durationSeconds: 1.5 is not a whole number",
        id="fractional-duration",
    ),
    pytest.param(
        {"rules": _rule(comparison=">")}, "alarmRules[0].comparison: '>'", id="raw-comparison"
    ),
    pytest.param(
        {"rules": _rule(severity="major")}, "alarmRules[0].severity: 'major'", id="raw-severity"
    ),
]


@pytest.mark.parametrize(("arguments", "message"), INVALID)
def test_an_unsound_profile_is_refused_naming_the_field(
    arguments: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidValueError) as raised:
        profile(**arguments)  # type: ignore[arg-type]
    assert raised.value.message.startswith(message)


@pytest.mark.parametrize(
    ("comparison", "holds"),
    [
        (Comparison.GT, (False, False, True)),
        (Comparison.GE, (False, True, True)),
        (Comparison.LT, (True, False, False)),
        (Comparison.LE, (True, True, False)),
        (Comparison.EQ, (False, True, False)),
        (Comparison.NE, (True, False, True)),
    ],
)
def test_comparisons_hold_below_at_and_above_the_threshold(
    comparison: Comparison, holds: tuple[bool, bool, bool]
) -> None:
    assert tuple(comparison.holds(value, 10.0) for value in (9.5, 10.0, 10.5)) == holds


metric_names = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,10}", fullmatch=True)
# What a profile may hold: 0 or magnitudes DynamoDB can store.
bounds = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).filter(
    lambda x: x == 0 or abs(x) >= 1e-100
)


@st.composite
def metric_lists(draw: st.DrawFn) -> list[Metric]:
    names = draw(st.lists(metric_names, min_size=1, max_size=8, unique=True))
    metrics = []
    for name in names:
        kind = draw(st.sampled_from(MetricType))
        if kind is MetricType.BOOLEAN:
            metrics.append(Metric(name, kind))
            continue
        low, high = sorted(draw(st.tuples(bounds, bounds)))
        metrics.append(
            Metric(
                name,
                kind,
                draw(st.text(max_size=4).filter(str.isprintable)),
                draw(st.sampled_from([None, low])),
                draw(st.sampled_from([None, high])),
            )
        )
    return metrics


@settings(max_examples=100)
@given(metrics=metric_lists(), data=st.data())
def test_every_sound_generated_profile_is_built(metrics: list[Metric], data: st.DataObject) -> None:
    numeric = [m.name for m in metrics if m.type is not MetricType.BOOLEAN]
    rules = []
    if numeric:
        rule_names = data.draw(st.lists(metric_names, max_size=5, unique=True))
        rules = [
            AlarmRule(
                name,
                data.draw(st.sampled_from(numeric)),
                data.draw(st.sampled_from(Comparison)),
                data.draw(bounds),
                data.draw(st.integers(0, 86_400)),
                data.draw(st.sampled_from(Severity)),
            )
            for name in rule_names
        ]
    built = profile(metrics, rules)
    assert [built.metric(m.name) for m in metrics] == metrics
