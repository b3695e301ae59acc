"""Toxiproxy's HTTP API over asyncio: the routes, bodies, status codes and errors of Toxiproxy v2.

Routes: GET /version; POST /reset; GET and POST /proxies; POST /populate; GET, POST (or PATCH) and
DELETE /proxies/{proxy}; GET and POST /proxies/{proxy}/toxics; GET, POST (or PATCH) and DELETE
/proxies/{proxy}/toxics/{toxic}. One route is this server's own: GET /proxies/{proxy}/connections
lists the live connections with the local address of each one's upstream side, which is how the
harness tells one broker's database sessions from another's.

Errors are Toxiproxy's: a JSON body ``{"error": ..., "status": ...}`` sent as text/plain (Go's
http.Error), 400 for a bad body, an invalid stream or toxic type, 404 for an unknown proxy or toxic,
409 for a duplicate name, 500 for a listen address that cannot be bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

from harness.toxiproxy.errors import ApiError, bad_request, missing_field, proxy_exists, proxy_not_found
from harness.toxiproxy.proxy import Proxy
from harness.toxiproxy.toxics import toxic_from_json

log = logging.getLogger("harness.toxiproxy")

VERSION = "amq-harness-0.1.0"
MAX_BODY = 1 << 20


class Response:
    def __init__(self, status: int, body: bytes = b"", content_type: str | None = "application/json") -> None:
        self.status = status
        self.body = body
        self.content_type = content_type

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Response:
        return cls(status, json.dumps(value).encode())

    @classmethod
    def error(cls, error: ApiError) -> Response:
        # Go's http.Error: the JSON text, a newline, served as plain text.
        return cls(error.status, json.dumps(error.to_json()).encode() + b"\n", "text/plain; charset=utf-8")


def _decode(body: bytes) -> Any:
    if not body.strip():
        raise bad_request("EOF")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise bad_request(str(exc)) from exc


class ToxiproxyApi:
    """The proxies of one server and the HTTP API that manages them."""

    def __init__(self, seed: int | None = None) -> None:
        self.proxies: dict[str, Proxy] = {}
        self._rng = random.Random(seed)
        self._lock = asyncio.Lock()  # one change at a time, as Toxiproxy's collection lock

    # -- routing ----------------------------------------------------------------------------
    async def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Response:
        if headers.get("user-agent", "").startswith("Mozilla/"):
            return Response(403, b"User agent not allowed\n", "text/plain; charset=utf-8")
        parts = [unquote(p) for p in urlsplit(target).path.split("/")[1:]]
        try:
            async with self._lock:
                return await self._route(method, parts, body)
        except ApiError as error:
            return Response.error(error)

    async def _route(self, method: str, parts: list[str], body: bytes) -> Response:
        methods: dict[str, Any]
        if parts == ["version"]:
            methods = {"GET": self._version}
        elif parts == ["reset"]:
            methods = {"POST": self._reset}
        elif parts == ["populate"]:
            methods = {"POST": self._populate}
        elif parts == ["proxies"]:
            methods = {"GET": self._proxy_index, "POST": self._proxy_create}
        elif len(parts) == 2 and parts[0] == "proxies" and parts[1]:
            methods = {
                "GET": self._proxy_show,
                "POST": self._proxy_update,
                "PATCH": self._proxy_update,
                "DELETE": self._proxy_delete,
            }
        elif len(parts) == 3 and parts[0] == "proxies" and parts[2] == "toxics":
            methods = {"GET": self._toxic_index, "POST": self._toxic_create}
        elif len(parts) == 3 and parts[0] == "proxies" and parts[2] == "connections":
            methods = {"GET": self._connections}
        elif len(parts) == 4 and parts[0] == "proxies" and parts[2] == "toxics" and parts[3]:
            methods = {
                "GET": self._toxic_show,
                "POST": self._toxic_update,
                "PATCH": self._toxic_update,
                "DELETE": self._toxic_delete,
            }
        else:
            return Response(404, b"404 page not found\n", "text/plain; charset=utf-8")
        handler = methods.get(method)
        if handler is None:
            return Response(405, b"", None)
        result: Response = await handler(parts[1:], body)
        return result

    def _proxy(self, name: str) -> Proxy:
        try:
            return self.proxies[name]
        except KeyError:
            raise proxy_not_found() from None

    # -- handlers ---------------------------------------------------------------------------
    async def _version(self, args: list[str], body: bytes) -> Response:
        return Response(200, json.dumps({"version": VERSION}).encode() + b"\n", "application/json;charset=utf-8")

    async def _reset(self, args: list[str], body: bytes) -> Response:
        for proxy in self.proxies.values():
            await proxy.start()
            proxy.reset_toxics()
        return Response(204, b"", None)

    async def _proxy_index(self, args: list[str], body: bytes) -> Response:
        return Response.json({name: self.proxies[name].to_json() for name in sorted(self.proxies)})

    async def _proxy_create(self, args: list[str], body: bytes) -> Response:
        fields = _proxy_fields(_decode(body))
        if not fields.get("name"):
            raise missing_field("name")
        if not fields.get("upstream"):
            raise missing_field("upstream")
        if fields["name"] in self.proxies:
            raise proxy_exists()
        proxy = Proxy(fields["name"], fields.get("listen") or ":0", fields["upstream"], self._rng)
        if fields.get("enabled", True):
            await proxy.start()
        self.proxies[proxy.name] = proxy
        return Response.json(proxy.to_json(), 201)

    async def _populate(self, args: list[str], body: bytes) -> Response:
        entries = _decode(body)
        if not isinstance(entries, list):
            raise bad_request("expected a JSON array of proxies")
        wanted = [_proxy_fields(entry) for entry in entries]
        for number, fields in enumerate(wanted, start=1):  # check everything before changing anything
            if not fields.get("name"):
                raise missing_field(f"name at proxy {number}")
            if not fields.get("upstream"):
                raise missing_field(f"upstream at proxy {number}")
        populated: list[Proxy] = []
        for fields in wanted:
            try:
                populated.append(await self._add_or_replace(fields))
            except ApiError as error:
                return Response.json({**error.to_json(), "proxies": [p.to_json() for p in populated]}, error.status)
        return Response.json({"proxies": [p.to_json() for p in populated]}, 201)

    async def _add_or_replace(self, fields: dict[str, Any]) -> Proxy:
        listen = fields.get("listen") or ":0"
        existing = self.proxies.get(fields["name"])
        if existing is not None:
            if not existing.differs(listen, fields["upstream"]):
                return existing
            await existing.stop()
        proxy = Proxy(fields["name"], listen, fields["upstream"], self._rng)
        if fields.get("enabled", True):
            await proxy.start()
        self.proxies[proxy.name] = proxy
        return proxy

    async def _proxy_show(self, args: list[str], body: bytes) -> Response:
        return Response.json(self._proxy(args[0]).to_json())

    async def _proxy_update(self, args: list[str], body: bytes) -> Response:
        proxy = self._proxy(args[0])
        fields = _proxy_fields(_decode(body))
        listen, upstream = fields.get("listen", proxy.listen), fields.get("upstream", proxy.upstream)
        await proxy.update(listen, upstream, fields.get("enabled", proxy.enabled))
        return Response.json(proxy.to_json())

    async def _proxy_delete(self, args: list[str], body: bytes) -> Response:
        proxy = self._proxy(args[0])
        await proxy.stop()
        del self.proxies[proxy.name]
        return Response(204, b"", None)

    async def _toxic_index(self, args: list[str], body: bytes) -> Response:
        return Response.json([t.to_json() for t in self._proxy(args[0]).toxics])

    async def _toxic_create(self, args: list[str], body: bytes) -> Response:
        proxy = self._proxy(args[0])
        toxic = toxic_from_json(_decode(body))
        proxy.add_toxic(toxic)
        return Response.json(toxic.to_json())

    async def _toxic_show(self, args: list[str], body: bytes) -> Response:
        return Response.json(self._proxy(args[0]).toxic(args[2]).to_json())

    async def _toxic_update(self, args: list[str], body: bytes) -> Response:
        return Response.json(self._proxy(args[0]).update_toxic(args[2], _decode(body)).to_json())

    async def _toxic_delete(self, args: list[str], body: bytes) -> Response:
        self._proxy(args[0]).remove_toxic(args[2])
        return Response(204, b"", None)

    async def _connections(self, args: list[str], body: bytes) -> Response:
        return Response.json([c.describe() for c in self._proxy(args[0]).connections])

    async def close(self) -> None:
        for proxy in self.proxies.values():
            await proxy.close()


def _proxy_fields(value: object) -> dict[str, Any]:
    """The fields of a proxy in a request body, type-checked as Go's decoder would."""
    if not isinstance(value, dict):
        raise bad_request("expected a JSON object")
    fields: dict[str, Any] = {}
    for key in ("name", "listen", "upstream"):
        if value.get(key) is not None:
            if not isinstance(value[key], str):
                raise bad_request(f"{key} must be a string, got {value[key]!r}")
            fields[key] = value[key]
    if value.get("enabled") is not None:
        if not isinstance(value["enabled"], bool):
            raise bad_request(f"enabled must be true or false, got {value['enabled']!r}")
        fields["enabled"] = value["enabled"]
    return fields


# -- HTTP/1.1 over asyncio streams ---------------------------------------------------------------
async def serve_http(api: ToxiproxyApi, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer requests on one connection until the client closes it or asks to."""
    try:
        while True:
            request_line = await reader.readline()
            if not request_line.strip():
                return
            method, target, version = [*request_line.decode("latin-1").split(), "", "", ""][:3]
            headers: dict[str, str] = {}
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                key, _, value = line.decode("latin-1").partition(":")
                headers[key.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
            if length > MAX_BODY:
                return
            body = await reader.readexactly(length) if length else b""
            response = await api.handle(method.upper(), target, headers, body)
            keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
            writer.write(_encode(response, keep_alive))
            await writer.drain()
            if not keep_alive:
                return
    except (ConnectionError, asyncio.IncompleteReadError, ValueError) as exc:
        log.debug("API connection ended: %s", exc)
    except asyncio.CancelledError:
        pass  # the server is shutting down; ending quietly keeps asyncio from logging the cancellation
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def _encode(response: Response, keep_alive: bool) -> bytes:
    reason = HTTPStatus(response.status).phrase
    lines = [f"HTTP/1.1 {response.status} {reason}"]
    if response.content_type:
        lines.append(f"Content-Type: {response.content_type}")
    if response.content_type and response.content_type.startswith("text/plain"):
        lines.append("X-Content-Type-Options: nosniff")
    if response.status != 204:
        lines.append(f"Content-Length: {len(response.body)}")
    lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (response.body if response.status != 204 else b"")
