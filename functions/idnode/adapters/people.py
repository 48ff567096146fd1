"""The Cognito user pool: people, their roles (groups) and their enterprise (`custom:enterprise`).

The client is built on first use, so that a function that never manages people (the Handle
REST read path) does not pay for boto3 at cold start. Cognito's errors become domain errors
here; anything else (throttling that outlasts the retries, a missing group) is unexpected and
propagates.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import ClientError

from idnode.domain.access import Role
from idnode.domain.errors import (
    IdnodeError,
    InvalidStateError,
    InvalidValueError,
    NotFoundError,
)
from idnode.domain.people import Person, PoolPage

if TYPE_CHECKING:
    from mypy_boto3_cognito_idp import CognitoIdentityProviderClient

    from idnode.settings import Settings

ENTERPRISE_ATTRIBUTE = "custom:enterprise"
SOFTWARE_TOKEN_MFA = "SOFTWARE_TOKEN_MFA"  # noqa: S105 - an MFA type name, not a secret
MAX_PAGE_SIZE = 60  # ListUsers returns at most 60 people per call
# Reading several people at once: a page of a listing needs one or two calls per person.
_PARALLEL_READS = 8

_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 3},
    connect_timeout=3,
    read_timeout=10,
)


def _cognito_error(exc: ClientError, username: str) -> IdnodeError | None:
    """The domain error a Cognito refusal stands for, or None if it is unexpected."""
    code = exc.response.get("Error", {}).get("Code", "")
    message = exc.response.get("Error", {}).get("Message", "")
    if code == "UserNotFoundException":
        return NotFoundError(f"there is no person {username!r}")
    if code == "UsernameExistsException":
        return InvalidStateError(f"the username {username!r} is taken")
    if code == "AliasExistsException":
        return InvalidStateError("another person already uses this email address")
    if code == "CodeDeliveryFailureException":
        return InvalidStateError("the invitation could not be delivered to this email address")
    if code in {"InvalidParameterException", "InvalidPasswordException"}:
        return InvalidValueError(f"the user pool refused the request: {message}")
    return None


class UserPool:
    """People of one Cognito user pool."""

    def __init__(
        self,
        pool_id: str,
        region: str,
        endpoint_url: str | None = None,
        client_factory: Callable[[], CognitoIdentityProviderClient] | None = None,
    ) -> None:
        self.pool_id = pool_id
        self._region = region
        self._endpoint_url = endpoint_url
        self._client_factory = client_factory or self._boto3_client
        self._client: CognitoIdentityProviderClient | None = None
        self._lock = threading.Lock()

    @classmethod
    def for_settings(cls, settings: Settings) -> UserPool:
        return cls(settings.user_pool_id, settings.region, settings.endpoint_url)

    def _boto3_client(self) -> CognitoIdentityProviderClient:
        import boto3  # noqa: PLC0415 - see the module docstring

        return boto3.client(
            "cognito-idp",
            region_name=self._region,
            endpoint_url=self._endpoint_url,
            config=_CLIENT_CONFIG,
        )

    @property
    def client(self) -> CognitoIdentityProviderClient:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._client_factory()
        return self._client

    def _call(self, username: str, method: str, **params: Any) -> Any:
        if not self.pool_id:
            raise InvalidStateError("this node has no user pool: people cannot be managed")
        try:
            return getattr(self.client, method)(UserPoolId=self.pool_id, **params)
        except ClientError as exc:
            error = _cognito_error(exc, username)
            if error is None:
                raise
            raise error from None

    # Reads

    def get(self, username: str) -> Person:
        """One person with roles and second-factor enrolment; NotFoundError if absent."""
        found = self._call(username, "admin_get_user", Username=username)
        return _person(
            found, found.get("UserAttributes", []), self.roles_of(username), mfa_known=True
        )

    def get_many(self, usernames: Sequence[str]) -> list[Person | None]:
        """People in the order asked for; None for those the pool does not know."""

        def one(username: str) -> Person | None:
            try:
                return self.get(username)
            except NotFoundError:
                return None

        if len(usernames) <= 1:
            return [one(u) for u in usernames]
        with ThreadPoolExecutor(max_workers=min(_PARALLEL_READS, len(usernames))) as pool:
            return list(pool.map(one, usernames))

    def roles_of(self, username: str) -> frozenset[Role]:
        """The person's groups that are roles of the node (other groups are ignored)."""
        roles: set[Role] = set()
        token: str | None = None
        while True:
            params: dict[str, Any] = {"Username": username, "Limit": 60}
            if token:
                params["NextToken"] = token
            answer = self._call(username, "admin_list_groups_for_user", **params)
            roles.update(_roles(g["GroupName"] for g in answer.get("Groups", [])))
            token = answer.get("NextToken")
            if not token:
                return frozenset(roles)

    def list(self, limit: int, token: str | None = None) -> PoolPage:
        """A page of the whole pool, with each person's roles."""
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidValueError(f"page size must be between 1 and {MAX_PAGE_SIZE}")
        params: dict[str, Any] = {"Limit": limit}
        if token:
            params["PaginationToken"] = token
        answer = self._call("", "list_users", **params)
        users: list[Mapping[str, Any]] = answer.get("Users", [])
        names = [u["Username"] for u in users]
        if len(names) > 1:
            with ThreadPoolExecutor(max_workers=min(_PARALLEL_READS, len(names))) as pool:
                roles = list(pool.map(self._roles_or_none, names))
        else:
            roles = [self._roles_or_none(n) for n in names]
        people = [
            _person(u, u.get("Attributes", []), r or frozenset(), mfa_known=False)
            for u, r in zip(users, roles, strict=True)
        ]
        return PoolPage(people, answer.get("PaginationToken") or None)

    def _roles_or_none(self, username: str) -> frozenset[Role] | None:
        # Deleted between the listing and this read: listed without roles.
        try:
            return self.roles_of(username)
        except NotFoundError:
            return None

    def mfa_enrolled(self, username: str) -> bool:
        """Whether the person has TOTP enrolled (then the pool asks for it at every sign-in)."""
        if not self.pool_id:
            return False
        try:
            found = self._call(username, "admin_get_user", Username=username)
        except NotFoundError:
            return False
        return SOFTWARE_TOKEN_MFA in (found.get("UserMFASettingList") or [])

    # Changes

    def create(
        self, username: str, email: str, name: str | None = None, enterprise: str | None = None
    ) -> Person:
        """Create an account; the pool emails the invitation with a temporary password."""
        attributes = [
            {"Name": "email", "Value": email},
            # Set by an administrator who knows the address: lets the person recover a
            # forgotten password by email (the pool's only recovery channel).
            {"Name": "email_verified", "Value": "true"},
        ]
        if name:
            attributes.append({"Name": "name", "Value": name})
        if enterprise:
            attributes.append({"Name": ENTERPRISE_ATTRIBUTE, "Value": enterprise})
        created = self._call(
            username,
            "admin_create_user",
            Username=username,
            UserAttributes=attributes,
            DesiredDeliveryMediums=["EMAIL"],
        )["User"]
        return _person(created, created.get("Attributes", []), frozenset(), mfa_known=True)

    def set_roles(self, username: str, roles: Iterable[Role]) -> frozenset[Role]:
        """Make the person's role groups exactly `roles`; returns the roles held before."""
        wanted = frozenset(roles)
        before = self.roles_of(username)
        for role in sorted(wanted - before):
            self.add_role(username, role)
        for role in sorted(before - wanted):
            self._call(
                username, "admin_remove_user_from_group", Username=username, GroupName=role.value
            )
        return before

    def add_role(self, username: str, role: Role) -> None:
        self._call(username, "admin_add_user_to_group", Username=username, GroupName=role.value)

    def set_enterprise(self, username: str, enterprise: str | None) -> None:
        """Bind the person to an enterprise, or (None) unbind them."""
        if enterprise:
            self._call(
                username,
                "admin_update_user_attributes",
                Username=username,
                UserAttributes=[{"Name": ENTERPRISE_ATTRIBUTE, "Value": enterprise}],
            )
        else:
            self._call(
                username,
                "admin_delete_user_attributes",
                Username=username,
                UserAttributeNames=[ENTERPRISE_ATTRIBUTE],
            )

    def enable(self, username: str) -> None:
        self._call(username, "admin_enable_user", Username=username)

    def disable(self, username: str) -> None:
        """The person can no longer sign in or refresh tokens."""
        self._call(username, "admin_disable_user", Username=username)

    def sign_out(self, username: str) -> None:
        """Revoke the person's refresh tokens, so that lost access is not renewed."""
        self._call(username, "admin_user_global_sign_out", Username=username)

    def bind(self, username: str, enterprise: str, role: Role) -> None:
        """Make the person act for `enterprise` in `role` (the onboarding Directory port)."""
        self.set_enterprise(username, enterprise)
        self.add_role(username, role)


def _roles(names: Iterable[str]) -> frozenset[Role]:
    return frozenset(Role(n) for n in names if n in Role._value2member_map_)


def _person(
    user: Mapping[str, Any],
    attributes: Iterable[Mapping[str, str]],
    roles: frozenset[Role],
    *,
    mfa_known: bool,
) -> Person:
    values = {a["Name"]: a.get("Value", "") for a in attributes}
    created = user.get("UserCreateDate")
    mfa = SOFTWARE_TOKEN_MFA in (user.get("UserMFASettingList") or []) if mfa_known else None
    return Person(
        username=str(user["Username"]),
        email=values.get("email") or None,
        name=values.get("name") or None,
        enterprise=values.get(ENTERPRISE_ATTRIBUTE) or None,
        roles=roles,
        enabled=bool(user.get("Enabled", True)),
        status=str(user.get("UserStatus", "UNKNOWN")),
        created=created if isinstance(created, datetime) else None,
        mfa_enrolled=mfa,
    )
