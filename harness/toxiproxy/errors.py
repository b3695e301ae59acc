"""Errors of the Toxiproxy API: a message and an HTTP status, sent as ``{"error": ..., "status": ...}``."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def to_json(self) -> dict[str, Any]:
        return {"error": self.message, "status": self.status}


def bad_request(detail: str) -> ApiError:
    return ApiError(f"bad request body: {detail}", 400)


def missing_field(detail: str) -> ApiError:
    return ApiError(f"missing required field: {detail}", 400)


PROXY_NOT_FOUND = ("proxy not found", 404)
PROXY_EXISTS = ("proxy already exists", 409)
TOXIC_NOT_FOUND = ("toxic not found", 404)
TOXIC_EXISTS = ("toxic already exists", 409)


def proxy_not_found() -> ApiError:
    return ApiError(*PROXY_NOT_FOUND)


def proxy_exists() -> ApiError:
    return ApiError(*PROXY_EXISTS)


def toxic_not_found() -> ApiError:
    return ApiError(*TOXIC_NOT_FOUND)


def toxic_exists() -> ApiError:
    return ApiError(*TOXIC_EXISTS)
