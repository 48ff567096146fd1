"""Function settings: the environment contract, validated once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from idnode.settings import (
    ALARMS_TABLE,
    APPLICATIONS_TABLE,
    CODES_TABLE,
    COMMANDS_TABLE,
    CREDENTIALS_TABLE,
    DEAD_LETTER_QUEUE_URL,
    DEVICE_POLICY,
    DEVICES_TABLE,
    ENTERPRISES_TABLE,
    GRAPHIQL,
    HEALTH_TABLE,
    IDENTIFIERS_TABLE,
    KEYS_TABLE,
    MAX_BODY_BYTES,
    MEMBERS_TABLE,
    NODE_PREFIX,
    OPERATIONS_TABLE,
    PARAMETERS_TABLE,
    PREFIXES_TABLE,
    PROFILES_TABLE,
    STATISTICS_TABLE,
    TELEMETRY_TABLE,
    TEMPLATES_TABLE,
    USER_POOL_CLIENT_ID,
    USER_POOL_ID,
    Settings,
    SettingsError,
    get_settings,
)

REQUIRED = {
    IDENTIFIERS_TABLE: "ids",
    PREFIXES_TABLE: "prefixes",
    CREDENTIALS_TABLE: "creds",
    ENTERPRISES_TABLE: "enterprises",
    APPLICATIONS_TABLE: "applications",
    MEMBERS_TABLE: "members",
    OPERATIONS_TABLE: "operations",
    STATISTICS_TABLE: "statistics",
    PARAMETERS_TABLE: "parameters",
    DEVICES_TABLE: "devices",
    PROFILES_TABLE: "profiles",
    TELEMETRY_TABLE: "telemetry",
    ALARMS_TABLE: "alarms",
    COMMANDS_TABLE: "commands",
    TEMPLATES_TABLE: "templates",
    KEYS_TABLE: "keys",
    CODES_TABLE: "codes",
    HEALTH_TABLE: "health",
    NODE_PREFIX: "88.100",
}


def env(**extra: str) -> dict[str, str]:
    return {**REQUIRED, **extra}


def test_the_variable_names_are_the_published_contract() -> None:
    assert (
        IDENTIFIERS_TABLE,
        PREFIXES_TABLE,
        CREDENTIALS_TABLE,
        NODE_PREFIX,
        USER_POOL_ID,
        USER_POOL_CLIENT_ID,
        GRAPHIQL,
        MAX_BODY_BYTES,
    ) == (
        "IDNODE_IDENTIFIERS_TABLE",
        "IDNODE_PREFIXES_TABLE",
        "IDNODE_CREDENTIALS_TABLE",
        "IDNODE_NODE_PREFIX",
        "IDNODE_USER_POOL_ID",
        "IDNODE_USER_POOL_CLIENT_ID",
        "IDNODE_GRAPHIQL",
        "IDNODE_MAX_BODY_BYTES",
    )


def test_the_minimal_environment_and_its_defaults() -> None:
    assert Settings.from_env(env()) == Settings(
        region="us-east-1",
        identifiers_table="ids",
        prefixes_table="prefixes",
        credentials_table="creds",
        enterprises_table="enterprises",
        applications_table="applications",
        members_table="members",
        operations_table="operations",
        statistics_table="statistics",
        parameters_table="parameters",
        devices_table="devices",
        profiles_table="profiles",
        telemetry_table="telemetry",
        alarms_table="alarms",
        commands_table="commands",
        templates_table="templates",
        keys_table="keys",
        codes_table="codes",
        health_table="health",
        node_prefix="88.100",
        user_pool_id="",
        user_pool_client_id="",
        endpoint_url=None,
        graphiql=False,
        max_body_bytes=256 * 1024,
    )


def test_every_variable_is_read() -> None:
    read = Settings.from_env(
        env(
            AWS_REGION="cn-north-1",
            AWS_ENDPOINT_URL="http://127.0.0.1:4566",
            **{
                USER_POOL_ID: "cn-north-1_abc",
                USER_POOL_CLIENT_ID: "client",
                GRAPHIQL: "true",
                MAX_BODY_BYTES: "1024",
                DEVICE_POLICY: "idnode-device",
                DEAD_LETTER_QUEUE_URL: "http://127.0.0.1:4566/000000000000/dead-letters",
            },
        )
    )
    assert read.device_policy == "idnode-device"
    assert read.dead_letter_queue_url == "http://127.0.0.1:4566/000000000000/dead-letters"
    assert (read.region, read.endpoint_url) == ("cn-north-1", "http://127.0.0.1:4566")
    assert (read.user_pool_id, read.user_pool_client_id) == ("cn-north-1_abc", "client")
    assert (read.graphiql, read.max_body_bytes) == (True, 1024)


@pytest.mark.parametrize(
    ("given", "region"),
    [
        ({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "ap-south-1"}, "eu-west-1"),
        ({"AWS_DEFAULT_REGION": "ap-south-1"}, "ap-south-1"),
        ({"AWS_REGION": "", "AWS_DEFAULT_REGION": "ap-south-1"}, "ap-south-1"),
        ({}, "us-east-1"),
    ],
)
def test_the_region(given: dict[str, str], region: str) -> None:
    assert Settings.from_env(env(**given)).region == region


def test_missing_variables_are_all_named() -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({PREFIXES_TABLE: "p", IDENTIFIERS_TABLE: ""})
    missing = [name for name in REQUIRED if name != PREFIXES_TABLE]
    assert str(refused.value) == f"missing environment variables: {', '.join(missing)}"


@pytest.mark.parametrize("prefix", ["88.100", "88", "ABC.x1.9"])
def test_valid_node_prefixes(prefix: str) -> None:
    assert Settings.from_env(env(**{NODE_PREFIX: prefix})).node_prefix == prefix


@pytest.mark.parametrize("prefix", ["88..100", ".88", "88.", "88/100", "88 100", "88.100\n"])
def test_a_node_prefix_that_is_not_dotted_is_refused(prefix: str) -> None:
    with pytest.raises(SettingsError, match=NODE_PREFIX):
        Settings.from_env(env(**{NODE_PREFIX: prefix}))


@pytest.mark.parametrize(
    ("given", "on"),
    [("1", True), ("TRUE", True), ("yes", True), ("0", False), ("no", False), ("", False)],
)
def test_graphiql_switch(given: str, on: bool) -> None:
    assert Settings.from_env(env(**{GRAPHIQL: given})).graphiql is on


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        ("lots", "must be an integer"),
        ("0", "must be positive"),
        ("-1", "must be positive"),
        ("1.5", "must be an integer"),
    ],
)
def test_the_body_limit_must_be_a_positive_integer(given: str, fragment: str) -> None:
    with pytest.raises(SettingsError, match=f"{MAX_BODY_BYTES} {fragment}"):
        Settings.from_env(env(**{MAX_BODY_BYTES: given}))


def test_an_empty_endpoint_means_aws_itself() -> None:
    assert Settings.from_env(env(AWS_ENDPOINT_URL="")).endpoint_url is None


def test_issuer_and_key_set_on_aws() -> None:
    on_aws = Settings.from_env(env(AWS_REGION="eu-west-1", **{USER_POOL_ID: "eu-west-1_Pool"}))
    issuer = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool"
    assert on_aws.jwt_issuer == issuer
    assert on_aws.jwks_url == f"{issuer}/.well-known/jwks.json"


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:4566", "http://127.0.0.1:4566/"])
def test_the_local_cloud_serves_the_key_set_but_keeps_the_aws_issuer(endpoint: str) -> None:
    local = Settings.from_env(env(AWS_ENDPOINT_URL=endpoint, **{USER_POOL_ID: "us-east-1_P"}))
    assert local.jwks_url == "http://127.0.0.1:4566/us-east-1_P/.well-known/jwks.json"
    assert local.jwt_issuer == "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_P"


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("fresh_settings")
def test_the_process_settings_are_read_once_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    first = get_settings()
    monkeypatch.setenv(NODE_PREFIX, "99.1")
    assert get_settings() is first
    assert first.node_prefix == "88.100"


@pytest.mark.usefixtures("fresh_settings")
def test_a_broken_environment_fails_at_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(IDENTIFIERS_TABLE, raising=False)
    with pytest.raises(SettingsError, match=IDENTIFIERS_TABLE):
        get_settings()
