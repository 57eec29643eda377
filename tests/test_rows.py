"""Every input shape that real scoring code receives or returns becomes the right rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from otel_modeldata.rows import UnsupportedInputError, to_table


def table(data: object, designation: str = "inputs", **kwargs: object) -> tuple[object, list[list[object]]]:
    result = to_table(data, designation=designation, **kwargs)  # type: ignore[arg-type]
    return result.columns, result.rows


def test_json_string_with_data_key() -> None:
    assert table(json.dumps({"data": [[1, 2], [3, 4]]})) == (None, [[1, 2], [3, 4]])


def test_json_bytes() -> None:
    assert table(b'{"data": [[1.5, "x"]]}') == (None, [[1.5, "x"]])


def test_list_of_rows_and_single_row() -> None:
    assert table([[1, 2, 3]]) == (None, [[1, 2, 3]])
    assert table([1, 2, 3]) == (None, [[1, 2, 3]])


@pytest.mark.parametrize(
    "data",
    [
        [[1, 2], [3, 4]],
        [1, 2],
        {"data": [[1, 2], [3, 4]]},
        {"a": [1, 3], "b": [2, 4]},
        [{"a": 1, "b": 2}],
        {"a": 1, "b": 2},
    ],
)
def test_rows_do_not_share_lists_with_the_callers_data(data: object) -> None:
    """``run()`` may preprocess its rows in place after they were collected: the record must not change."""
    _, rows = table(data)
    before = [list(r) for r in rows]
    values = data["data"] if isinstance(data, dict) and "data" in data else data
    for container in [values, *(values.values() if isinstance(values, dict) else values)]:
        if isinstance(container, list):
            container[:] = ["mutated"] * len(container)
        elif isinstance(container, dict):
            container.update(dict.fromkeys(container, "mutated"))
    assert rows == before


def test_flat_predictions_are_one_per_row() -> None:
    assert table([0.1, 0.2], designation="predictions") == (None, [[0.1], [0.2]])


def test_flat_list_matching_the_input_row_count_is_a_column() -> None:
    assert table(["a", "b", "c"], designation="scores", expected_rows=3) == (None, [["a"], ["b"], ["c"]])


def test_feature_names_decide_a_flat_list() -> None:
    assert table([1, 2], feature_names=["a", "b"]) == (("a", "b"), [[1, 2]])
    assert table([1, 2], designation="predictions", feature_names=["p"]) == (("p",), [[1], [2]])


def test_dict_of_columns() -> None:
    assert table({"a": [1, 2], "b": ["x", "y"]}) == (("a", "b"), [[1, "x"], [2, "y"]])


def test_dict_of_scalars_is_one_row() -> None:
    assert table({"a": 1, "b": "x"}) == (("a", "b"), [[1, "x"]])


def test_records_with_missing_keys() -> None:
    assert table([{"a": 1, "b": 2}, {"b": 3, "c": 4}]) == (("a", "b", "c"), [[1, 2, None], [None, 3, 4]])


def test_numpy_arrays() -> None:
    assert table(np.array([[1, 2], [3, 4]])) == (None, [[1, 2], [3, 4]])
    assert table(np.array([1.0, 2.0]), designation="predictions") == (None, [[1.0], [2.0]])
    assert table(np.array([1.0, 2.0])) == (None, [[1.0, 2.0]])
    assert table(np.float64(3.5)) == (None, [[3.5]])


def test_numpy_values_become_python_values() -> None:
    _, rows = table(np.array([[1, 2]], dtype=np.int64))
    assert type(rows[0][0]) is int


def test_dataframe_keeps_its_column_names() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0], "y": ["a", "b"]})
    assert table(frame) == (("x", "y"), [[1.0, "a"], [2.0, "b"]])


def test_series_of_predictions_and_labelled_series_row() -> None:
    assert table(pd.Series([1, 2], name="p"), designation="predictions") == (("p",), [[1], [2]])
    assert table(pd.Series({"a": 1, "b": 2})) == (("a", "b"), [[1, 2]])


def test_explicit_feature_names_override_carried_names() -> None:
    frame = pd.DataFrame({"x": [1], "y": [2]})
    assert table(frame, feature_names=["f1", "f2"]) == (("f1", "f2"), [[1, 2]])


def test_text_that_is_not_json_is_one_value() -> None:
    assert table("a review to classify, with commas") == (None, [["a review to classify, with commas"]])


def test_text_that_is_not_json_is_refused_when_several_features_are_declared() -> None:
    with pytest.raises(UnsupportedInputError, match="not JSON"):
        table("1,2,3", feature_names=["a", "b", "c"])


def test_scalar_and_empty() -> None:
    assert table(7) == (None, [[7]])
    assert table([]) == (None, [])


@pytest.mark.parametrize(
    "bad",
    [b"\xff\xfe", np.zeros((2, 2, 2)), object(), {"a": [1, 2], "b": [1]}, [{"a": 1}, 3]],
    ids=["binary", "3d", "object", "ragged-columns", "mixed-records"],
)
def test_unusable_values_are_refused_with_a_reason(bad: object) -> None:
    with pytest.raises(UnsupportedInputError):
        table(bad)
