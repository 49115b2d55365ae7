"""Stage 3, follow-through: the incident record and its store, owners (catalogue), alerts with
escalation, runbook actions a person runs, and the review. Imports :mod:`logrca.rca` and below."""
