"""The built-in due-diligence template, from the brief: prevent, recover, do not repeat, tell.

"A provider that says it has never had a failure is a red flag, not a good answer."
"""

from __future__ import annotations

BUILTIN_KEY = "service-failures"

NEVER_FAILED = "No, never"

TEMPLATE = {
    "name": "Service failures: prevention, recovery and learning",
    "description": (
        "How the provider keeps service failures from reaching customers (its sensory mechanisms "
        "and processes), how it helps a client recover, how it stops a failure from happening "
        "again, its incident history, and how and when it reports."
    ),
    "sections": [
        {"title": "Preventing failures: sensory mechanisms and processes", "questions": [
            {"key": "monitoring", "kind": "multi", "weight": 3,
             "text": "How do you detect a failure in the service before the client or its customers do?",
             "options": [
                 {"label": "Real-time operational dashboards", "score": 25},
                 {"label": "Automated alerts on thresholds", "score": 25},
                 {"label": "Quality sampling of contacts", "score": 25},
                 {"label": "Analysis of customer complaints", "score": 25},
                 {"label": "We rely on the client to tell us", "score": 0},
             ]},
            {"key": "monitoring-description", "kind": "text", "weight": 2,
             "text": "Describe your sensory mechanisms and processes: what you watch, how often, who acts."},
            {"key": "monitoring-evidence", "kind": "file", "weight": 1,
             "text": "Attach evidence of your monitoring (a dashboard export, an alert runbook)."},
        ]},
        {"title": "Helping the client recover", "questions": [
            {"key": "recovery-procedure", "kind": "choice", "weight": 3,
             "text": "Do you have a procedure to help a client recover after a service failure?",
             "options": [
                 {"label": "Yes, documented and rehearsed in the last 12 months", "score": 100},
                 {"label": "Yes, documented", "score": 60},
                 {"label": "Informally", "score": 20},
                 {"label": "No", "score": 0},
             ],
             "red_flags": [{"when": "choice_is", "values": ["No"], "explanation":
                 "No recovery procedure: when the service fails, the client recovers alone."},
                 {"when": "empty", "explanation":
                 "No recovery procedure described: the question was left unanswered."}]},
            {"key": "time-to-tell", "kind": "number", "weight": 2,
             "text": "Typically, how many hours pass between detecting a failure and telling the client?",
             "options": [{"min": 0, "score": 100}, {"min": 4, "score": 60},
                         {"min": 24, "score": 20}, {"min": 72, "score": 0}]},
        ]},
        {"title": "Keeping a failure from happening again", "questions": [
            {"key": "root-cause", "kind": "choice", "weight": 3,
             "text": "Do you analyse the root cause of significant failures and add preventive controls?",
             "options": [
                 {"label": "Always, with a written post-mortem shared with the client", "score": 100},
                 {"label": "Usually", "score": 60},
                 {"label": "Only when the client asks", "score": 20},
                 {"label": "No", "score": 0},
             ],
             "red_flags": [{"when": "choice_is", "values": ["No"], "explanation":
                 "No root-cause practice: the same failure is likely to come back."}]},
            {"key": "repeat-prevention", "kind": "text", "weight": 2,
             "text": "Give an example of a failure you stopped from repeating, and the control you added."},
        ]},
        {"title": "Incident history", "questions": [
            {"key": "ever-failed", "kind": "choice", "weight": 1,
             "text": "Have you ever had a service failure that affected a client?",
             "options": [{"label": "Yes: see our incident history", "score": 100},
                         {"label": NEVER_FAILED, "score": 0}],
             "red_flags": [{"when": "choice_is", "values": [NEVER_FAILED], "explanation":
                 "Claims never to have had a service failure. Every provider running a real process "
                 "has failures; one that reports none does not detect them or does not disclose them."}]},
            {"key": "failures-24-months", "kind": "number", "weight": 1,
             "text": "How many service failures affecting a client did you have in the last 24 months?",
             "options": [{"min": 0, "score": 0}, {"min": 1, "score": 100}],
             "red_flags": [{"when": "number_at_most", "value": 0, "explanation":
                 "Reports no service failure in 24 months: not credible for a running service."}]},
            {"key": "incident-history", "kind": "text", "weight": 3,
             "text": "List your significant incidents of the last 24 months: what happened, the impact, "
                     "how you recovered, what you changed.",
             "red_flags": [{"when": "empty", "explanation":
                 "Empty incident history: nothing to learn how the provider handles failures."}]},
        ]},
        {"title": "Reporting", "questions": [
            {"key": "reporting-when", "kind": "choice", "weight": 2,
             "text": "When do you tell a client about a failure that affects its customers?",
             "options": [
                 {"label": "Within an hour", "score": 100},
                 {"label": "The same business day", "score": 70},
                 {"label": "In the monthly report", "score": 20},
                 {"label": "When asked", "score": 0},
             ]},
            {"key": "reporting-how", "kind": "multi", "weight": 1,
             "text": "How do you report it?",
             "options": [
                 {"label": "A call to a named contact", "score": 34},
                 {"label": "A written incident report", "score": 33},
                 {"label": "A post-mortem review with the client", "score": 33},
                 {"label": "A line in the monthly slides", "score": 0},
             ]},
        ]},
    ],
}
