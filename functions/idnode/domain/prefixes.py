"""Allocated prefixes: the node's own and its enterprises'."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PrefixStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


@dataclass(frozen=True, slots=True)
class Prefix:
    name: str
    enterprise: str
    status: PrefixStatus = PrefixStatus.ACTIVE
    resolvable: bool = True  # False: a suspension that also withdraws it from resolution

    @property
    def active(self) -> bool:
        return self.status is PrefixStatus.ACTIVE
