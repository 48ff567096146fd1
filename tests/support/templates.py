"""A metadata template in the top-level node's import format, shared by the tests that import
it (docs/metadata.md has the same example)."""

from __future__ import annotations

from typing import Any

PUMP: dict[str, Any] = {
    "code": "C34-pump",
    "name": "Centrifugal pump",
    "version": "1.0",
    "kind": "industry",
    "industryCodes": ["C3441"],
    "objectType": "product",
    "items": [
        {
            "name": "model",
            "alias": "型号",
            "idType": "MODEL",
            "idIndex": 2000,
            "required": True,
            "metadata": {"type": "string", "minLength": 1, "maxLength": 64},
        },
        {
            "name": "ratedFlow",
            "alias": "额定流量",
            "idType": "RATED_FLOW",
            "idIndex": 2001,
            "required": True,
            "metadata": {"type": "number"},
        },
    ],
}
