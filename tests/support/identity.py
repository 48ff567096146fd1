"""A stand-in for a Cognito user pool's token signing, for tests: RSA keys, a JWKS document
and ID tokens with the claims Cognito puts in them."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

REGION = "us-east-1"
POOL_ID = "us-east-1_TESTPOOL"
CLIENT_ID = "testclient"
ISSUER = f"https://cognito-idp.{REGION}.amazonaws.com/{POOL_ID}"


@dataclass
class TokenIssuer:
    kid: str = "test-key-1"
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    def jwks(self) -> dict[str, Any]:
        public = RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        public.update(kid=self.kid, alg="RS256", use="sig")
        return {"keys": [public]}

    def id_token(
        self,
        username: str,
        groups: list[str] | None = None,
        enterprise: str | None = None,
        **overrides: Any,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": str(uuid.uuid4()),
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "token_use": "id",
            "auth_time": now,
            "iat": now,
            "exp": now + 3600,
            "cognito:username": username,
        }
        if groups:
            claims["cognito:groups"] = groups
        if enterprise:
            claims["custom:enterprise"] = enterprise
        claims.update(overrides)
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})
