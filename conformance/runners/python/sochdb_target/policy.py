"""The seed's built-in helpers (X1, X2): deny_all, allow_all and require_agent_id are
handlers; redact_value and log_and_allow are factories."""

import logging

from .actions import PolicyAction

__all__ = ["deny_all", "allow_all", "require_agent_id", "redact_value", "log_and_allow"]


def deny_all(key, value, context):
    return PolicyAction.DENY


def allow_all(key, value, context):
    return PolicyAction.ALLOW


def require_agent_id(key, value, context):
    return PolicyAction.ALLOW if context.get("agent_id") else PolicyAction.DENY


def redact_value(replacement=b"[REDACTED]"):
    if isinstance(replacement, str):
        replacement = replacement.encode("utf-8")
    replacement = bytes(replacement)

    def handler(key, value, context):
        return (PolicyAction.MODIFY, replacement)

    return handler


def log_and_allow(logger=None):
    log = logger if logger is not None else logging.getLogger("sochdb_target.policy")

    def handler(key, value, context):
        log.info(f"Operation on {key.decode('utf-8', errors='replace')}")
        return PolicyAction.LOG

    return handler
