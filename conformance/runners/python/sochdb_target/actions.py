"""Actions, triggers and the violation error (rules K1, E1)."""

from enum import Enum


class PolicyAction(Enum):
    ALLOW = "allow"
    DENY = "deny"
    MODIFY = "modify"
    LOG = "log"
    # Defined by the Python SDK and used by nothing (K1).
    RATE_LIMIT = "rate_limit"


class PolicyTrigger(Enum):
    BEFORE_WRITE = "before_write"
    AFTER_WRITE = "after_write"
    BEFORE_READ = "before_read"
    AFTER_READ = "after_read"
    BEFORE_DELETE = "before_delete"
    AFTER_DELETE = "after_delete"


_VERB = {"write": "Write", "read": "Read", "delete": "Delete"}


def violation_message(code, operation):
    """The seed SDKs' message for each stable code (E1, SP4)."""
    verb = _VERB[operation]
    return {
        "denied": f"{verb} blocked by policy",
        "rate_limited": "Rate limit exceeded",
        "hook_failed": f"{verb} blocked: policy hook failed",
    }[code]


class PolicyViolation(Exception):
    """Raised when a policy blocks an operation; ``code`` is stable, the message is the seed's."""

    def __init__(self, code, operation, key):
        super().__init__(violation_message(code, operation))
        self.code = code
        self.operation = operation
        self.key = key
