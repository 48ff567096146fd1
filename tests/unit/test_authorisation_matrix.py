"""The authorisation matrix: docs/authorisation.md and `MATRIX` say the same, and `authorise()`
does what the documented table says for every operation, actor and target."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from idnode.domain.access import (
    ANONYMOUS,
    MATRIX,
    Actor,
    Operation,
    Principal,
    PrincipalKind,
    Role,
    Scope,
    admin_identity,
    authorise,
    user,
)
from idnode.domain.errors import AuthenticationRequiredError, NotAuthorisedError

DOC = Path(__file__).resolve().parents[2] / "docs" / "authorisation.md"
CELLS = {"any": Scope.ANY, "own enterprise": Scope.ENTERPRISE, "self": Scope.SELF, "-": None}
OWN, OTHER = "ent-1234", "ent-5678"
NAME = "actor-1"
BREADTH = {Scope.ANY: 2, Scope.ENTERPRISE: 1, Scope.SELF: 0}

Table = dict[Operation, dict[Actor, Scope | None]]


def documented_table() -> Table:
    """The matrix table of docs/authorisation.md: the one whose header names the actors."""
    lines = DOC.read_text().splitlines()
    header_at = next(
        i for i, line in enumerate(lines) if line.startswith("| operation |") and "public" in line
    )
    header = [c.strip() for c in lines[header_at].strip().strip("|").split("|")]
    actors = [Actor(name) for name in header[1:]]
    assert lines[header_at + 1].replace("|", "").replace("-", "").strip() == ""
    table: Table = {}
    for line in lines[header_at + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == len(actors) + 1, f"row with the wrong number of cells: {line}"
        operation = Operation(cells[0])
        assert operation not in table, f"{operation} appears twice"
        for cell in cells[1:]:
            assert cell in CELLS, f"unknown cell {cell!r} in row {operation}"
        table[operation] = {a: CELLS[c] for a, c in zip(actors, cells[1:], strict=True)}
    return table


TABLE = documented_table()


def test_the_document_names_every_actor_once_in_the_order_of_the_enum() -> None:
    for row in TABLE.values():
        assert list(row) == list(Actor)


def test_the_document_lists_every_operation_exactly_once() -> None:
    assert sorted(TABLE) == sorted(Operation)


def test_the_document_and_the_matrix_agree_cell_by_cell() -> None:
    in_code = {
        operation: {actor: MATRIX.get(operation, {}).get(actor) for actor in Actor}
        for operation in Operation
    }
    differences = [
        f"{operation.value} / {actor.value}: doc {TABLE[operation][actor]}, code {scope}"
        for operation, row in in_code.items()
        for actor, scope in row.items()
        if TABLE[operation][actor] != scope
    ]
    assert differences == []
    # The matrix names no actor outside the enum and no empty rows it does not need.
    assert all(set(row) <= set(Actor) for row in MATRIX.values())


# Every (operation, actor, target) combination


def principal_of(actor: Actor, enterprise: str | None = OWN) -> Principal:
    if actor is Actor.PUBLIC:
        return ANONYMOUS
    if actor is Actor.ADMIN_IDENTITY:
        return replace(
            admin_identity(300, f"88.100.1234/{NAME}", ["88.100.1234"]),
            name=NAME,
            enterprise=enterprise,
        )
    roles = [] if actor is Actor.PERSON else [actor.value]
    return user(NAME, roles, enterprise, [])


@dataclass(frozen=True)
class Target:
    label: str
    enterprise: str | None = None
    owner: str | None = None

    @property
    def given(self) -> bool:
        return self.enterprise is not None or self.owner is not None


TARGETS = [
    Target("none"),
    Target("own enterprise", enterprise=OWN),
    Target("other enterprise", enterprise=OTHER),
    Target("own thing", owner=NAME),
    Target("other's thing", owner="someone-else"),
    Target("own thing of own enterprise", enterprise=OWN, owner=NAME),
    Target("other's thing of own enterprise", enterprise=OWN, owner="someone-else"),
    Target("own thing of other enterprise", enterprise=OTHER, owner=NAME),
    Target("other's thing of other enterprise", enterprise=OTHER, owner="someone-else"),
]


def covers(scope: Scope, principal: Principal, target: Target) -> bool:
    """The documented meaning of a cell, on a target."""
    if not target.given or scope is Scope.ANY:
        return True
    if scope is Scope.ENTERPRISE:
        return target.enterprise is not None and target.enterprise == principal.enterprise
    return target.owner == principal.name


def expected(
    principal: Principal, actors: list[Actor], operation: Operation, target: Target
) -> Scope | type[Exception]:
    granted = [s for a in actors if (s := TABLE[operation][a]) is not None]
    if not granted:
        if principal.kind is PrincipalKind.ANONYMOUS:
            return AuthenticationRequiredError
        return NotAuthorisedError
    fitting = [s for s in granted if covers(s, principal, target)]
    if not fitting:
        return NotAuthorisedError
    return max(fitting, key=BREADTH.__getitem__)


def check(principal: Principal, actors: list[Actor], operation: Operation, target: Target) -> None:
    outcome = expected(principal, actors, operation, target)
    where = f"{operation.value} by {'+'.join(a.value for a in actors)} on {target.label}"
    if isinstance(outcome, Scope):
        got = authorise(principal, operation, enterprise=target.enterprise, owner=target.owner)
        assert got is outcome, where
    else:
        with pytest.raises(outcome) as refused:
            authorise(principal, operation, enterprise=target.enterprise, owner=target.owner)
        # Exactly the documented kind: an anonymous caller is never told "not authorised",
        # nor an authenticated one "authenticate".
        assert type(refused.value) is outcome, where


@pytest.mark.parametrize("operation", list(Operation), ids=lambda o: o.value)
def test_authorise_follows_the_table_for_every_actor_and_target(operation: Operation) -> None:
    for actor, target in itertools.product(Actor, TARGETS):
        check(principal_of(actor), [actor], operation, target)


@pytest.mark.parametrize("operation", list(Operation), ids=lambda o: o.value)
def test_actors_that_act_for_no_enterprise_never_get_an_enterprise_target(
    operation: Operation,
) -> None:
    for actor, target in itertools.product(Actor, TARGETS):
        check(principal_of(actor, enterprise=None), [actor], operation, target)


ROLE_ACTORS = [Actor(r.value) for r in Role]


@pytest.mark.parametrize("operation", list(Operation), ids=lambda o: o.value)
def test_a_person_with_several_roles_gets_the_broadest_scope_that_fits(
    operation: Operation,
) -> None:
    for size in (2, 3, 4):
        for combination in itertools.combinations(ROLE_ACTORS, size):
            principal = user(NAME, [a.value for a in combination], OWN, [])
            for target in TARGETS:
                check(principal, list(combination), operation, target)


def test_the_size_of_the_matrix(capsys: pytest.CaptureFixture[str]) -> None:
    cells = len(Operation) * len(Actor)
    allowed = sum(1 for row in TABLE.values() for scope in row.values() if scope is not None)
    combinations = sum(len(list(itertools.combinations(ROLE_ACTORS, n))) for n in (2, 3, 4))
    checks = cells * len(TARGETS) * 2 + len(Operation) * combinations * len(TARGETS)
    with capsys.disabled():
        print(
            f"\nauthorisation matrix: {len(Operation)} operations x {len(Actor)} actors = "
            f"{cells} cells, {allowed} allowed, {cells - allowed} denied; "
            f"{checks} authorise() checks over {len(TARGETS)} targets"
        )
    assert allowed == sum(len(row) for row in MATRIX.values())
