#!/usr/bin/env python3
"""Runs the conformance cases against any module with the Python SDK's policy API.

    python3 run.py --module sochdb                      # the SDK: from sochdb import PolicyEngine, ...
    python3 run.py --module sochdb --divergences python # its documented divergences are expected failures
    python3 run.py --module sochdb_target               # this folder's target implementation

The module must provide PolicyEngine, PolicyAction and PolicyViolation; the helpers
(deny_all, ...) come from ``<module>.policy`` unless --helpers names another module. Each
case gets a fresh engine over an in-memory dict database and a patched clock (time.time,
time.monotonic and friends). Standard library only. See conformance/README.md.
"""

import argparse
import base64
import importlib
import inspect
import json
import sys
import time
import traceback
from pathlib import Path
from unittest import mock

HERE = Path(__file__).resolve().parent
DEFAULT_CASES = HERE.parent.parent / "cases"
SDKS = ("python", "go", "rust", "node")
CLOCK_START = 1735689600.0  # 2025-01-01; cases compare audit order, never times (A4)


# ---- the in-memory database ---------------------------------------------------------------


class StorageError(Exception):
    """What the dict database raises once closed; cases expect it to escape as itself (E2)."""


class DictDatabase:
    """The database the engine wraps: put/get/delete on bytes, backed by a dict."""

    def __init__(self):
        self.data = {}
        self.closed = False

    def _check(self):
        if self.closed:
            raise StorageError("database is closed")

    def put(self, key, value):
        self._check()
        self.data[bytes(key)] = bytes(value)

    def get(self, key):
        self._check()
        return self.data.get(bytes(key))

    def delete(self, key):
        self._check()
        self.data.pop(bytes(key), None)

    def close(self):
        self.closed = True


# ---- the clock ------------------------------------------------------------------------------


class FakeClock:
    """Replaces the time module's clocks, and copies of them imported into the SDK's modules."""

    NAMES = ("time", "monotonic", "perf_counter")

    def __init__(self, module_prefix):
        self.now = CLOCK_START
        self.prefix = module_prefix
        self._patches = []

    def advance(self, ms):
        self.now += ms / 1000.0

    def __enter__(self):
        originals = {name: getattr(time, name) for name in self.NAMES}
        fakes = {name: (lambda: self.now) for name in self.NAMES}
        fakes_ns = {name + "_ns": (lambda: int(round(self.now * 1e9))) for name in self.NAMES}
        for name, fake in {**fakes, **fakes_ns}.items():
            self._patches.append(mock.patch.object(time, name, fake))
        # `from time import monotonic` in the SDK binds the original; patch those copies too.
        for module_name, module in list(sys.modules.items()):
            if module is None or not (module_name == self.prefix or module_name.startswith(self.prefix + ".")):
                continue
            for attr, value in list(vars(module).items()):
                for name, original in originals.items():
                    if value is original:
                        self._patches.append(mock.patch.object(module, attr, fakes[name]))
        for p in self._patches:
            p.start()
        return self

    def __exit__(self, *exc):
        for p in reversed(self._patches):
            p.stop()
        self._patches.clear()


# ---- cases ----------------------------------------------------------------------------------


def to_bytes(spec):
    if isinstance(spec, str):
        return spec.encode("utf-8")
    if "hex" in spec:
        return bytes.fromhex(spec["hex"])
    return base64.b64decode(spec["base64"])


def show(value):
    if value is None:
        return "None"
    if isinstance(value, (bytes, bytearray)):
        try:
            return json.dumps(bytes(value).decode("utf-8"), ensure_ascii=False)
        except UnicodeDecodeError:
            return "{hex: " + bytes(value).hex() + "}"
    return repr(value)


def pattern_case(row):
    """A pattern row as a case: a recording before_read hook on the pattern, then a get (README)."""
    hook = {"trigger": "before_read", "pattern": row["pattern"], "handler": {"return": "allow", "record": "hook"}}
    if "error" in row:
        return {"id": row["id"], "rules": row["rules"], "steps": [dict(op="hook", expect={"error": row["error"]}, **hook)]}
    calls = ["hook"] if row["matches"] else []
    return {
        "id": row["id"],
        "rules": row["rules"],
        "setup": {"hooks": [hook]},
        "steps": [{"op": "get", "key": row["key"], "expect": {"value": None, "calls": calls}}],
    }


def load_files(folder):
    files = []
    for path in sorted(Path(folder).glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        cases = data.get("cases") or [pattern_case(row) for row in data.get("table", [])]
        files.append((path.name, data, cases))
    return files


class CaseFailed(Exception):
    pass


class Runner:
    def __init__(self, sdk, helpers):
        self.sdk = sdk
        self.helpers = helpers
        self.Action = sdk.PolicyAction
        self.Violation = sdk.PolicyViolation

    # ---- declarative handlers (README, "Handler vocabulary") ------------------------------

    def handler(self, spec, calls, logs):
        inner = self._behaviour(spec, calls, logs)
        if "record" not in spec:
            return inner
        name = spec["record"]

        def recording(key, value, context):
            calls.append((name, key, value))
            return inner(key, value, context)

        return recording

    def _behaviour(self, spec, calls, logs):
        A = self.Action
        if "return" in spec:
            action = None if spec["return"] is None else getattr(A, spec["return"].upper())
            return lambda key, value, context: action
        if "return_bytes" in spec:
            data = to_bytes(spec["return_bytes"])
            return lambda key, value, context: data
        if "return_input" in spec:
            return lambda key, value, context: value
        if "set_modified" in spec:
            if spec["set_modified"] is None:
                return lambda key, value, context: A.MODIFY
            data = to_bytes(spec["set_modified"])
            return lambda key, value, context: (A.MODIFY, data)
        if "if" in spec:
            cond = spec["if"]
            then = self.handler(spec["then"], calls, logs)
            otherwise = self.handler(spec.get("else", {"return": "allow"}), calls, logs)

            def conditional(key, value, context):
                got = (context or {}).get(cond["context"])
                if "equals" in cond:
                    holds = got == cond["equals"]
                else:
                    holds = bool(got) if cond["is"] == "present" else not got
                return (then if holds else otherwise)(key, value, context)

            return conditional
        if "helper" in spec:
            name = spec["helper"]
            fn = getattr(self.helpers, name)
            if name == "log_and_allow":
                return fn(CaptureLogger(logs))
            if name == "redact_value":
                return fn(*[to_bytes(a) for a in spec.get("args", [])])
            return fn  # deny_all, allow_all, require_agent_id are handlers themselves (X2)
        if "throw" in spec:
            message = spec["throw"]

            def thrower(key, value, context):
                raise RuntimeError(message)

            return thrower
        if "return_invalid" in spec:
            return lambda key, value, context: 42
        if "async" in spec:
            # The Python SDK has no async handlers: run the inner handler directly (README).
            return self.handler(spec["async"], calls, logs)
        raise CaseFailed(f"unknown handler {spec!r}")

    # ---- running a case -------------------------------------------------------------------

    def run(self, case, clock):
        db = DictDatabase()
        engine = self.sdk.PolicyEngine(db)
        calls, logs = [], []
        setup = case.get("setup", {})
        for item in setup.get("data", []):
            db.data[to_bytes(item["key"])] = to_bytes(item["value"])
        for hook in setup.get("hooks", []):
            self.register(engine, hook, calls, logs)
        for limit in setup.get("rate_limits", []):
            self.add_rate_limit(engine, limit)
        audit = setup.get("audit", False)
        if audit is True:
            engine.enable_audit()
        elif isinstance(audit, dict):
            engine.enable_audit(max_entries=audit["max_entries"])

        for number, step in enumerate(case["steps"], 1):
            del calls[:]
            del logs[:]
            try:
                self.step(engine, db, clock, step, calls, logs)
            except CaseFailed as failure:
                raise CaseFailed(f"step {number} ({describe(step)}): {failure}") from None

    def register(self, engine, hook, calls, logs):
        """Registers a hook the way the seed does: ``engine.before_write(pattern)(handler)``.

        The Python SDK's trigger methods take only the pattern and return a decorator; passing
        the handler as a second argument raises TypeError there. A module whose trigger method
        *requires* a handler argument (its signature says so) gets the two-argument form.
        """
        method = getattr(engine, hook["trigger"])
        handler = self.handler(hook["handler"], calls, logs)
        if requires_handler_argument(method):
            method(hook["pattern"], handler)
            return
        decorator = method(hook["pattern"])
        if not callable(decorator):
            raise CaseFailed(f"{hook['trigger']}({hook['pattern']!r}) returned {decorator!r}, not a decorator")
        decorator(handler)

    @staticmethod
    def add_rate_limit(engine, limit):
        kwargs = {"max_per_minute": limit["max_per_minute"]}
        if "scope" in limit:
            kwargs["scope"] = limit["scope"]
        engine.add_rate_limit(limit["operation"], **kwargs)

    def step(self, engine, db, clock, step, calls, logs):
        op = step["op"]
        if op == "advance_clock":
            clock.advance(step["ms"])
            return
        if op == "disable_audit":
            engine.disable_audit()
            return
        if op == "close_storage":
            db.close()
            return
        if op == "raw_get":
            got = db.data.get(to_bytes(step["key"]))
            want = step["expect"]["value"]
            if (got is None) != (want is None) or (want is not None and got != to_bytes(want)):
                raise CaseFailed(f"expected stored value {show(None if want is None else to_bytes(want))}, got {show(got)}")
            return
        if op == "audit":
            query = step.get("query", {})
            outcome = attempt(lambda: engine.get_audit_log(**query))
            if "entries" in step["expect"]:
                check_audit(step["expect"]["entries"], outcome)
            else:
                self.check(step["expect"], outcome, calls, logs)
            return
        ctx_kwargs = {"context": step["context"]} if "context" in step else {}
        if op == "put":
            run = lambda: engine.put(to_bytes(step["key"]), to_bytes(step["value"]), **ctx_kwargs)
        elif op == "get":
            run = lambda: engine.get(to_bytes(step["key"]), **ctx_kwargs)
        elif op == "delete":
            run = lambda: engine.delete(to_bytes(step["key"]), **ctx_kwargs)
        elif op == "hook":
            run = lambda: self.register(engine, step, calls, logs)
        elif op == "add_rate_limit":
            run = lambda: self.add_rate_limit(engine, step)
        elif op == "enable_audit":
            run = lambda: engine.enable_audit(**({"max_entries": step["max_entries"]} if "max_entries" in step else {}))
        else:
            raise CaseFailed(f"unknown step {op!r}")
        self.check(step.get("expect", {"ok": True}), attempt(run), calls, logs, returns_value=op == "get")

    # ---- expectations -----------------------------------------------------------------------

    def check(self, expect, outcome, calls, logs, returns_value=False):
        ok, result = outcome
        got = f"value {show(result)}" if ok and returns_value else "success" if ok else show_error(result)
        if "ok" in expect:
            if not ok:
                raise CaseFailed(f"expected success, got {got}")
        elif "value" in expect:
            want = expect["value"]
            if not ok or (want is None) != (result is None) or (want is not None and bytes(result) != to_bytes(want)):
                raise CaseFailed(f"expected value {show(None if want is None else to_bytes(want))}, got {got}")
        elif "violation" in expect:
            want = expect["violation"]
            if ok or not isinstance(result, self.Violation):
                raise CaseFailed(f"expected PolicyViolation({want['code']}), got {got}")
            code = getattr(result, "code", None)
            if code is not None and getattr(code, "value", code) != want["code"]:
                raise CaseFailed(f"expected code {want['code']}, got {got}")
            if "message" in want and str(result) != want["message"]:
                raise CaseFailed(f"expected message {want['message']!r}, got {str(result)!r}")
            if code is None and "message" not in want:
                raise CaseFailed(f"expected code {want['code']}, but the violation has no code: {got}")
        elif "error" in expect:
            kind = expect["error"]
            wanted = {"TypeError": TypeError, "RangeError": ValueError, "storage": StorageError}[kind]
            if ok or not isinstance(result, wanted) or isinstance(result, self.Violation):
                raise CaseFailed(f"expected {wanted.__name__}, got {got}")
        if "calls" in expect:
            names = [c[0] for c in calls]
            want_names = [c if isinstance(c, str) else c["name"] for c in expect["calls"]]
            if names != want_names:
                raise CaseFailed(f"expected calls {want_names}, got {names}")
            for (name, key, value), want in zip(calls, expect["calls"]):
                if isinstance(want, str):
                    continue
                if "key" in want and bytes(key) != to_bytes(want["key"]):
                    raise CaseFailed(f"call {name}: expected key {show(to_bytes(want['key']))}, got {show(key)}")
                if "value" in want:
                    w = want["value"]
                    if (w is None) != (value is None) or (w is not None and bytes(value) != to_bytes(w)):
                        raise CaseFailed(f"call {name}: expected value {show(None if w is None else to_bytes(w))}, got {show(value)}")
        if "logs" in expect and logs != expect["logs"]:
            raise CaseFailed(f"expected logs {expect['logs']}, got {logs}")


def requires_handler_argument(method):
    """True when ``method(pattern)`` alone cannot be called: a second positional parameter without a default."""
    try:
        params = list(inspect.signature(method).parameters.values())
    except (TypeError, ValueError):  # no signature (a builtin): assume the seed's decorator form
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 and positional[1].default is inspect.Parameter.empty


class CaptureLogger:
    """What log_and_allow receives: records `info` lines for the case's `logs` expectation."""

    def __init__(self, lines):
        self.lines = lines

    def info(self, message, *args):
        self.lines.append(message % args if args else message)


def attempt(run):
    try:
        return True, run()
    except Exception as error:  # the case decides whether an error was expected
        return False, error


def show_error(error):
    code = getattr(error, "code", None)
    code = f" code={getattr(code, 'value', code)}" if code is not None else ""
    return f"{type(error).__name__}({str(error)!r}{code})"


def field(entry, name):
    return entry[name] if isinstance(entry, dict) else getattr(entry, name)


def check_audit(expected, outcome):
    ok, result = outcome
    if not ok:
        raise CaseFailed(f"expected audit entries, got {show_error(result)}")
    entries = list(result)
    stamps = [field(e, "timestamp") for e in entries]
    if any(a > b for a, b in zip(stamps, stamps[1:])):
        raise CaseFailed(f"audit entries out of order: timestamps {stamps}")
    got = []
    for e in entries:
        row = {name: field(e, name) for name in ("operation", "key", "agent_id", "session_id", "result")}
        if isinstance(row["key"], (bytes, bytearray)):
            row["key"] = bytes(row["key"]).decode("utf-8", errors="replace")
        for name in ("operation", "result"):
            row[name] = getattr(row[name], "value", row[name])
        got.append(row)
    want = [{k: e[k] for k in ("operation", "key", "agent_id", "session_id", "result")} for e in expected]
    if got != want:
        raise CaseFailed(f"expected audit entries {json.dumps(want)}, got {json.dumps(got)}")


def describe(step):
    key = step.get("key")
    key = f" {show(to_bytes(key))}" if key is not None else ""
    pattern = f" {step['trigger']} {step['pattern']!r}" if "pattern" in step else ""
    context = f" {json.dumps(step['context'])}" if "context" in step else ""
    return f"{step['op']}{key}{pattern}{context}"


# ---- main -----------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--module", required=True, help="module with PolicyEngine, PolicyAction, PolicyViolation")
    parser.add_argument("--helpers", help="module with deny_all, allow_all, ... (default: <module>.policy)")
    parser.add_argument("--path", action="append", default=[], help="add a folder to sys.path (repeatable)")
    parser.add_argument("--cases", default=str(DEFAULT_CASES), help="folder of case files (default: conformance/cases)")
    parser.add_argument("--divergences", choices=SDKS, help="treat the cases listed under divergences.<SDK> as expected failures")
    parser.add_argument("--strict", action="store_true", help="with --divergences, an expected failure that passes fails the run")
    parser.add_argument("--only", help="run only cases whose id contains this text")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every case and tracebacks")
    args = parser.parse_args(argv)

    for folder in [str(HERE), *args.path]:
        if folder not in sys.path:
            sys.path.insert(0, folder)
    sdk = importlib.import_module(args.module)
    helpers_name = args.helpers or f"{args.module}.policy"
    try:
        helpers = importlib.import_module(helpers_name)
    except ImportError:
        if args.helpers:
            raise
        helpers = sdk
    runner = Runner(sdk, helpers)

    # Capabilities beyond the seed's API that a case may require (`requires`). No Python
    # module has declarative rules (policy documents, composition modes, decision ids,
    # evaluate), so such cases are reported as unsupported, never silently passed.
    supported = set()
    # Step types this runner drives. A case with another (scan, filter_allowed and batch need
    # `scan_batch`, which no Python SDK has) is reported unsupported, never run into a crash.
    known_ops = {"put", "get", "delete", "raw_get", "advance_clock", "audit", "hook", "add_rate_limit", "enable_audit", "disable_audit", "close_storage"}
    counts = {"passed": 0, "failed": 0, "xfail": 0, "xpass": 0, "unsupported": 0}
    bad = False
    for name, data, cases in load_files(args.cases):
        expected_failures = (data.get("divergences") or {}).get(args.divergences, {}) if args.divergences else {}
        file_counts = dict.fromkeys(counts, 0)
        lines = []
        for case in cases:
            if args.only and args.only not in case["id"]:
                continue
            if not set(case.get("requires") or []) <= supported:
                file_counts["unsupported"] += 1
                if args.verbose:
                    lines.append(f"     - {case['id']}: unsupported (requires {', '.join(case['requires'])})")
                continue
            unknown = sorted({s["op"] for s in case["steps"]} - known_ops)
            if unknown:
                file_counts["unsupported"] += 1
                if args.verbose:
                    lines.append(f"     - {case['id']}: unsupported (step types {', '.join(unknown)})")
                continue
            reason = None
            with FakeClock(args.module.split(".")[0]) as clock:
                try:
                    runner.run(case, clock)
                except CaseFailed as failure:
                    reason = str(failure)
                except Exception as error:  # a runner or engine bug outside any step
                    reason = f"error: {show_error(error)}" + (f"\n{traceback.format_exc()}" if args.verbose else "")
            if case["id"] in expected_failures:
                status = "xfail" if reason else "xpass"
                note = expected_failures[case["id"]]
                if status == "xpass" or args.verbose:
                    lines.append(f"     {'~' if status == 'xfail' else '!'} {case['id']}: {status} ({note})" + (f": {reason}" if reason and args.verbose else ""))
            else:
                status = "failed" if reason else "passed"
                if reason:
                    lines.append(f"     ✗ {case['id']}: {reason}")
                elif args.verbose:
                    lines.append(f"     ✓ {case['id']}")
            file_counts[status] += 1
        if not any(file_counts.values()):
            continue
        for k in counts:
            counts[k] += file_counts[k]
        file_bad = file_counts["failed"] > 0 or (args.strict and file_counts["xpass"] > 0)
        bad = bad or file_bad
        extra = "".join(f", {file_counts[k]} {k}" for k in ("xfail", "xpass", "unsupported") if file_counts[k])
        print(f"{'FAIL' if file_bad else 'ok  '} {name}: {file_counts['passed']} passed, {file_counts['failed']} failed{extra}")
        for line in lines:
            print(line)
    names = {"xfail": "expected failures", "xpass": "unexpected passes", "unsupported": "unsupported"}
    extra = "".join(f", {counts[k]} {names[k]}" for k in ("xfail", "xpass", "unsupported") if counts[k])
    print(f"python conformance ({args.module}): {counts['passed']} passed, {counts['failed']} failed{extra}")
    total = sum(v for k, v in counts.items() if k != "unsupported")
    return 1 if bad or total == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
