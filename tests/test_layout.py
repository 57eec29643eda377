"""The partition layout and the name checks that keep every file inside it."""

from __future__ import annotations

from datetime import date

import pytest

from otel_modeldata.layout import (
    Identity,
    InvalidNameError,
    Partition,
    check_name,
    day_folder,
    days_between,
    designation_folder,
    file_name,
    header_tag,
    parse_file_name,
    parse_partition,
    partition_folder,
)


def test_partition_folder_follows_the_classic_layout() -> None:
    identity = Identity("1a2b", "myresourcegrp", "myWorkspace", "aks-w-collv9")
    folder = partition_folder(identity, "best_model", "10", "inputs", date(2018, 12, 31))
    assert folder == "1a2b/myresourcegrp/myWorkspace/aks-w-collv9/best_model/10/inputs/2018/12/31"


def test_single_digit_months_and_days_are_zero_padded() -> None:
    folder = partition_folder(Identity(), "m", "1", "inputs", date(2026, 3, 7))
    assert folder.endswith("/2026/03/07")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        " ",
        " lead",
        "trail ",
        ".",
        "..",
        "a/b",
        "a\\b",
        "../etc",
        "x\x00y",
        "tab\tname",
        "nl\nname",
        "\u202eevil",
        "a" * 201,
    ],
)
def test_unsafe_names_are_refused(bad: str) -> None:
    with pytest.raises(InvalidNameError):
        check_name(bad, "model name")


@pytest.mark.parametrize("good", ["best_model", "v1.2", "modèle-é", "2026", "a b", "...x", "a" * 200])
def test_ordinary_names_are_kept_as_given(good: str) -> None:
    assert check_name(good, "model name") == good


def test_refusal_names_what_was_wrong() -> None:
    with pytest.raises(InvalidNameError, match="designation"):
        check_name("../x", "designation")


def test_non_strings_are_refused() -> None:
    with pytest.raises(InvalidNameError, match="must be a string"):
        check_name(3, "model version")


def test_file_names() -> None:
    assert file_name() == "data.csv"
    assert file_name(part=2) == "data_2.csv"
    assert file_name("abcd1234") == "data_abcd1234.csv"
    assert file_name("abcd1234", 1) == "data_abcd1234_1.csv"


def test_header_tag_is_stable_and_distinguishes_headers() -> None:
    assert header_tag(b"a,b\r\n") == header_tag(b"a,b\r\n")
    assert header_tag(b"a,b\r\n") != header_tag(b"a,c\r\n")
    assert len(header_tag(b"x")) == 8


def test_designation_folder_leaves_open_levels_as_wildcards() -> None:
    assert designation_folder("m", "inputs") == "*/*/*/*/m/*/inputs"
    identity = Identity("s", "g", "w", "svc")
    assert designation_folder("m", "labels", "3", identity) == "s/g/w/svc/m/3/labels"


def test_days_between_includes_both_ends_and_crosses_months() -> None:
    assert days_between(date(2026, 2, 27), date(2026, 3, 1)) == [
        date(2026, 2, 27),
        date(2026, 2, 28),
        date(2026, 3, 1),
    ]
    assert days_between(date(2026, 3, 1), date(2026, 2, 1)) == []
    assert day_folder(date(2026, 3, 7)) == "2026/03/07"


@pytest.mark.parametrize(
    ("tag", "part"), [(None, 0), (None, 3), ("0badcafe", 0), ("0badcafe", 12), ("12345678", 0)]
)
def test_parse_file_name_inverts_file_name(tag: str | None, part: int) -> None:
    assert parse_file_name(file_name(tag, part)) == (tag, part)


@pytest.mark.parametrize(
    "name", ["data.csv.tmp", "data_0.csv", "data_XYZ.csv", "other.csv", ".data.csv.etag", "data"]
)
def test_parse_file_name_refuses_other_names(name: str) -> None:
    assert parse_file_name(name) is None


def test_parse_partition_reads_back_partition_folder() -> None:
    identity = Identity("s", "g", "w", "svc")
    folder = partition_folder(identity, "m", "2", "inputs", date(2026, 1, 31))
    expected = Partition(identity, "m", "2", "inputs", date(2026, 1, 31))
    assert parse_partition(folder) == expected
    assert parse_partition(f"{folder}/data_1.csv") == expected
    with pytest.raises(ValueError, match="partition path"):
        parse_partition("s/g/w/svc/m/2/inputs/2026/02/31")
    with pytest.raises(ValueError, match="partition path"):
        parse_partition("s/g/w/m/2/inputs/2026/02/01")
