"""Device profiles in DynamoDB: one item per (enterprise, profile), written whole under the
profile's version (1 creates it, n replaces version n-1)."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError

from idnode.domain.devices import AlarmRule, Comparison, DeviceProfile, Metric, MetricType, Severity
from idnode.domain.errors import ConcurrentUpdateError, InvalidStateError
from idnode.store.device_models import ProfileModel
from idnode.store.listings import querying, read_page, start_key
from idnode.store.pages import Page

_KEY = {"enterprise": "S", "profile": "S"}


class ProfileRepository:
    def __init__(self, model: type[ProfileModel]) -> None:
        self._model = model

    def put(self, profile: DeviceProfile) -> DeviceProfile:
        """Create (version 1) or replace (version n over n-1) a profile. InvalidStateError when
        version 1 exists already; ConcurrentUpdateError when version n-1 is not the one stored."""
        model = self._model
        item = model(
            profile.enterprise,
            profile.name,
            description=profile.description,
            metrics=[_metric_document(m) for m in profile.metrics],
            alarm_rules=[_rule_document(r) for r in profile.alarm_rules],
            version=profile.version,
            created_at=profile.created_at,
            updated_at=profile.updated_at,
        )
        first = profile.version == 1
        condition = (
            model.profile.does_not_exist() if first else model.version == profile.version - 1
        )
        try:
            item.save(condition=condition)
        except PutError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
            if first:
                raise InvalidStateError(f"profile {profile.name} exists already") from None
            raise ConcurrentUpdateError(
                f"profile {profile.name} changed since version {profile.version - 1} was read"
            ) from None
        return profile

    def get(self, enterprise: str, name: str) -> DeviceProfile | None:
        try:
            item = self._model.get(enterprise, name, consistent_read=True)
        except DoesNotExist:
            return None
        return _profile(item)

    def list(self, enterprise: str, *, first: int, cursor: str | None) -> Page[DeviceProfile]:
        """An enterprise's profiles by name."""
        model = self._model
        scope = f"profiles:{enterprise}"

        return read_page(
            querying(model, enterprise),
            lambda raw: _profile(model.from_raw_data(raw)),
            scope=scope,
            first=first,
            start=start_key(scope, cursor, _KEY, {"enterprise": enterprise}),
            shape=_KEY,
            filtered=False,
        )


def _metric_document(metric: Metric) -> dict[str, Any]:
    return {
        "name": metric.name,
        "type": metric.type.value,
        "unit": metric.unit,
        "minimum": metric.minimum,
        "maximum": metric.maximum,
    }


def _rule_document(rule: AlarmRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "metric": rule.metric,
        "comparison": rule.comparison.value,
        "threshold": rule.threshold,
        "duration_seconds": rule.duration_seconds,
        "severity": rule.severity.value,
    }


def _profile(item: ProfileModel) -> DeviceProfile:
    # Stored profiles were validated when written; built directly, without checking again.
    return DeviceProfile(
        enterprise=item.enterprise,
        name=item.profile,
        description=item.description or "",
        metrics=tuple(
            Metric(
                name=m["name"],
                type=MetricType(m["type"]),
                unit=m.get("unit") or "",
                minimum=m.get("minimum"),
                maximum=m.get("maximum"),
            )
            for m in item.metrics
        ),
        alarm_rules=tuple(
            AlarmRule(
                name=r["name"],
                metric=r["metric"],
                comparison=Comparison(r["comparison"]),
                threshold=r["threshold"],
                duration_seconds=int(r["duration_seconds"]),
                severity=Severity(r["severity"]),
            )
            for r in item.alarm_rules
        ),
        version=int(item.version),
        created_at=int(item.created_at),
        updated_at=int(item.updated_at),
    )
