"""PolicyEngine: rate limits -> before hooks -> storage -> after hooks -> audit (O1-O3)."""

import collections
import time

from .actions import PolicyAction, PolicyTrigger, PolicyViolation
from .glob import compile_pattern, key_text
from .ratelimit import RateLimit, admit

_ALLOW = (PolicyAction.ALLOW, None)
_OPERATIONS = ("read", "write", "delete")


class _HookFailed(Exception):
    """A handler raised or returned something that is not a result (H10, SP3)."""


def _to_bytes(value, name):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"{name} must be bytes or str, got {type(value).__name__}")


def _context(context):
    """C1/C2: a dict of str to str; None means empty; other values are a TypeError (SP5)."""
    if context is None:
        return {}
    if not isinstance(context, dict):
        raise TypeError(f"context must be a dict, got {type(context).__name__}")
    for name, value in context.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(f"context[{name!r}] must be a string, got {type(value).__name__}")
    return context


def _decision(result, value):
    """H3/H4: an action, (action, bytes), bytes, or None (ALLOW); anything else fails (SP3)."""
    if result is None:
        return _ALLOW
    if isinstance(result, PolicyAction):
        return (result, None)
    if isinstance(result, (bytes, bytearray, memoryview)):
        return (PolicyAction.MODIFY, bytes(result))
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], PolicyAction):
        action, modified = result
        return (action, None if modified is None else _to_bytes(modified, "modified value"))
    raise _HookFailed(f"handler returned {result!r}, which is not a PolicyAction, bytes or (action, bytes)")


class PolicyEngine:
    def __init__(self, db):
        self.db = db
        self._hooks = {trigger: [] for trigger in PolicyTrigger}
        self._limits = []
        self._audit_on = False
        self._audit = None

    # ---- hooks ------------------------------------------------------------------------

    def _decorator(self, trigger, pattern):
        """The seed's form and only that: ``@policy.before_write("system/*")`` over a handler.

        The pattern is checked here, when the trigger method is called, so a bad pattern fails
        at registration; the returned decorator registers the handler and hands it back.
        """
        regex = compile_pattern(pattern)

        def decorator(handler):
            if not callable(handler):
                raise TypeError("handler must be callable")
            self._hooks[trigger].append((regex, handler))
            return handler

        return decorator

    def before_write(self, pattern):
        return self._decorator(PolicyTrigger.BEFORE_WRITE, pattern)

    def after_write(self, pattern):
        return self._decorator(PolicyTrigger.AFTER_WRITE, pattern)

    def before_read(self, pattern):
        return self._decorator(PolicyTrigger.BEFORE_READ, pattern)

    def after_read(self, pattern):
        return self._decorator(PolicyTrigger.AFTER_READ, pattern)

    def before_delete(self, pattern):
        return self._decorator(PolicyTrigger.BEFORE_DELETE, pattern)

    def after_delete(self, pattern):
        return self._decorator(PolicyTrigger.AFTER_DELETE, pattern)

    # ---- rate limits and audit ---------------------------------------------------------

    def add_rate_limit(self, operation, max_per_minute, scope="global"):
        self._limits.append(RateLimit(operation, max_per_minute, scope))

    def enable_audit(self, max_entries=10000):
        if isinstance(max_entries, bool) or not isinstance(max_entries, int):
            raise TypeError(f"max_entries must be an int, got {type(max_entries).__name__}")
        if max_entries < 1:
            raise ValueError(f"max_entries must be a positive integer, got {max_entries}")
        kept = list(self._audit) if self._audit is not None else []
        self._audit = collections.deque(kept, maxlen=max_entries)
        self._audit_on = True

    def disable_audit(self):
        self._audit_on = False

    def get_audit_log(self, limit=100, agent_id=None, operation=None):
        """A3: filter first, then the newest ``limit`` entries, oldest first."""
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise TypeError(f"limit must be an int, got {type(limit).__name__}")
        if limit < 0:
            raise ValueError(f"limit must not be negative, got {limit}")
        if self._audit is None or limit == 0:
            return []
        matching = [
            dict(e)
            for e in self._audit
            if (agent_id is None or e["agent_id"] == agent_id) and (operation is None or e["operation"] == operation)
        ]
        return matching[-limit:]

    # ---- operations --------------------------------------------------------------------

    def put(self, key, value, context=None):
        k, ctx = self._key(key), _context(context)
        v = _to_bytes(value, "value")
        self._admit("write", k, ctx)
        action, modified = self._evaluate(PolicyTrigger.BEFORE_WRITE, "write", k, v, ctx)
        if action is PolicyAction.DENY:
            self._fail("denied", "write", k, ctx)
        written = modified if action is PolicyAction.MODIFY and modified is not None else v
        self._store("write", k, ctx, lambda: self.db.put(k, written))
        self._evaluate(PolicyTrigger.AFTER_WRITE, "write", k, written, ctx)
        self._record("write", k, ctx, "allowed")

    def get(self, key, context=None):
        k, ctx = self._key(key), _context(context)
        self._admit("read", k, ctx)
        action, _ = self._evaluate(PolicyTrigger.BEFORE_READ, "read", k, None, ctx)
        if action is PolicyAction.DENY:
            self._fail("denied", "read", k, ctx)
        stored = self._store("read", k, ctx, lambda: self.db.get(k))
        if stored is None:
            # O5: no after_read for a missing key, but still one audit entry.
            self._record("read", k, ctx, "allowed")
            return None
        action, modified = self._evaluate(PolicyTrigger.AFTER_READ, "read", k, stored, ctx)
        if action is PolicyAction.DENY:
            self._record("read", k, ctx, "redacted")
            return None
        if action is PolicyAction.MODIFY:
            # SP1: the caller does not get what is stored.
            self._record("read", k, ctx, "redacted")
            return stored if modified is None else modified
        self._record("read", k, ctx, "allowed")
        return stored

    def delete(self, key, context=None):
        k, ctx = self._key(key), _context(context)
        self._admit("delete", k, ctx)
        action, _ = self._evaluate(PolicyTrigger.BEFORE_DELETE, "delete", k, None, ctx)
        if action is PolicyAction.DENY:
            self._fail("denied", "delete", k, ctx)
        self._store("delete", k, ctx, lambda: self.db.delete(k))
        # O4: after_delete hooks run; what they return changes nothing.
        self._evaluate(PolicyTrigger.AFTER_DELETE, "delete", k, None, ctx)
        self._record("delete", k, ctx, "allowed")

    # ---- pipeline steps ----------------------------------------------------------------

    @staticmethod
    def _key(key):
        k = _to_bytes(key, "key")
        if not k:
            raise ValueError("key must not be empty")
        return k

    def _admit(self, operation, key, ctx):
        if self._limits and not admit(self._limits, operation, ctx):
            self._fail("rate_limited", operation, key, ctx)

    def _evaluate(self, trigger, operation, key, value, ctx):
        """H1/H2: matching hooks in order until the first DENY or MODIFY; H10: fail closed."""
        text = key_text(key)
        for regex, handler in self._hooks[trigger]:
            if not regex.fullmatch(text):
                continue
            try:
                action, modified = _decision(handler(key, value, ctx), value)
            except Exception as error:
                self._record(operation, key, ctx, "error")
                raise PolicyViolation("hook_failed", operation, text) from error
            if action in (PolicyAction.DENY, PolicyAction.MODIFY):
                return action, modified
        return _ALLOW

    def _store(self, operation, key, ctx, io):
        """E2: storage errors escape as themselves, audited `error`."""
        try:
            return io()
        except Exception:
            self._record(operation, key, ctx, "error")
            raise

    def _fail(self, code, operation, key, ctx):
        # The audit result has the same name as the code: denied, rate_limited.
        self._record(operation, key, ctx, code)
        raise PolicyViolation(code, operation, key_text(key))

    def _record(self, operation, key, ctx, result):
        if not self._audit_on:
            return
        self._audit.append(
            {
                "timestamp": time.time(),
                "operation": operation,
                "key": key_text(key),
                "agent_id": ctx.get("agent_id"),
                "session_id": ctx.get("session_id"),
                "result": result,
            }
        )
