"""A small policy engine with the Python SDK's API and the conformance suite's target semantics.

It exists to prove conformance/runners/python/run.py: the runner must pass every case
against it. API as in the seed and the Python SDK: ``PolicyEngine(db)``, the trigger decorators
(``@policy.before_write("system/*")`` over ``def f(key, value, context)``; like the SDK,
``before_write(pattern)`` takes only the pattern, so ``policy.before_write("readonly/*")(deny_all)``
registers a helper and ``policy.before_write(pattern, handler)`` is a TypeError),
``add_rate_limit``, ``enable_audit``/``disable_audit``/``get_audit_log``, ``put``/``get``/
``delete`` and ``PolicyViolation``. Helpers live in ``sochdb_target.policy``.
"""

from .engine import PolicyAction, PolicyEngine, PolicyTrigger, PolicyViolation

__all__ = ["PolicyAction", "PolicyEngine", "PolicyTrigger", "PolicyViolation"]
