"""Token buckets with the target semantics of rules R1-R8."""

import time

OPERATIONS = ("read", "write", "delete", "all")
WINDOW_MS = 60_000


class RateLimit:
    """One limit and its own buckets, one per scope value (R5, R6)."""

    def __init__(self, operation, max_per_minute, scope):
        if not isinstance(operation, str):
            raise TypeError(f"operation must be a string, got {type(operation).__name__}")
        if operation not in OPERATIONS:
            raise ValueError(f"operation must be one of {', '.join(OPERATIONS)}, got {operation!r} (rule R8)")
        if isinstance(max_per_minute, bool) or not isinstance(max_per_minute, (int, float)):
            raise TypeError(f"max_per_minute must be a number, got {type(max_per_minute).__name__}")
        if max_per_minute != int(max_per_minute) or max_per_minute < 1:
            raise ValueError(f"max_per_minute must be a positive integer, got {max_per_minute!r} (rule R8)")
        if not isinstance(scope, str):
            raise TypeError(f"scope must be a string, got {type(scope).__name__}")
        if scope == "":
            raise ValueError("scope must not be empty (rule R8)")
        self.operation = operation
        self.capacity = int(max_per_minute)
        self.scope = scope
        # scope value -> (level in token-milliseconds, last refill in ms). Integers keep the
        # fractions of a token exactly (R4).
        self._buckets = {}

    def applies_to(self, operation):
        return self.operation in (operation, "all")

    def scope_value(self, context):
        if self.scope == "global":
            return "global"
        return context.get(self.scope) or "unknown"

    def level(self, value, now_ms):
        full = self.capacity * WINDOW_MS
        bucket = self._buckets.get(value)
        if bucket is None:
            return full
        units, last = bucket
        return min(full, units + max(0, now_ms - last) * self.capacity)

    def take(self, value, level, now_ms):
        self._buckets[value] = (level - WINDOW_MS, now_ms)


def admit(limits, operation, context):
    """True when every applicable limit has a token; takes one from each, or none (R7)."""
    now_ms = round(time.monotonic() * 1000)
    applicable = [limit for limit in limits if limit.applies_to(operation)]
    levels = []
    for limit in applicable:
        value = limit.scope_value(context)
        level = limit.level(value, now_ms)
        if level < WINDOW_MS:
            return False
        levels.append((limit, value, level))
    for limit, value, level in levels:
        limit.take(value, level, now_ms)
    return True
