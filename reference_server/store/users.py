"""Users and their bearer tokens (stored as SHA-256 hashes, looked up by `_id`)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Any

from reference_server.models import utcnow


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class UserRepo:
    def __init__(self, users: Any, tokens: Any) -> None:
        self.users = users
        self.tokens = tokens

    async def create(self, name: str) -> tuple[str, str]:
        user_id = uuid.uuid4().hex
        token = secrets.token_urlsafe(32)
        await self.users.insert_one(
            {"_id": user_id, "name": name, "created_at": utcnow()}, comment="users"
        )
        await self.tokens.insert_one({"_id": hash_token(token), "user_id": user_id}, comment="auth")
        return user_id, token

    async def user_for_token_hash(self, token_hash: str) -> str | None:
        doc = await self.tokens.find_one({"_id": token_hash}, comment="auth")
        return None if doc is None else str(doc["user_id"])
