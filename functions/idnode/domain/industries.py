"""GB/T 4754-2017 industry codes (国民经济行业分类): what an enterprise declares it does.

A code is a section letter (门类, A-T) optionally followed by the digits of a division (大类,
two digits), a group (中类, three) or a class (小类, four): `C`, `C34`, `C341`, `C3411`. Each
level extends the digits of the level above. Divisions are numbered 01-97 across the sections
without gaps, so digits alone (`3411`) name their section too. A level that the standard does
not subdivide is padded with 0 (`T97` -> `T970` -> `T9700`), so a class under group digit 0 is
itself 0.

Only the structure is checked, not the list of the 1,382 classes: the top-level node's
industry templates (SN-9) carry that list, and an unknown class under a valid division is
for the auditor to question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from idnode.domain.errors import InvalidValueError

# Section letter -> (first division, last division).
SECTIONS: dict[str, tuple[int, int]] = {
    "A": (1, 5),
    "B": (6, 12),
    "C": (13, 43),
    "D": (44, 46),
    "E": (47, 50),
    "F": (51, 52),
    "G": (53, 60),
    "H": (61, 62),
    "I": (63, 65),
    "J": (66, 69),
    "K": (70, 70),
    "L": (71, 72),
    "M": (73, 75),
    "N": (76, 79),
    "O": (80, 82),
    "P": (83, 83),
    "Q": (84, 85),
    "R": (86, 90),
    "S": (91, 96),
    "T": (97, 97),
}
CLASS_DIGITS = 4
_CODE_RE = re.compile(r"^([A-Z]?)([0-9]{2,4})?$")


def section_of(division: int) -> str | None:
    """The section a division number belongs to (None: no such division)."""
    for letter, (first, last) in SECTIONS.items():
        if first <= division <= last:
            return letter
    return None


@dataclass(frozen=True, slots=True)
class Industry:
    """A valid code: the section letter and 0, 2, 3 or 4 digits."""

    section: str
    digits: str = ""

    @property
    def code(self) -> str:
        """The canonical form: `C3411`."""
        return self.section + self.digits

    @property
    def division(self) -> str | None:
        """The division used for statistics (`C34`); None when only the section is known."""
        return self.section + self.digits[:2] if self.digits else None

    @property
    def statistics_code(self) -> str:
        """The division when known, else the section."""
        return self.division or self.section

    def within(self, code: str) -> bool:
        """Whether this industry falls under `code` (a section, division, group or class)."""
        return self.code.startswith(code.strip().upper())

    def __str__(self) -> str:
        return self.code


def parse_industry(raw: object, field: str = "industry") -> Industry:
    """Parse and check a code such as `C3411`, `c34` or `3411`; the message names `field`."""
    if not isinstance(raw, str):
        raise InvalidValueError(f"{field}: a GB/T 4754 code is text, such as C3411")
    text = raw.strip().upper()
    match = _CODE_RE.fullmatch(text)
    if not text or match is None:
        raise InvalidValueError(
            f"{field}: {raw!r} is not a GB/T 4754 code: a section letter A-T optionally "
            "followed by 2, 3 or 4 digits (e.g. C, C34, C341, C3411)"
        )
    letter, digits = match.group(1), match.group(2) or ""
    if letter and letter not in SECTIONS:
        raise InvalidValueError(f"{field}: there is no GB/T 4754 section {letter} (A-T)")
    if not digits:
        return Industry(letter)
    division = int(digits[:2])
    section = section_of(division)
    if section is None:
        raise InvalidValueError(f"{field}: there is no GB/T 4754 division {digits[:2]} (01-97)")
    if letter and letter != section:
        first, last = SECTIONS[letter]
        raise InvalidValueError(
            f"{field}: division {digits[:2]} belongs to section {section}, not {letter} "
            f"(whose divisions are {first:02d}-{last:02d})"
        )
    if len(digits) == CLASS_DIGITS and digits[2] == "0" and digits[3] != "0":
        raise InvalidValueError(
            f"{field}: group {digits[:3]} is not subdivided, so its only class is {digits[:3]}0"
        )
    return Industry(section, digits)
