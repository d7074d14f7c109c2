"""Due diligence scoring: an answer maps to a score, a template to a weighted total, rules to red flags.

Scores run from 0 to 100. A choice scores its option's score; several choices add up
(capped at 100); a number scores the highest band it reaches; a text or file answer
scores 100 when given and 0 when left empty (its quality is for the reviewers to judge).
An unanswered question scores 0 and still counts with its weight.

Red-flag rules (a question's `red_flags`) are dicts with an `explanation` and `when`:
- "choice_is": the answer includes one of `values`;
- "number_at_most": the number given is at most `value`;
- "empty": the question was left unanswered (or answered with only blanks).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

RULE_KINDS = ("choice_is", "number_at_most", "empty")


@dataclass(frozen=True)
class RedFlag:
    question_key: str
    question_text: str
    answer: str
    explanation: str


@dataclass(frozen=True)
class QuestionScore:
    question: Any
    answer: Any
    score: int
    weight: int


@dataclass(frozen=True)
class Result:
    total: int | None  # weighted, 0-100; None when the template has no weighted question
    questions: list[QuestionScore]
    red_flags: list[RedFlag]
    answered: int


def answer_text(question: Any, answer: Any) -> str:
    """The answer as a person reads it (used in red-flag explanations and comparisons)."""
    if answer is None:
        return "no answer"
    kind = question.kind
    if kind in ("choice", "multi"):
        return "; ".join(answer.choices) or "no answer"
    if kind == "number":
        return "no answer" if answer.number is None else _number(answer.number)
    if kind == "file":
        return evidence_name(answer) if answer.evidence else "no file"
    return answer.text.strip() or "no answer"


def evidence_name(answer: Any) -> str:
    """The name the evidence file was given by whoever uploaded it."""
    return answer.evidence_name or answer.evidence.name.rsplit("/", 1)[-1]


def _number(value: Decimal) -> str:
    return str(int(value)) if value == value.to_integral_value() else str(value)


def is_empty(question: Any, answer: Any) -> bool:
    if answer is None:
        return True
    if question.kind in ("choice", "multi"):
        return not answer.choices
    if question.kind == "number":
        return answer.number is None
    if question.kind == "file":
        return not answer.evidence
    return not answer.text.strip()


def score_answer(question: Any, answer: Any) -> int:
    if is_empty(question, answer):
        return 0
    scores = {str(o.get("label")): int(o.get("score", 0)) for o in question.options if "label" in o}
    if question.kind == "choice":
        return max(0, min(100, scores.get(answer.choices[0], 0)))
    if question.kind == "multi":
        return max(0, min(100, sum(scores.get(c, 0) for c in answer.choices)))
    if question.kind == "number":
        reached = [b for b in question.options if "min" in b and answer.number >= Decimal(str(b["min"]))]
        if not reached:
            return 0
        return int(max(reached, key=lambda b: Decimal(str(b["min"])))["score"])
    return 100


def red_flags_for(question: Any, answer: Any) -> list[RedFlag]:
    flags = []
    for rule in question.red_flags or []:
        when = rule.get("when")
        fired = False
        if when == "empty":
            fired = is_empty(question, answer)
        elif when == "choice_is" and answer is not None:
            fired = any(c in rule.get("values", []) for c in answer.choices)
        elif when == "number_at_most" and answer is not None and answer.number is not None:
            fired = answer.number <= Decimal(str(rule.get("value", 0)))
        if fired:
            flags.append(RedFlag(question.key, question.text, answer_text(question, answer),
                                 rule.get("explanation", "")))
    return flags


def evaluate(questions: list[Any], answers_by_question: dict[int, Any]) -> Result:
    """Score every question of a template against an assessment's answers."""
    rows, flags, total_weight, weighted, answered = [], [], 0, 0, 0
    for question in questions:
        answer = answers_by_question.get(question.pk)
        score = score_answer(question, answer)
        rows.append(QuestionScore(question, answer, score, question.weight))
        flags.extend(red_flags_for(question, answer))
        total_weight += question.weight
        weighted += question.weight * score
        answered += 0 if is_empty(question, answer) else 1
    total = round(weighted / total_weight) if total_weight else None
    return Result(total=total, questions=rows, red_flags=flags, answered=answered)


def validate_rules(options: list[dict], red_flags: list[dict], kind: str) -> list[str]:
    """Problems with a question's options and rules, in words (empty when fine)."""
    problems = []
    if kind in ("choice", "multi") and (not options or any("label" not in o for o in options)):
        problems.append("A choice question needs options, each with a label and a score.")
    for rule in red_flags:
        if rule.get("when") not in RULE_KINDS:
            problems.append(f"Unknown red-flag rule '{rule.get('when')}'; use one of {', '.join(RULE_KINDS)}.")
        if not rule.get("explanation"):
            problems.append("Every red-flag rule needs an explanation, shown where it fires.")
    return problems
