"""Authentication from activemq.xml's <simpleAuthenticationPlugin>: users, passwords, groups.

The refusal text is ActiveMQ's (SimpleAuthenticationBroker), so clients see the same ERROR from
either vendor. Groups are kept for the log and for the future: pybroker has no authorization
plugin (activemq.xml's <authorizationPlugin> is refused at startup).
"""

from __future__ import annotations

from dataclasses import dataclass


class AuthenticationFailed(Exception):
    """Bad credentials; the message is what the client is told."""


@dataclass(frozen=True)
class User:
    username: str
    password: str
    groups: tuple[str, ...] = ()


@dataclass(frozen=True)
class Principal:
    username: str
    groups: tuple[str, ...]


@dataclass(frozen=True)
class Authenticator:
    users: tuple[User, ...]
    anonymous_access_allowed: bool = False
    anonymous_user: str = "anonymous"
    anonymous_group: str = "anonymous"

    def authenticate(self, login: str | None, passcode: str | None) -> Principal:
        if self.anonymous_access_allowed and login is None and passcode is None:
            return Principal(self.anonymous_user, (self.anonymous_group,))
        for user in self.users:
            if user.username == login:
                if user.password == passcode:
                    return Principal(user.username, user.groups)
                break
        shown = "null" if login is None else login
        raise AuthenticationFailed(f"User name [{shown}] or password is invalid.")
