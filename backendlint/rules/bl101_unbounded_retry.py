"""The old home of BL101 (now the package ``backendlint.rules.bl101``), kept so that
imports of ``backendlint.rules.bl101_unbounded_retry`` keep working."""

from backendlint.rules.bl101 import UnboundedRetry, loop_message, policy_message, retries

__all__ = ["UnboundedRetry", "policy_message", "loop_message", "retries"]
