"""Encryption of everything Temporal stores: a payload codec (AES-256-GCM).

Workflow inputs and results, update and signal arguments, activity arguments and results, memos and
(through encoded failure attributes) failure messages and stack traces all leave this process
encrypted: Temporal's database, its web UI and an exported history hold only ciphertext, readable
with the keys in ``OFFHOURS_PAYLOAD_KEYS`` (the first encrypts, every one decrypts, so a key is
rotated by putting a new one first). An encrypted payload is marked ``binary/encrypted`` and names
its key id in its metadata; its data is nonce (12 bytes) + ciphertext of the original payload.

Payloads that are not encrypted (histories recorded before, test corpora) decode unchanged.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
import os
from collections.abc import Sequence
from typing import Any

import temporalio.converter
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from offhours.settings import Settings

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE = 12


class CodecError(ValueError):
    """An encrypted payload that the configured keys cannot open."""


class EncryptionCodec(temporalio.converter.PayloadCodec):
    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise ValueError("the payload codec needs at least one key")
        self.key_id, key = keys[0]
        self._encryptor = AESGCM(key)
        self._keys = {key_id: AESGCM(k) for key_id, k in keys}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE)
        data = nonce + self._encryptor.encrypt(nonce, payload.SerializeToString(), self.key_id.encode())
        return Payload(metadata={"encoding": ENCODING, KEY_ID: self.key_id.encode()}, data=data)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        key_id = payload.metadata.get(KEY_ID, b"").decode()
        cipher = self._keys.get(key_id)
        if cipher is None:
            raise CodecError(
                f"a payload is encrypted with key '{key_id}', which OFFHOURS_PAYLOAD_KEYS does not list"
            )
        try:
            plain = cipher.decrypt(payload.data[:NONCE], payload.data[NONCE:], key_id.encode())
        except Exception as error:
            raise CodecError(
                f"a payload encrypted with key '{key_id}' does not decrypt (altered?)"
            ) from error
        original = Payload()
        original.ParseFromString(plain)
        return original


class EncodedFailures(temporalio.converter.DefaultFailureConverter):
    """Failure messages and stack traces go into the encoded attributes, hence through the codec."""

    def __init__(self) -> None:
        super().__init__(encode_common_attributes=True)


def codec_for(settings: Settings) -> EncryptionCodec:
    return EncryptionCodec(settings.payload_keys())


def data_converter(settings: Settings) -> temporalio.converter.DataConverter:
    return dataclasses.replace(
        temporalio.converter.default(),
        payload_codec=codec_for(settings),
        failure_converter_class=EncodedFailures,
    )


def with_codec(client: Client, settings: Settings) -> Client:
    """A client on the same connection as `client` that encrypts and decrypts with our keys."""
    if isinstance(client.data_converter.payload_codec, EncryptionCodec):
        return client
    config = client.config()
    config["data_converter"] = data_converter(settings)
    return Client(**config)


# ---------------------------------------------------------------------------- exported histories


def _is_payload(node: dict[str, Any]) -> bool:
    return "data" in node and isinstance(node.get("metadata"), dict)


def _payload_from_json(node: dict[str, Any]) -> Payload:
    return Payload(
        metadata={k: base64.b64decode(v) for k, v in node["metadata"].items()},
        data=base64.b64decode(node.get("data", "")),
    )


def _payload_to_json(payload: Payload) -> dict[str, Any]:
    return {
        "metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
        "data": base64.b64encode(payload.data).decode(),
    }


def decode_history(history: dict[str, Any], codec: EncryptionCodec) -> dict[str, Any]:
    """A copy of an exported history (`temporal workflow show -o json`) with every encrypted
    payload decrypted in place: what an auditor reads. A failure whose message and stack trace were
    encoded (`encodedAttributes`) shows them again in `message` and `stackTrace`."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if is_encrypted(node):
                return _payload_to_json(codec.decrypt(_payload_from_json(node)))
            walked = {k: walk(v) for k, v in node.items()}
            if isinstance(walked.get("encodedAttributes"), dict):
                _restore_failure_text(walked)
            return walked
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    decoded: dict[str, Any] = walk(copy.deepcopy(history))
    return decoded


def _restore_failure_text(failure: dict[str, Any]) -> None:
    attributes = failure["encodedAttributes"]
    if is_encrypted(attributes):
        return
    try:
        text = json.loads(base64.b64decode(attributes.get("data", "")))
    except (ValueError, TypeError):
        return
    if isinstance(text, dict):
        if isinstance(text.get("message"), str):
            failure["message"] = text["message"]
        if text.get("stack_trace"):
            failure["stackTrace"] = text["stack_trace"]


_ENCODED = base64.b64encode(ENCODING).decode()


def is_encrypted(node: dict[str, Any]) -> bool:
    """A payload in exported-history JSON, encrypted by this codec."""
    return _is_payload(node) and node["metadata"].get("encoding") == _ENCODED


def has_encrypted_payloads(node: Any) -> bool:
    """Whether an exported history (or any part of it) holds an encrypted payload."""
    if isinstance(node, dict):
        return is_encrypted(node) or any(has_encrypted_payloads(v) for v in node.values())
    if isinstance(node, list):
        return any(has_encrypted_payloads(v) for v in node)
    return False
