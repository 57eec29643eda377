"""How the Blob destination connects: a connection string, else the account URL and Entra ID.

The SDK's own retries are turned off here: only the destination knows the append
position a retry must be conditioned on. The connection pool keeps a connection for each
append the exporter sends at once (``OTEL_MODELDATA_MAX_CONCURRENT_APPENDS``) and for the
spool's replayer: past the SDK's ten, every extra request would open a connection of its own
and pay a round trip for it.

``requests`` looks in the environment for every request (proxy variables, a netrc file, a CA
bundle): about a tenth of an append's CPU. When there is no proxy and no netrc file as
collection is configured, the transport skips the look-up and is given the CA bundle named
in the environment, if any, once; otherwise requests look as before.
"""

from __future__ import annotations

import os
import urllib.request
from typing import Any, Final

from azure.core.pipeline.transport import RequestsTransport
from azure.storage.blob import BlobServiceClient

from ..settings import (
    AZURE_STORAGE_CONNECTION_STRING,
    STORAGE_ACCOUNT_URL,
    STORAGE_CONNECTION_STRING,
    ConfigurationError,
    Settings,
)


def connect(settings: Settings, client_options: dict[str, Any]) -> tuple[BlobServiceClient, Any]:
    """The service client, and the credential to close with it (None with a connection string).

    ``client_options`` go to ``BlobServiceClient`` (a transport or timeouts, say).
    """
    options: dict[str, Any] = {
        "connection_timeout": 10,
        "read_timeout": 30,
        **client_options,
        "retry_total": 0,
    }
    if "transport" not in options:
        connections = max(settings.max_concurrent_appends + SPARE_CONNECTIONS, DEFAULT_POOL_SIZE)
        options["transport"] = _PooledTransport(
            connections,
            connection_timeout=options["connection_timeout"],
            read_timeout=options["read_timeout"],
            **environment_options(),
        )
    if settings.storage_connection_string:
        try:
            service = BlobServiceClient.from_connection_string(settings.storage_connection_string, **options)
        except ValueError:
            raise ConfigurationError(
                f"{STORAGE_CONNECTION_STRING} (or {AZURE_STORAGE_CONNECTION_STRING}) is not a valid "
                "Azure Storage connection string"
            ) from None
        return service, None
    if not settings.storage_account_url:
        raise ConfigurationError(f"set {STORAGE_CONNECTION_STRING} or {STORAGE_ACCOUNT_URL}")
    try:
        from azure.identity import DefaultAzureCredential
    except ImportError:
        raise ConfigurationError(
            f"{STORAGE_ACCOUNT_URL} authenticates with azure-identity, which is not installed: "
            "pip install 'otel-modeldata[identity]'"
        ) from None
    credential = DefaultAzureCredential()
    try:
        service = BlobServiceClient(settings.storage_account_url, credential=credential, **options)
    except ValueError:
        credential.close()
        raise ConfigurationError(f"{STORAGE_ACCOUNT_URL} is not a valid blob account URL") from None
    return service, credential


def environment_options() -> dict[str, Any]:
    """Transport options that stand for what ``requests`` would read from the environment per request.

    With a proxy (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY`` in either case, or
    the system's settings where Python reads them) or a netrc file (``NETRC``, ``~/.netrc``,
    ``~/_netrc``), requests keep looking for every request. Otherwise only the CA bundle
    (``REQUESTS_CA_BUNDLE``, else ``CURL_CA_BUNDLE``) is left, and it is given once.
    """
    if urllib.request.getproxies() or _netrc_present():
        return {"use_env_settings": True}
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    return {"use_env_settings": False, **({"connection_verify": bundle} if bundle else {})}


def _netrc_present() -> bool:
    if "NETRC" in os.environ:
        return True
    return any(os.path.exists(os.path.expanduser(f"~/{name}")) for name in (".netrc", "_netrc"))


#: Connections the SDK's transport keeps per host.
DEFAULT_POOL_SIZE: Final = 10
#: Connections kept beyond the concurrent appends: the replayer's, and one for a header read.
SPARE_CONNECTIONS: Final = 2


class _PooledTransport(RequestsTransport):  # type: ignore[misc]  # azure-core is untyped here
    """The SDK's default transport with ``connections`` kept per host instead of ten."""

    def __init__(self, connections: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._connections = connections

    def _init_session(self, session: Any) -> None:
        super()._init_session(session)
        for scheme in self._protocols:
            session.get_adapter(scheme).init_poolmanager(DEFAULT_POOL_SIZE, self._connections)
