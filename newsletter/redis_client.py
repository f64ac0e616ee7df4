"""The one Redis client factory (`redis_store`), without Flask: the web app reaches it as
`extensions.redis_store`, the send worker directly."""

from __future__ import annotations

from typing import Any


class RedisStore:
    """The one way to get a Redis client: one client (one connection pool) per URL, kind
    and process, built from REDIS_URL (redis://, rediss:// for TLS, :password@ for AUTH) and
    REDIS_CA_FILE (the CA that signed the server's certificate, for a private CA).

    `client(config)` answers within seconds (web requests, enqueueing, rate limits: a Redis
    that hangs must not hang a request); `client(config, blocking=True)` has no read timeout,
    for RQ workers, whose BLPOP waits for minutes. Works with an app's config or without an
    app (the send worker), hence the config argument.
    """

    def __init__(self) -> None:
        self._clients: dict[tuple, Any] = {}

    def init_app(self, app) -> None:
        app.extensions["redis"] = self

    def client(self, config=None, *, blocking: bool = False):
        from redis import Redis

        if config is None:  # inside the Flask app (a request, a command)
            from flask import current_app

            config = current_app.config
        url, ca_file = config["REDIS_URL"], config.get("REDIS_CA_FILE") or None
        key = (url, ca_file, blocking)
        client = self._clients.get(key)
        if client is None:
            options: dict[str, Any] = {"socket_connect_timeout": 5, "health_check_interval": 30}
            if not blocking:
                options["socket_timeout"] = 5
            if url.startswith("rediss://") and ca_file:
                options["ssl_ca_certs"] = ca_file
            client = self._clients[key] = Redis.from_url(url, **options)
        return client


redis_store = RedisStore()
