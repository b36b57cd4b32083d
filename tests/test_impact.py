"""Effects of writes and calls (catalog, "Severity", "Effect"): the vocabulary."""

import pytest

from backendlint.knowledge.impact import (
    EXTERNAL, INVARIANT, LOG, ROW, is_counter_field, is_log_model, is_state_field, of_side_effect, strongest,
)


@pytest.mark.parametrize("name", ["Log", "LogEntry", "AuditTrail", "Activity", "History", "Hit", "PageView",
                                  "LoginEvent", "PasswordResetToken", "UserSession", "OTP", "shop.models.OrderHistory"])
def test_log_models(name):
    assert is_log_model(name)


@pytest.mark.parametrize("name", ["Event", "Order", "Catalog", "Blog", "Dialog", "Token", "Session", "Tokenizer", None])
def test_not_log_models(name):
    assert not is_log_model(name)


def test_log_models_option():
    assert is_log_model("shop.models.Notification", extra=["Notification"])


def test_fields():
    assert all(is_counter_field(f) for f in ["reply_count", "num_items", "total", "total_price", "last_post", "latest_version", "count"])
    assert not any(is_counter_field(f) for f in ["name", "counter_party", "lastname"])
    assert all(is_state_field(f) for f in ["status", "state", "is_paid", "paid_at", "payment_status"])
    assert not any(is_state_field(f) for f in ["stats", "name", "island"])


def test_strongest_and_side_effects():
    assert strongest([LOG, ROW, INVARIANT]) == INVARIANT
    assert strongest([ROW, EXTERNAL, None]) == EXTERNAL
    assert strongest([]) is None
    assert of_side_effect("http", "POST") == EXTERNAL and of_side_effect("http", "get") == ROW
    assert of_side_effect("payment") == EXTERNAL and of_side_effect("email") == EXTERNAL
    assert of_side_effect("task") == ROW
