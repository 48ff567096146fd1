"""System parameters in the parameters table: one item, `id="node"`, holding the JSON
document (`value`), its version (optimistic lock) and who changed it last.

Hot reads go through Powertools' DynamoDB parameter provider, whose cache lets a warm
function re-read the item at most once per `max_age` seconds. Reads for editing (and the
version they carry) go to the table directly, strongly consistent. A missing item means the
defaults.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pynamodb.exceptions import DoesNotExist, PutError

from idnode.domain.errors import ConcurrentUpdateError
from idnode.domain.parameters import Parameters, parse_parameters
from idnode.store.models import ParameterModel

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import DynamoDBProvider

NODE_PARAMETERS = "node"
CACHE_SECONDS = 60
_ABSENT = "{}"  # what the provider yields for a missing item: the defaults, cached like any


@dataclass(frozen=True, slots=True)
class StoredParameters:
    parameters: Parameters
    version: int  # 0: never saved (the defaults)
    updated: datetime | None = None
    updated_by: str | None = None


class ParameterRepository:
    def __init__(
        self,
        model: type[ParameterModel],
        *,
        region: str,
        endpoint_url: str | None = None,
        max_age: int = CACHE_SECONDS,
    ) -> None:
        self._model = model
        self._region = region
        self._endpoint_url = endpoint_url
        self._max_age = max_age
        self._provider: DynamoDBProvider | None = None
        self._parsed: tuple[dict[str, Any], Parameters] | None = None
        self._changed = False

    def current(self) -> Parameters:
        """The parameters, as read at most `max_age` seconds ago in this process."""
        document = self._documents().get(
            NODE_PARAMETERS, max_age=self._max_age, transform="json", force_fetch=self._changed
        )
        self._changed = False
        if not isinstance(document, dict):
            raise TypeError("the parameters item does not hold a JSON object")
        # The provider hands out its cached object until it expires: parse it once.
        if self._parsed is None or self._parsed[0] is not document:
            self._parsed = (document, parse_parameters(document))
        return self._parsed[1]

    def read(self) -> StoredParameters:
        """The parameters as stored now, with their version (for editing)."""
        try:
            item = self._model.get(NODE_PARAMETERS, consistent_read=True)
        except DoesNotExist:
            return StoredParameters(Parameters(), 0)
        return StoredParameters(
            parse_parameters(json.loads(item.value)),
            item.version or 0,
            item.updated,
            item.updated_by,
        )

    def write(
        self, parameters: Parameters, expected_version: int, by: str, at: datetime
    ) -> StoredParameters:
        """Store `parameters` if the stored ones are still at `expected_version` (0: none
        stored yet); else ConcurrentUpdateError."""
        item = self._model(
            NODE_PARAMETERS,
            value=json.dumps(parameters.to_json(), separators=(",", ":")),
            updated=at,
            updated_by=by,
        )
        if expected_version:
            item.version = expected_version
        try:
            item.save()  # VersionAttribute: the condition on the version, and +1
        except PutError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise ConcurrentUpdateError(
                    f"the parameters changed since version {expected_version} was read; "
                    "read them again and retry"
                ) from None
            raise
        # This process sees its own change at once; others within `max_age`.
        self._changed = True
        return StoredParameters(parameters, item.version or 0, at, by)

    def _documents(self) -> DynamoDBProvider:
        if self._provider is None:
            self._provider = _provider(
                self._model.Meta.table_name, self._region, self._endpoint_url
            )
        return self._provider


def _provider(table_name: str, region: str, endpoint_url: str | None) -> DynamoDBProvider:
    """Powertools' provider on a resource for this region and endpoint (the local cloud's,
    if any), except that a missing item reads as an empty document, so that the defaults
    are cached too instead of costing a read on every call."""
    # Imported on first use: boto3 costs start-up time that the resolution path, which may
    # never read parameters, should not pay.
    import boto3  # noqa: PLC0415
    from aws_lambda_powertools.utilities.parameters import DynamoDBProvider  # noqa: PLC0415

    class ParameterDocuments(DynamoDBProvider):
        def _get(self, name: str, **sdk_options: Any) -> str:
            sdk_options["Key"] = {self.key_attr: name}
            item = self.table.get_item(**sdk_options).get("Item")
            if item is None:
                return _ABSENT
            return str(item[self.value_attr])

    session = boto3.session.Session(region_name=region)
    return ParameterDocuments(
        table_name=table_name,
        key_attr="id",
        value_attr="value",
        boto3_client=session.resource("dynamodb", endpoint_url=endpoint_url),
    )
