# pynamodb leaves Index.__init_subclass__ untyped; declaring an index calls it
# (store/models.py has the same exemption in pyproject.toml).
# mypy: disable-error-code="no-untyped-call"
"""pynamodb models of the identifier schemes' and metadata's tables: metadata templates,
scheme keys (with GS1 Digital Link links) and enterprises' private codes.

Like the models in `store/models.py`, each is bound to its table at start-up with `bind()`.
Key schemas here must match infra/cdk/idnode_infra/data.py. Times are epoch milliseconds.
"""

from __future__ import annotations

from pynamodb.attributes import (
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

BY_HANDLE = "byHandle"


class TemplateModel(Model):
    """One version of a metadata template (core, industry, or an enterprise's extension).
    Versions are immutable once written: records validated against one keep validating."""

    class Meta:
        table_name = "unbound-templates"

    code = UnicodeAttribute(hash_key=True)
    version = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()  # core, industry or enterprise
    owner = UnicodeAttribute(null=True)  # the enterprise of an extension
    document = JSONAttribute()  # the template in the node's JSON form
    created_at = NumberAttribute()
    created_by = UnicodeAttribute()
    # Copied out of the document so that listings can filter on them.
    object_type = UnicodeAttribute(null=True)
    industry_codes = UnicodeSetAttribute(null=True)


class KeyModel(Model):
    """A scheme key (`gs1:01/09506000134352`, `oid:1.2.156.3001`) and the node identifier it
    maps to. Created and deleted in one transaction with the identifier, so a key exists
    exactly while its identifier does."""

    class Meta:
        table_name = "unbound-keys"

    key = UnicodeAttribute(hash_key=True)
    handle = UnicodeAttribute()  # the identifier's name as registered
    prefix = UnicodeAttribute()  # case-folded, for the resolvable-prefix check
    links = JSONAttribute(null=True)  # GS1 Digital Link links, as a JSON list
    links_version = NumberAttribute(default=0)
    updated_at = NumberAttribute(null=True)


class _CodesByHandle(GlobalSecondaryIndex["CodeModel"]):
    class Meta:
        index_name = BY_HANDLE
        projection = AllProjection()

    handle = UnicodeAttribute(hash_key=True)
    pk = UnicodeAttribute(range_key=True)


class CodeModel(Model):
    """A private code of an enterprise and the public identifier it maps to (`handle` set,
    so that the byHandle index maps back), or another item of the owner's (its grants)."""

    class Meta:
        table_name = "unbound-codes"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    handle = UnicodeAttribute(null=True)  # case-folded identifier key: sparse byHandle index
    data = JSONAttribute(null=True)
    created_at = NumberAttribute()
    by_handle = _CodesByHandle()
