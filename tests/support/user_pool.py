"""A user pool shaped like infra/cdk/idnode_infra/auth.py (role groups, `custom:enterprise`),
created inside an active moto mock, and people signed in to it with TOTP enrolled."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3

from idnode.domain.access import Role
from tests.support.identity import REGION

PASSWORD = "Correct-Horse-42!"


@dataclass(frozen=True)
class MotoUserPool:
    pool_id: str
    client_id: str
    client: Any  # a boto3 cognito-idp client

    def add_person(
        self, username: str, roles: tuple[Role, ...] = (), enterprise: str | None = None
    ) -> None:
        """An account that has signed in once (status CONFIRMED), in the given groups."""
        attributes = [{"Name": "email", "Value": f"{username}@example.com"}]
        if enterprise:
            attributes.append({"Name": "custom:enterprise", "Value": enterprise})
        self.client.admin_create_user(
            UserPoolId=self.pool_id,
            Username=username,
            UserAttributes=attributes,
            MessageAction="SUPPRESS",
        )
        self.client.admin_set_user_password(
            UserPoolId=self.pool_id, Username=username, Password=PASSWORD, Permanent=True
        )
        for role in roles:
            self.client.admin_add_user_to_group(
                UserPoolId=self.pool_id, Username=username, GroupName=role.value
            )

    def enrol_totp(self, username: str) -> None:
        """What a frontend does: sign in, associate an authenticator app, verify, prefer it."""
        signed_in = self.client.admin_initiate_auth(
            UserPoolId=self.pool_id,
            ClientId=self.client_id,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD},
        )
        access_token = signed_in["AuthenticationResult"]["AccessToken"]
        self.client.associate_software_token(AccessToken=access_token)
        self.client.verify_software_token(AccessToken=access_token, UserCode="123456")
        self.client.admin_set_user_mfa_preference(
            UserPoolId=self.pool_id,
            Username=username,
            SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True},
        )


def create_test_pool() -> MotoUserPool:
    client = boto3.client("cognito-idp", region_name=REGION)
    pool = client.create_user_pool(
        PoolName="idnode-people",
        AliasAttributes=["email"],
        Schema=[
            {
                "Name": "enterprise",
                "AttributeDataType": "String",
                "Mutable": True,
                "StringAttributeConstraints": {"MaxLength": "128"},
            }
        ],
        MfaConfiguration="OPTIONAL",
    )["UserPool"]
    for precedence, role in enumerate(Role):
        client.create_group(GroupName=role.value, UserPoolId=pool["Id"], Precedence=precedence)
    app = client.create_user_pool_client(
        UserPoolId=pool["Id"],
        ClientName="app",
        ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]
    return MotoUserPool(pool["Id"], app["ClientId"], client)
