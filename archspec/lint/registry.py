"""The rule registry: every diagnostic code archspec can emit, with its documentation.

Codes by family: ``AS1xx`` schema (reported while loading and lowering the spec), ``AS2xx``
shapes and channels, ``AS3xx`` topology and residual structure, ``AS4xx`` portability
between frameworks, ``AS9xx`` suppression comments.  An error blocks code generation.

Rules with a ``check`` function read the IR and yield diagnostics; rules without one are
reported by the loader or the IR builder and are listed here for their documentation.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from archspec.diagnostics import Diagnostic, Fix, Severity, Span


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: Severity
    summary: str
    doc: str  # What it does / Why is this bad / Example / Use instead
    check: Callable | None = None
    #: when ``archspec lint --fix`` can repair a finding, and whether the fix is safe (None: never)
    fixable: str | None = None

    @property
    def fix_line(self) -> str:
        """What ``archspec lint --fix`` does for this rule's findings, one sentence."""
        return f"Fixable: {self.fixable}." if self.fixable else "Not fixable automatically."

    def diagnostic(
        self,
        message: str,
        span: Span | None,
        hint: str | None = None,
        notes: Iterable[str] = (),
        fix: Fix | None = None,
    ) -> Diagnostic:
        return Diagnostic(self.code, self.name, self.severity, message, span, hint, list(notes), fix)


RULES: dict[str, Rule] = {}


def rule(
    code: str,
    name: str,
    severity: Severity,
    summary: str,
    *,
    reported_by: str | None = None,
    fixable: str | None = None,
) -> Callable:
    """Register a rule; the decorated function's docstring is its documentation.

    ``fixable`` says when ``archspec lint --fix`` repairs a finding and whether the fix is
    safe (applied by ``--fix``) or unsafe (only with ``--unsafe-fixes``); None: never.

    Decorate ``check(network) -> Iterable[Diagnostic]``.  For codes that the loader or the IR
    builder report (``reported_by="loader"``), the function only carries the documentation.
    """

    def wrap(fn: Callable) -> Callable:
        if code in RULES:
            raise RuntimeError(f"rule code {code} registered twice")
        RULES[code] = Rule(
            code, name, severity, summary, inspect.cleandoc(fn.__doc__ or ""), None if reported_by else fn, fixable
        )
        return fn

    return wrap


def by_name(name: str) -> Rule | None:
    for r in RULES.values():
        if r.name == name or r.code == name.upper():
            return r
    return None
