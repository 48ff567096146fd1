"""Metadata templates in DynamoDB: one item per (code, version), written once.

A version is never overwritten (records validated against it must keep validating), so the
only write is a conditional create. Listings scan the table: templates number in the
hundreds, are read rarely and change more rarely still.
"""

from __future__ import annotations

from collections.abc import Sequence

from pynamodb.exceptions import DoesNotExist, PutError
from pynamodb.expressions.condition import Condition

from idnode.domain.templates import Template, from_storage, to_storage, version_order
from idnode.store.listings import all_of, read_page, scanning, start_key
from idnode.store.metadata_models import TemplateModel
from idnode.store.pages import Page

_KEY = {"code": "S", "version": "S"}


class TemplateRepository:
    def __init__(self, model: type[TemplateModel]) -> None:
        self._model = model

    def create(self, template: Template) -> bool:
        """Store a new version; False when that code and version exist already."""
        item = self._model(
            template.code,
            template.version,
            kind=template.kind.value,
            owner=template.owner,
            document=to_storage(template),
            created_at=template.created_at,
            created_by=template.created_by,
            object_type=template.object_type.value,
            industry_codes=set(template.industry_codes) or None,
        )
        try:
            item.save(condition=self._model.code.does_not_exist())
        except PutError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def get(self, code: str, version: str) -> Template | None:
        try:
            item = self._model.get(code, version, consistent_read=True)
        except DoesNotExist:
            return None
        return _template(item)

    def latest(self, code: str) -> Template | None:
        """The highest version of a code (versions sort as numbers, not as text)."""
        versions = [_template(item) for item in self._model.query(code, consistent_read=True)]
        if not versions:
            return None
        return max(versions, key=lambda t: (version_order(t.version), t.version))

    def list(
        self,
        *,
        industry_codes: Sequence[str] = (),
        object_type: str | None = None,
        kind: str | None = None,
        owner: str | None = None,
        first: int,
        cursor: str | None,
    ) -> Page[Template]:
        """Templates matching every filter given; `industry_codes` matches a template naming
        any of them."""
        model = self._model
        conditions: list[Condition] = []
        if industry_codes:
            anyof = model.industry_codes.contains(industry_codes[0])
            for code in industry_codes[1:]:
                anyof |= model.industry_codes.contains(code)
            conditions.append(anyof)
        if object_type is not None:
            conditions.append(model.object_type == object_type)
        if kind is not None:
            conditions.append(model.kind == kind)
        if owner is not None:
            conditions.append(model.owner == owner)
        scope = "templates:" + "|".join(
            [
                ",".join(industry_codes),
                object_type or "",
                kind or "",
                owner or "",
            ]
        )
        filters = all_of(conditions)
        return read_page(
            scanning(model, filters=filters),
            lambda raw: _template(model.from_raw_data(raw)),
            scope=scope,
            first=first,
            start=start_key(scope, cursor, _KEY),
            shape=_KEY,
            filtered=filters is not None,
        )


def _template(item: TemplateModel) -> Template:
    return from_storage(item.document, int(item.created_at), item.created_by)
