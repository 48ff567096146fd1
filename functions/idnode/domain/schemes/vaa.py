"""VAA identifiers: CAICT's ISO/IEC 15459 issuing-agency code, written as a DID.

Form: ``did:vaa:`` followed by the method-specific id, 27 to 31 base58 characters in the
Bitcoin alphabet (digits and letters without ``0``, ``O``, ``I`` and ``l``). The id is
case-sensitive, so it is kept exactly as written; the ``did:vaa:`` prefix is matched
case-insensitively and written in lower case, as DID syntax (W3C DID Core) requires.

Canonical form: ``did:vaa:<id>``. Node identifier suffix: ``vaa/<id>``.
"""

from __future__ import annotations

from idnode.domain.errors import InvalidHandleError
from idnode.domain.schemes import Scheme, SchemeKey

DID_PREFIX = "did:vaa:"
MIN_ID_LENGTH = 27
MAX_ID_LENGTH = 31
BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58 = frozenset(BASE58_ALPHABET)


def parse(text: str) -> SchemeKey:
    """Validate a ``did:vaa:`` identifier and return its canonical key."""
    if not isinstance(text, str) or not text:
        raise InvalidHandleError("vaa: the identifier is empty")
    if text[: len(DID_PREFIX)].lower() != DID_PREFIX:
        shown = text if len(text) <= MAX_ID_LENGTH + len(DID_PREFIX) else text[:40] + "..."
        raise InvalidHandleError(f"vaa: {shown!r} does not start with {DID_PREFIX!r}")
    method_id = text[len(DID_PREFIX) :]
    if not MIN_ID_LENGTH <= len(method_id) <= MAX_ID_LENGTH:
        raise InvalidHandleError(
            f"vaa: the id after {DID_PREFIX!r} has {len(method_id)} characters, "
            f"expected {MIN_ID_LENGTH} to {MAX_ID_LENGTH}"
        )
    bad = next((char for char in method_id if char not in _BASE58), None)
    if bad is not None:
        raise InvalidHandleError(f"vaa: {text!r} contains {bad!r}, which is not a base58 character")
    return SchemeKey(Scheme.VAA, DID_PREFIX + method_id)
