"""People and their roles: the Cognito user pool, its groups and the app client."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from constructs import Construct

# Custom attribute binding a person to the enterprise they act for; tokens carry it as
# `custom:enterprise`.
ENTERPRISE_ATTRIBUTE = "enterprise"

# Roles of SN-8, as Cognito groups. A lower precedence wins when a person is in several
# groups and a single role has to be picked (the `cognito:preferred_role` claim).
ROLES: tuple[tuple[str, int, str], ...] = (
    ("platform-admin", 0, "Operates the node: enterprises, prefixes, metadata, settings"),
    ("auditor", 10, "Reviews enterprise applications and changes; reads every record"),
    ("enterprise-admin", 20, "Manages one enterprise's identifiers, users and credentials"),
    ("enterprise-user", 30, "Registers and maintains one enterprise's identifiers"),
)


class Auth(Construct):
    """A user pool and an app client that frontends and the command line use to obtain ID
    tokens, which the GraphQL function verifies. Anyone may sign up with a verified email,
    but a new account has no role: it may only apply to onboard an enterprise (SN-2). Roles
    come from administrators and from approval."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        removal_policy: RemovalPolicy,
        deletion_protection: bool,
    ) -> None:
        super().__init__(scope, construct_id)

        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            # Applicants sign up themselves; every role is granted by someone else.
            self_sign_up_enabled=True,
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            sign_in_aliases=cognito.SignInAliases(username=True, email=True),
            sign_in_case_sensitive=False,
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True),
                fullname=cognito.StandardAttribute(required=False, mutable=True),
            ),
            custom_attributes={
                ENTERPRISE_ATTRIBUTE: cognito.StringAttribute(max_len=128, mutable=True),
            },
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            # Optional until every frontend offers TOTP enrolment (IOT-10 asks for MFA).
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            feature_plan=cognito.FeaturePlan.ESSENTIALS,
            deletion_protection=deletion_protection,
            removal_policy=removal_policy,
        )

        self.groups = {
            name: cognito.UserPoolGroup(
                self,
                _construct_id(name),
                user_pool=self.user_pool,
                group_name=name,
                precedence=precedence,
                description=description,
            )
            for name, precedence, description in ROLES
        }

        # ID tokens omit attributes the client may not read; `custom:enterprise` must be there
        # because the API scopes every enterprise role by it.
        read_attributes = (
            cognito.ClientAttributes()
            .with_standard_attributes(
                email=True, email_verified=True, fullname=True, preferred_username=True
            )
            .with_custom_attributes(ENTERPRISE_ATTRIBUTE)
        )
        # People may edit their profile but never rebind themselves to another enterprise.
        write_attributes = cognito.ClientAttributes().with_standard_attributes(
            email=True, fullname=True, preferred_username=True
        )
        self.client = self.user_pool.add_client(
            "AppClient",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_password=True, user_srp=True),
            # No hosted UI: frontends sign in through the Cognito API directly.
            disable_o_auth=True,
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
            read_attributes=read_attributes,
            write_attributes=write_attributes,
        )


def _construct_id(role: str) -> str:
    return "".join(part.capitalize() for part in role.split("-")) + "Group"
