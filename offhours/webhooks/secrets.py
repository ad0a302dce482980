"""Endpoint secrets at rest: sealed with the first master key (AES-256-GCM, the endpoint id as
associated data), so a copy of the database alone cannot sign as offhours."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from offhours.settings import Settings

NONCE = 12


class SecretError(RuntimeError):
    pass


def seal(settings: Settings, endpoint_id: str, secret: str) -> bytes:
    key_id, key = settings.master_keys()[0]
    nonce = os.urandom(NONCE)
    sealed = AESGCM(key).encrypt(nonce, secret.encode(), f"webhook:{endpoint_id}".encode())
    return key_id.encode() + b":" + nonce + sealed


def unseal(settings: Settings, endpoint_id: str, blob: bytes) -> str:
    key_id, _, rest = blob.partition(b":")
    key = dict(settings.master_keys()).get(key_id.decode())
    if key is None:
        raise SecretError(
            f"webhook endpoint {endpoint_id}'s secret is sealed with master key '{key_id.decode()}', "
            "which OFFHOURS_MASTER_KEYS no longer lists: rotate the endpoint's secret"
        )
    try:
        return AESGCM(key).decrypt(rest[:NONCE], rest[NONCE:], f"webhook:{endpoint_id}".encode()).decode()
    except Exception as error:
        raise SecretError(f"webhook endpoint {endpoint_id}'s secret does not unseal") from error
