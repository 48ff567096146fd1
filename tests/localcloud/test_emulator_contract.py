"""The emulator behaviours the product relies on, pinned so that an emulator upgrade that
changes them fails here, loudly, rather than somewhere deep in an end-to-end scenario.

Each test builds its own throwaway resources with boto3, so it checks the emulator and not
the stack. The last section pins known gaps: where the local cloud is more lenient than AWS,
the infra tests, not the local cloud, must catch a misconfiguration.
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.localcloud

AwsClientFactory = Callable[[str], Any]  # the `aws_client` fixture
REGION = "us-east-1"
PASSWORD = "Correct-Horse-Battery-9"
# Loopback only: never route a request to the local cloud through a proxy.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """GET a local cloud URL; the status and the decoded JSON body, errors included."""
    if not url.startswith("http://127.0.0.1:") and not url.startswith("http://localhost:"):
        raise ValueError(f"not a local cloud URL: {url}")
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310  (checked above)
    try:
        with _DIRECT.open(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


# DynamoDB


@pytest.fixture(scope="module")
def identifiers_table(aws_client: AwsClientFactory) -> Iterator[str]:
    """A table shaped like the identifiers table: hash `handle`, GSI byPrefix(prefix, handle)."""
    dynamodb = aws_client("dynamodb")
    name = _unique("contract-identifiers")
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "handle", "AttributeType": "S"},
            {"AttributeName": "prefix", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "handle", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "byPrefix",
                "KeySchema": [
                    {"AttributeName": "prefix", "KeyType": "HASH"},
                    {"AttributeName": "handle", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    dynamodb.get_waiter("table_exists").wait(TableName=name)
    yield name
    dynamodb.delete_table(TableName=name)


def _item(handle: str, **extra: str) -> dict[str, Any]:
    prefix = handle.split("/", 1)[0]
    item: dict[str, Any] = {"handle": {"S": handle}, "prefix": {"S": prefix}}
    item.update({name: {"S": value} for name, value in extra.items()})
    return item


def test_conditional_put_fails_with_conditional_check_failed(
    aws_client: AwsClientFactory, identifiers_table: str
) -> None:
    dynamodb = aws_client("dynamodb")
    handle = f"88.100.1234/{_unique('PUMP')}"
    create_once = {
        "TableName": identifiers_table,
        "ConditionExpression": "attribute_not_exists(#h)",
        "ExpressionAttributeNames": {"#h": "handle"},
    }
    dynamodb.put_item(Item=_item(handle, owner="first"), **create_once)
    with pytest.raises(ClientError) as raised:
        dynamodb.put_item(Item=_item(handle, owner="second"), **create_once)
    assert raised.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    stored = dynamodb.get_item(TableName=identifiers_table, Key={"handle": {"S": handle}})
    assert stored["Item"]["owner"] == {"S": "first"}


def test_transaction_is_all_or_nothing(
    aws_client: AwsClientFactory, identifiers_table: str
) -> None:
    dynamodb = aws_client("dynamodb")
    taken = f"88.100.1234/{_unique('TAKEN')}"
    fresh = [f"88.100.1234/{_unique('NEW')}" for _ in range(2)]
    dynamodb.put_item(TableName=identifiers_table, Item=_item(taken))

    def create(handle: str) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": identifiers_table,
                "Item": _item(handle),
                "ConditionExpression": "attribute_not_exists(handle)",
            }
        }

    dynamodb.transact_write_items(TransactItems=[create(fresh[0]), create(fresh[1])])
    for handle in fresh:
        found = dynamodb.get_item(TableName=identifiers_table, Key={"handle": {"S": handle}})
        assert "Item" in found

    rejected = f"88.100.1234/{_unique('REJECTED')}"
    with pytest.raises(ClientError) as raised:
        dynamodb.transact_write_items(TransactItems=[create(rejected), create(taken)])
    error = raised.value.response
    assert error["Error"]["Code"] == "TransactionCanceledException"
    # One reason per item, in order; the product maps the failed one back to its identifier.
    codes = [reason.get("Code") for reason in error.get("CancellationReasons", [])]
    assert codes == ["None", "ConditionalCheckFailed"]
    missing = dynamodb.get_item(TableName=identifiers_table, Key={"handle": {"S": rejected}})
    assert "Item" not in missing


def test_gsi_query_orders_by_range_key_and_pages(
    aws_client: AwsClientFactory, identifiers_table: str
) -> None:
    dynamodb = aws_client("dynamodb")
    prefix = f"88.100.{uuid.uuid4().int % 10**8}"
    suffixes = ["C-3", "A-1", "B-2", "D-4", "A-0"]
    for suffix in suffixes:
        dynamodb.put_item(TableName=identifiers_table, Item=_item(f"{prefix}/{suffix}"))
    dynamodb.put_item(TableName=identifiers_table, Item=_item(f"{prefix}9/OTHER"))
    query = {
        "TableName": identifiers_table,
        "IndexName": "byPrefix",
        "KeyConditionExpression": "#p = :p",
        "ExpressionAttributeNames": {"#p": "prefix"},
        "ExpressionAttributeValues": {":p": {"S": prefix}},
        "Limit": 2,
    }
    handles: list[str] = []
    pages = 0
    start: dict[str, Any] | None = None
    while True:
        page = dynamodb.query(**query, **({"ExclusiveStartKey": start} if start else {}))
        pages += 1
        handles += [item["handle"]["S"] for item in page["Items"]]
        start = page.get("LastEvaluatedKey")
        if not start:
            break
        # The page token of a GSI query carries the table key and the index keys.
        assert set(start) == {"handle", "prefix"}
    assert handles == sorted(f"{prefix}/{suffix}" for suffix in suffixes)
    assert pages >= 3

    narrowed = dynamodb.query(
        **{
            **query,
            "Limit": 10,
            "KeyConditionExpression": "#p = :p AND begins_with(handle, :h)",
            "ExpressionAttributeValues": {":p": {"S": prefix}, ":h": {"S": f"{prefix}/A-"}},
        }
    )
    assert [item["handle"]["S"] for item in narrowed["Items"]] == [f"{prefix}/A-0", f"{prefix}/A-1"]


# Cognito


@dataclass(frozen=True)
class UserPool:
    """A throwaway pool shaped like the product's: custom `enterprise`, groups, public client."""

    pool_id: str
    client_id: str
    username: str


def _create_pool(aws_client: AwsClientFactory, auth_flows: list[str], read: list[str]) -> UserPool:
    cognito = aws_client("cognito-idp")
    pool = cognito.create_user_pool(
        PoolName=_unique("contract"),
        Schema=[{"Name": "enterprise", "AttributeDataType": "String", "Mutable": True}],
    )["UserPool"]
    client = cognito.create_user_pool_client(
        UserPoolId=pool["Id"],
        ClientName="web",
        GenerateSecret=False,
        ExplicitAuthFlows=auth_flows,
        ReadAttributes=read,
    )["UserPoolClient"]
    cognito.create_group(UserPoolId=pool["Id"], GroupName="enterprise-admin")
    username = "alice"
    cognito.admin_create_user(
        UserPoolId=pool["Id"],
        Username=username,
        MessageAction="SUPPRESS",
        UserAttributes=[
            {"Name": "email", "Value": "alice@example.com"},
            {"Name": "custom:enterprise", "Value": "88.100.1234"},
        ],
    )
    cognito.admin_set_user_password(
        UserPoolId=pool["Id"], Username=username, Password=PASSWORD, Permanent=True
    )
    cognito.admin_add_user_to_group(
        UserPoolId=pool["Id"], Username=username, GroupName="enterprise-admin"
    )
    return UserPool(pool["Id"], client["ClientId"], username)


@pytest.fixture(scope="module")
def user_pool(aws_client: AwsClientFactory) -> Iterator[UserPool]:
    """A pool whose app client allows USER_PASSWORD_AUTH and reads custom:enterprise."""
    pool = _create_pool(
        aws_client,
        ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        ["email", "custom:enterprise"],
    )
    yield pool
    aws_client("cognito-idp").delete_user_pool(UserPoolId=pool.pool_id)


def _id_token(aws_client: AwsClientFactory, pool: UserPool, password: str = PASSWORD) -> str:
    result = aws_client("cognito-idp").initiate_auth(
        ClientId=pool.client_id,
        AuthFlow="USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": pool.username, "PASSWORD": password},
    )
    return str(result["AuthenticationResult"]["IdToken"])


def test_password_auth_returns_an_id_token_verifiable_with_the_pool_jwks(
    aws_client: AwsClientFactory, user_pool: UserPool, local_stack: dict[str, Any]
) -> None:
    token = _id_token(aws_client, user_pool)
    status, jwks = _get(f"{local_stack['endpointUrl']}/{user_pool.pool_id}/.well-known/jwks.json")
    assert status == 200
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "RS256"
    key = jwt.PyJWKSet.from_dict(jwks)[header["kid"]]
    claims = jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience=user_pool.client_id,
        issuer=f"https://cognito-idp.{REGION}.amazonaws.com/{user_pool.pool_id}",
    )
    assert claims["token_use"] == "id"
    assert claims["cognito:username"] == user_pool.username
    assert claims["cognito:groups"] == ["enterprise-admin"]
    assert claims["custom:enterprise"] == "88.100.1234"


def test_wrong_password_is_not_authorized(
    aws_client: AwsClientFactory, user_pool: UserPool
) -> None:
    with pytest.raises(ClientError) as raised:
        _id_token(aws_client, user_pool, password="Wrong-Horse-Battery-9")
    assert raised.value.response["Error"]["Code"] == "NotAuthorizedException"


# HTTP API (payload 2.0) to a Lambda function

_ECHO_SOURCE = """\
import json


def handler(event, context):
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(event),
    }
"""


@dataclass(frozen=True)
class EchoApi:
    """An HTTP API whose routes all answer with the event the function received."""

    base_url: str
    id_token: str


@pytest.fixture(scope="module")
def echo_api(
    aws_client: AwsClientFactory, local_stack: dict[str, Any], user_pool: UserPool
) -> Iterator[EchoApi]:
    """Routes shaped like the product's, plus one behind a Cognito JWT authorizer."""
    functions = aws_client("lambda")
    gateway = aws_client("apigatewayv2")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("index.py", _ECHO_SOURCE)
    name = _unique("contract-echo")
    function = functions.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role="arn:aws:iam::000000000000:role/contract-echo",
        Handler="index.handler",
        Code={"ZipFile": archive.getvalue()},
    )
    functions.get_waiter("function_active_v2").wait(FunctionName=name)
    api_id = gateway.create_api(Name=name, ProtocolType="HTTP")["ApiId"]
    integration = gateway.create_integration(
        ApiId=api_id,
        IntegrationType="AWS_PROXY",
        IntegrationUri=function["FunctionArn"],
        PayloadFormatVersion="2.0",
    )["IntegrationId"]
    authorizer = gateway.create_authorizer(
        ApiId=api_id,
        AuthorizerType="JWT",
        Name="cognito",
        IdentitySource=["$request.header.Authorization"],
        JwtConfiguration={
            "Audience": [user_pool.client_id],
            "Issuer": f"https://cognito-idp.{REGION}.amazonaws.com/{user_pool.pool_id}",
        },
    )["AuthorizerId"]
    target = f"integrations/{integration}"
    gateway.create_route(ApiId=api_id, RouteKey="ANY /api/handles/{handle+}", Target=target)
    gateway.create_route(ApiId=api_id, RouteKey="GET /api/handles", Target=target)
    gateway.create_route(
        ApiId=api_id,
        RouteKey="POST /graphql",
        Target=target,
        AuthorizationType="JWT",
        AuthorizerId=authorizer,
    )
    gateway.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    functions.add_permission(
        FunctionName=name,
        StatementId="http-api",
        Action="lambda:InvokeFunction",
        Principal="apigateway.amazonaws.com",
    )
    base_url = f"{local_stack['endpointUrl']}/_aws/execute-api/{api_id}/$default"
    yield EchoApi(base_url, _id_token(aws_client, user_pool))
    gateway.delete_api(ApiId=api_id)
    functions.delete_function(FunctionName=name)


def test_greedy_route_passes_the_identifier_with_its_slash(echo_api: EchoApi) -> None:
    status, event = _get(f"{echo_api.base_url}/api/handles/88.100.1234/PUMP-0001?type=URL&index=1")
    assert status == 200
    # What the handles function receives for GET /api/handles/88.100.1234/PUMP-0001:
    assert event["version"] == "2.0"
    assert event["routeKey"] == "ANY /api/handles/{handle+}"
    assert event["rawPath"] == "/api/handles/88.100.1234/PUMP-0001"  # no stage in the path
    assert event["pathParameters"] == {"handle": "88.100.1234/PUMP-0001"}
    assert event["rawQueryString"] == "type=URL&index=1"
    assert event["queryStringParameters"] == {"type": "URL", "index": "1"}
    assert event["requestContext"]["http"]["method"] == "GET"
    assert event["requestContext"]["http"]["path"] == "/api/handles/88.100.1234/PUMP-0001"
    assert event["requestContext"]["stage"] == "$default"


def test_percent_encoding_is_decoded_in_both_raw_path_and_path_parameters(
    echo_api: EchoApi,
) -> None:
    # An encoded slash (as some Handle clients send it) and an encoded space arrive decoded,
    # in rawPath too: the function cannot tell `%2F` from `/`.
    _, event = _get(f"{echo_api.base_url}/api/handles/88.100.1234%2FPUMP%200001")
    assert event["routeKey"] == "ANY /api/handles/{handle+}"
    assert event["rawPath"] == "/api/handles/88.100.1234/PUMP 0001"
    assert event["pathParameters"] == {"handle": "88.100.1234/PUMP 0001"}


def test_listing_route_has_no_path_parameters(echo_api: EchoApi) -> None:
    _, event = _get(f"{echo_api.base_url}/api/handles?prefix=88.100.1234")
    assert event["routeKey"] == "GET /api/handles"
    assert event["rawPath"] == "/api/handles"
    assert event.get("pathParameters") is None
    assert event["queryStringParameters"] == {"prefix": "88.100.1234"}


def test_unrouted_path_is_not_found(echo_api: EchoApi) -> None:
    status, _ = _get(f"{echo_api.base_url}/api/handles/")
    assert status == 404


def test_jwt_authorizer_rejects_missing_tokens_and_passes_string_claims(
    echo_api: EchoApi,
) -> None:
    def post(headers: dict[str, str]) -> tuple[int, Any]:
        if not echo_api.base_url.startswith("http://"):
            raise ValueError(echo_api.base_url)
        request = urllib.request.Request(  # noqa: S310  (a local cloud URL, checked above)
            f"{echo_api.base_url}/graphql",
            data=b'{"query": "{ __typename }"}',
            headers={"content-type": "application/json", **headers},
            method="POST",
        )
        try:
            with _DIRECT.open(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, None

    assert post({})[0] == 401
    assert post({"authorization": f"Bearer {echo_api.id_token[:-4]}AAAA"})[0] == 401
    status, event = post({"authorization": f"Bearer {echo_api.id_token}"})
    assert status == 200
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    # As on AWS, every claim is flattened to a string; groups look like "[a b]".
    assert claims["cognito:groups"] == "[enterprise-admin]"
    assert claims["custom:enterprise"] == "88.100.1234"
    assert claims["token_use"] == "id"
    assert isinstance(claims["exp"], str)
    assert event["headers"]["authorization"].startswith("Bearer ")


# Known gaps: the local cloud is more lenient than AWS here


def test_gap_app_client_settings_are_not_enforced(aws_client: AwsClientFactory) -> None:
    """AWS refuses USER_PASSWORD_AUTH unless the client allows it, and leaves custom:enterprise
    out of ID tokens unless the client may read it. The emulator does neither, so the infra
    tests must assert the client's ExplicitAuthFlows and ReadAttributes."""
    pool = _create_pool(aws_client, ["ALLOW_USER_SRP_AUTH"], ["email"])
    try:
        claims = jwt.decode(_id_token(aws_client, pool), options={"verify_signature": False})
        assert claims["custom:enterprise"] == "88.100.1234"
    finally:
        aws_client("cognito-idp").delete_user_pool(UserPoolId=pool.pool_id)
