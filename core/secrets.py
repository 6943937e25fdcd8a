"""Secrets from AWS Secrets Manager (production credentials, the personal-data hash key).

Values are cached per process and never logged; a missing secret is one clear error naming it
(never its value)."""

from __future__ import annotations

import json
from functools import lru_cache

from core.errors import TerraMinerError


@lru_cache(maxsize=32)
def get_secret_string(name: str, endpoint_url: str | None = None) -> str:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    client = boto3.client("secretsmanager", endpoint_url=endpoint_url)
    try:
        return client.get_secret_value(SecretId=name)["SecretString"]
    except (ClientError, BotoCoreError) as err:
        code = getattr(err, "response", {}).get("Error", {}).get("Code", type(err).__name__)
        raise TerraMinerError(f"cannot read secret {name!r} from AWS Secrets Manager ({code})") from None


def get_secret_json(name: str, endpoint_url: str | None = None) -> dict:
    text = get_secret_string(name, endpoint_url)
    try:
        value = json.loads(text)
    except ValueError:
        raise TerraMinerError(f"secret {name!r} is not JSON like {{\"username\": …, \"password\": …}}") from None
    if not isinstance(value, dict):
        raise TerraMinerError(f"secret {name!r} is not a JSON object")
    return value
