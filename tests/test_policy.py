"""The pure policy functions: sampling decision, formula guard and its inverse, keyed hashing, redaction."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import math

import pytest

from otel_modeldata.policy import (
    FORMULA_TRIGGERS,
    Hasher,
    ModelPolicy,
    Policy,
    check_rate,
    guard,
    guard_rows,
    protect,
    sampled,
    unguard,
)

KEY = b"test-key"
IDS = [f"id-{i}" for i in range(20_000)]


def _reference(correlation_id: str, rate: float) -> bool:
    """The rule as the README states it, written independently."""
    digest = hashlib.sha256(correlation_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") < rate * 2**64


def test_sampling_follows_the_documented_rule() -> None:
    for rate in (0.0, 0.001, 0.1, 0.5, 0.999):
        assert [sampled(i, rate) for i in IDS[:2000]] == [_reference(i, rate) for i in IDS[:2000]]


def test_the_readme_worked_example() -> None:
    digest = hashlib.sha256(b"LOAN-42").digest()
    assert int.from_bytes(digest[:8], "big") == 3_869_609_093_091_415_387  # 0.2098 x 2**64
    assert sampled("LOAN-42", 0.25)
    assert not sampled("LOAN-42", 0.2)


def test_rate_one_keeps_every_call_and_rate_zero_none() -> None:
    assert all(sampled(i, 1.0) for i in IDS[:1000])
    assert not any(sampled(i, 0.0) for i in IDS[:1000])


def test_the_kept_share_is_the_rate() -> None:
    for rate in (0.05, 0.3, 0.7):
        share = sum(sampled(i, rate) for i in IDS) / len(IDS)
        assert abs(share - rate) < 0.015, (rate, share)


def test_a_call_kept_at_one_rate_is_kept_at_every_higher_rate() -> None:
    rates = (0.1, 0.25, 0.5, 0.9)
    for correlation_id in IDS[:2000]:
        decisions = [sampled(correlation_id, r) for r in rates]
        assert decisions == sorted(decisions)  # False... then True...


def test_unicode_and_lone_surrogate_ids_are_decided_without_error() -> None:
    assert sampled("模型-ü", 0.5) == _reference("模型-ü", 0.5)
    assert isinstance(sampled("bad\udc80id", 0.5), bool)


@pytest.mark.parametrize("trigger", FORMULA_TRIGGERS)
def test_every_formula_trigger_is_guarded(trigger: str) -> None:
    assert guard(f"{trigger}HYPERLINK(x)") == f"'{trigger}HYPERLINK(x)"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("-5", "'-5"),  # text, not a number: OWASP's rule for any cell starting with '-'
        ("+44 20 7946 0000", "'+44 20 7946 0000"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("'=1+1", "''=1+1"),  # an apostrophe the data had stays, so unguard can tell
        ("'quoted'", "'quoted'"),
        ("", ""),
        ("plain", "plain"),
        ("a=b", "a=b"),
        (" =1", " =1"),
        ("\n=1", "\n=1"),
    ],
)
def test_guard(text: str, expected: str) -> None:
    assert guard(text) == expected
    assert unguard(expected) == text


def test_unguard_undoes_guard_for_every_short_string() -> None:
    alphabet = ["'", "=", "-", "@", "\t", "\r", "a", "5"]
    for length in range(5):
        for chars in itertools.product(alphabet, repeat=length):
            text = "".join(chars)
            guarded = guard(text)
            assert unguard(guarded) == text, repr(text)
            assert not guarded.startswith(FORMULA_TRIGGERS), repr(text)


def test_guard_rows_changes_only_string_cells_and_copies() -> None:
    rows: list[list[object]] = [[-5, -1.5, None, True], ["=cmd", "-5", "ok", 3], ("@x", 1)]  # type: ignore[list-item]
    before = [list(r) for r in rows]
    guarded = guard_rows(rows)
    assert guarded == [[-5, -1.5, None, True], ["'=cmd", "'-5", "ok", 3], ["'@x", 1]]
    assert [list(r) for r in rows] == before  # the input is not changed
    assert guarded[0] is rows[0]


def test_guard_rows_returns_the_same_list_when_nothing_needs_it() -> None:
    rows: list[list[object]] = [[1.0, -2], ["text", None], [5]]
    assert guard_rows(rows) is rows


def test_hash_is_hmac_sha256_hex_of_the_cell_text() -> None:
    hasher = Hasher(KEY)
    expected = hmac.new(KEY, b"alice@example.com", hashlib.sha256).hexdigest()
    assert hasher("alice@example.com") == expected
    assert len(expected) == 64
    assert hasher(None) is None
    assert math.isnan(hasher(math.nan))
    assert hasher(42) == hasher("42")
    assert hasher(1.5) == hasher("1.5")
    assert hasher(True) == hasher("True")
    assert Hasher(b"other")("alice@example.com") != expected
    assert "test-key" not in repr(hasher)


def test_protect_removes_redacted_and_hashes_hashed_columns() -> None:
    rows = [["a@x", "123-45", 30], ["b@x", None, 40]]
    columns, out = protect(("email", "ssn", "age"), rows, {"ssn"}, {"email"}, KEY) or ((), [])
    hasher = Hasher(KEY)
    assert columns == ("email", "age")
    assert out == [[hasher("a@x"), 30], [hasher("b@x"), 40]]
    assert rows == [["a@x", "123-45", 30], ["b@x", None, 40]]


def test_protect_a_column_both_redacted_and_hashed_is_removed() -> None:
    assert protect(("email", "age"), [["a@x", 1]], {"email"}, {"email"}, KEY) == (("age",), [[1]])


def test_protect_without_a_matching_column_changes_nothing() -> None:
    assert protect(("age",), [[1]], {"ssn"}, {"email"}, KEY) is None


def test_protect_rows_that_cannot_be_matched_by_name_keep_nothing() -> None:
    rows = [["a@x", "123", 1], ["short", "row"], "text", ["a@x", "123", 1, "extra"]]
    columns, out = protect(("email", "ssn", "age"), rows, {"ssn"}, (), KEY) or ((), [])
    assert columns == ("email", "age")
    assert out == [["a@x", 1], None, None, None]


def test_apply_matches_default_column_names() -> None:
    policy = Policy(redacted=frozenset({"feature_1"}))
    assert policy.apply(None, [[1, 2, 3]], "inputs") == (("feature_0", "feature_2"), [[1, 3]])
    policy = Policy(hashed=frozenset({"prediction_0"}), hash_key=KEY)
    assert policy.apply(None, [[7]], "predictions") == (("prediction_0",), [[Hasher(KEY)(7)]])


def test_apply_keeps_default_names_when_nothing_matches() -> None:
    policy = Policy(redacted=frozenset({"ssn"}))
    assert policy.apply(None, [["=x"]], "inputs") == (None, [["'=x"]])
    assert policy.apply(None, [], "inputs") == (None, [])


def test_apply_guards_after_hashing_and_can_be_switched_off() -> None:
    policy = Policy(hashed=frozenset({"h"}), hash_key=KEY)
    _, rows = policy.apply(("h", "t"), [["=x", "=y"]], "inputs")
    assert rows == [[Hasher(KEY)("=x"), "'=y"]]
    off = Policy(formula_guard=False)
    unguarded = [["=x"]]
    assert off.apply(("t",), unguarded, "inputs") == (("t",), unguarded)


def test_apply_skips_the_guard_for_data_that_holds_no_text() -> None:
    rows = [[1.0, -2.0]]
    assert Policy().apply(None, rows, "inputs", text=False)[1] is rows


def test_missing_key() -> None:
    assert Policy(hashed=frozenset({"email"})).missing_key
    assert not Policy(hashed=frozenset({"email"}), hash_key=KEY).missing_key
    assert not Policy().missing_key


def test_a_model_policy_extends_the_global_lists_and_overrides_the_rate() -> None:
    base = Policy(0.5, frozenset({"ssn"}), frozenset({"email"}), KEY, False)
    model = ModelPolicy(0.1, ["phone"], ["customer_id"])
    resolved = model.resolve(base)
    expected = Policy(0.1, frozenset({"ssn", "phone"}), frozenset({"email", "customer_id"}), KEY, False)
    assert resolved == expected
    assert model.resolve(base) is resolved
    assert ModelPolicy().resolve(base) == base
    other = Policy(1.0)
    assert model.resolve(other).sample_rate == 0.1
    assert model.resolve(other).redacted == frozenset({"phone"})


@pytest.mark.parametrize("rate", [True, 1.5, -0.1, "0.5", float("nan"), None])
def test_check_rate_refuses_what_is_not_a_rate(rate: object) -> None:
    with pytest.raises(ValueError, match="sample_rate must be a number from 0 to 1"):
        check_rate(rate, "sample_rate")


@pytest.mark.parametrize("rate", [0, 1, 0.25])
def test_check_rate_accepts_numbers_from_zero_to_one(rate: float) -> None:
    assert check_rate(rate, "sample_rate") == rate


def test_guard_rows_with_rows_that_are_not_sequences() -> None:
    rows: list[object] = [[1.5], 5, None, ["=a"]]
    assert guard_rows(rows) == [[1.5], 5, None, ["'=a"]]  # type: ignore[arg-type]
    numbers: list[object] = [[1.5], 5]
    assert guard_rows(numbers) is numbers  # type: ignore[arg-type]
