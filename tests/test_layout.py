"""The partition layout and the name checks that keep every file inside it."""

from __future__ import annotations

from datetime import date

import pytest

from otel_modeldata.layout import (
    Identity,
    InvalidNameError,
    check_name,
    file_name,
    header_tag,
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
