"""Findings: the one shape every diagnostic reports in, and how the CLI prints them.

A `Finding` carries a stable code, a severity (error / warning / info), a message
with the numbers and the fix, the numbers as data, and the notebook that teaches
the fix. `rank` puts errors first; `format_findings` is what `python -m slmlab
lint / doctor` print; `findings_table` is the same as a table, in the order to fix
them; `fmt_number` and `fmt_tokens` write the numbers inside the messages the same
way in every check. The checks themselves live in config_lint
and doctor.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# ---------------------------------------------------------------------------
# Findings: what every check reports

SEVERITIES = ("error", "warning", "info")


@dataclass
class Finding:
    """One thing a check found: what, why, the fix, and the numbers behind it."""

    code: str  # stable name, e.g. "min_lr_above_lr"; tests and notebooks match on it
    severity: str  # "error" (wrong), "warning" (likely hurts), "info" (good to know)
    message: str  # what is wrong, why, and the fix, with the numbers
    data: dict = field(default_factory=dict)  # the numbers behind the message
    notebook: str | None = None  # the course notebook that teaches the fix
    line: int | None = None  # the line of the user's file it came from (script lint), from 1
    where: str | None = None  # that place in words: "line 9", "cell 17, line 3 (...)"

    def __str__(self) -> str:
        see = f"  [see {self.notebook}]" if self.notebook else ""
        place = self.where or (f"line {self.line}" if self.line else "")
        at = f" ({place})" if place else ""
        return f"{self.severity.upper():7s} {self.code}{at}: {self.message}{see}"


# order inside one severity: the most important problem first
_PRIORITY = [
    "diverged",
    "above_uniform",
    "not_learning",
    "min_lr_above_lr",
    "lr_rising",
    "scheduler_per_micro_step",
    "clip_before_unscale",
    "adam_eps_damps_updates",
    "block_size_mismatch",
    "barely_trained",
    "lr_zero",
    "lr_too_high",
    "spike_after_resume",
    "above_bigram",
    "overfitting",
    "memorizing",
    "no_validation",
    "eval_overhead",
    "lr_too_low",
    "still_improving",
    "eval_too_noisy",
    "val_below_train",
]


def rank(findings: list[Finding]) -> list[Finding]:
    """Errors first, then warnings, then infos; known codes in _PRIORITY order."""

    def key(f: Finding) -> tuple[int, int]:
        prio = _PRIORITY.index(f.code) if f.code in _PRIORITY else len(_PRIORITY)
        return SEVERITIES.index(f.severity), prio

    return sorted(findings, key=key)


def has_errors(findings: list[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)


def format_findings(findings: list[Finding]) -> str:
    """One paragraph per finding, ranked; what the CLI prints."""
    if not findings:
        return "no findings"
    return "\n".join(str(f) for f in rank(findings))


def findings_table(findings: list[Finding], first: tuple[str, ...] = ()) -> FindingsTable:
    """The findings in the order to fix them: by severity, then the codes in `first` in their
    order (a notebook's answer names its own order), then rank's order. None added or dropped."""

    def key(f: Finding) -> tuple[int, int]:
        return SEVERITIES.index(f.severity), first.index(f.code) if f.code in first else len(first)

    return FindingsTable(sorted(rank(findings), key=key))  # sorted is stable: rank's order breaks ties


@dataclass
class FindingsTable:
    """Findings in a chosen order: a table in a notebook (one row each, the whole text), the
    CLI's paragraphs as plain text, and `frame()` for pandas."""

    findings: list[Finding]
    COLUMNS = ("severity", "finding", "where", "what", "fix", "lesson")

    def frame(self):
        """A pandas DataFrame: severity, finding (the code), where, what (the message up to its
        "Fix:"), fix, lesson; the index counts from 1, the order to fix things in."""
        import pandas as pd

        rows = []
        for f in self.findings:
            what, _, fix = f.message.partition(" Fix: ")
            where = f.where or (f"line {f.line}" if f.line else "")
            rows.append((f.severity, f.code, where, what, fix, f.notebook or ""))
        return pd.DataFrame(rows, columns=list(self.COLUMNS), index=pd.RangeIndex(1, len(rows) + 1))

    def _repr_html_(self) -> str:
        import pandas as pd

        with pd.option_context("display.max_colwidth", None):  # the whole message, never cut with "..."
            table = self.frame().to_html(classes="slmlab-findings", border=0)
        style = ".slmlab-findings td, .slmlab-findings th {text-align: left; vertical-align: top}"
        return f"<style>{style}</style>{table}"

    def __repr__(self) -> str:
        return "\n".join(f"{i}. {f}" for i, f in enumerate(self.findings, 1)) or "no findings"


def fmt_tokens(n: float) -> str:
    """A token count for a message: 12,345 or 3.2M."""
    return f"{n / 1e6:,.1f}M" if n >= 1e6 else f"{n:,.0f}"


def fmt_number(x: float) -> str:
    """A hyperparameter for a message: 4 significant digits, 3 when tiny or huge (6e-04)."""
    return f"{x:.3g}" if abs(x) < 1e-2 or abs(x) >= 1e4 else f"{x:.4g}"
