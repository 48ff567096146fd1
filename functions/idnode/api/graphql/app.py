"""The GraphQL ASGI application (strawberry), served by Mangum in Lambda and by uvicorn
locally."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from idnode.api.graphql.context import Context, build_context
from idnode.api.graphql.schema import build_schema
from idnode.node import Node


class GraphQLApp(GraphQL[Context, None]):
    def __init__(self, node: Node) -> None:
        graphiql = node.settings.graphiql
        super().__init__(
            build_schema(introspection=graphiql),
            graphql_ide="graphiql" if graphiql else None,
            allow_queries_via_get=False,
        )
        self._node = node

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None
    ) -> Context:
        client = request.client
        source = client.host if client is not None else None
        return build_context(self._node, request.headers.get("authorization"), source)

    async def get_root_value(self, request: Any) -> None:
        return None

    def decode_json(self, data: str | bytes) -> object:
        # A deeply nested body would otherwise escape as a plain-text 500; as a decode error
        # strawberry answers it with 400 like any other unparsable body.
        try:
            return json.loads(data)
        except RecursionError:
            raise json.JSONDecodeError("the request body nests too deeply", "", 0) from None


def create_app(node: Node) -> GraphQLApp:
    return GraphQLApp(node)
