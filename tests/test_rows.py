"""Every input shape that real scoring code receives or returns becomes the right rows."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from otel_modeldata.rows import Mismatch, UnsupportedInputError, to_table


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


def test_declared_names_the_data_does_not_carry_are_empty_and_its_own_names_ignored() -> None:
    result = to_table(pd.DataFrame({"x": [1], "y": [2]}), designation="inputs", feature_names=["f1", "f2"])
    assert (result.columns, result.rows) == (("f1", "f2"), [[None, None]])
    assert result.missing == Mismatch(("f1", "f2"), 1)
    assert result.extra == Mismatch(("x", "y"), 1)


NAMES = ["age", "income"]
ROW = {"income": 50000, "age": 30}
BY_NAME = [[30, 50000], [40, 60000]]
ROWS = [ROW, {"income": 60000, "age": 40}]
COLUMNS = {"income": [50000, 60000], "age": [30, 40]}
STRUCTURED = np.array([(50000, 30), (60000, 40)], dtype=[("income", "i8"), ("age", "i8")])


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (ROWS, BY_NAME),
        (COLUMNS, BY_NAME),
        (ROW, [[30, 50000]]),
        (pd.DataFrame(COLUMNS), BY_NAME),
        (pd.DataFrame(COLUMNS).iloc[1], [[40, 60000]]),
        (STRUCTURED, BY_NAME),
        (json.dumps(ROWS), BY_NAME),
        (json.dumps(COLUMNS), BY_NAME),
        (json.dumps(ROW), [[30, 50000]]),
        (json.dumps({"data": ROWS}).encode(), BY_NAME),
        ({"data": ROWS}, BY_NAME),
        ({"data": COLUMNS}, BY_NAME),
        ({"data": ROW}, [[30, 50000]]),
        ({"data": pd.DataFrame(COLUMNS)}, BY_NAME),
    ],
    ids=[
        "records",
        "columns",
        "row",
        "frame",
        "labelled-series",
        "structured",
        "json-records",
        "json-columns",
        "json-row",
        "json-wrapped-bytes",
        "wrapped-records",
        "wrapped-columns",
        "wrapped-row",
        "wrapped-frame",
    ],
)
def test_named_data_is_taken_by_name_not_by_position(data: object, expected: list[list[object]]) -> None:
    result = to_table(data, designation="inputs", feature_names=NAMES)
    assert (result.columns, result.rows) == (tuple(NAMES), expected)
    assert (result.missing, result.extra) == (None, None)


@pytest.mark.parametrize(
    "data",
    [
        [{"income": 1, "zip": "x"}, {"income": 2, "zip": "y"}],
        {"income": [1, 2], "zip": ["x", "y"]},
        pd.DataFrame({"income": [1, 2], "zip": ["x", "y"]}),
        np.array([(1, "x"), (2, "y")], dtype=[("income", "i8"), ("zip", "U1")]),
    ],
    ids=["records", "columns", "frame", "structured"],
)
def test_a_missing_name_is_an_empty_cell_and_an_extra_name_is_left_out(data: object) -> None:
    result = to_table(data, designation="inputs", feature_names=NAMES)
    assert result.rows == [[None, 1], [None, 2]]
    assert result.missing == Mismatch(("age",), 2)
    assert result.extra == Mismatch(("zip",), 2)


def test_records_count_only_the_rows_that_lack_or_add_a_name() -> None:
    result = to_table(
        [ROW, {"age": 1}, {"age": 2, "income": 3, "zip": 4}], designation="i", feature_names=NAMES
    )
    assert result.rows == [[30, 50000], [1, None], [2, 3]]
    assert result.missing == Mismatch(("income",), 1)
    assert result.extra == Mismatch(("zip",), 1)


def test_a_frame_with_a_superset_of_the_columns_keeps_its_values_types() -> None:
    frame = pd.DataFrame({"zip": ["x"], "income": [50000], "age": [30.5]})
    result = to_table(frame, designation="inputs", feature_names=NAMES)
    assert result.rows == [[30.5, 50000]]
    assert result.extra == Mismatch(("zip",), 1)


def test_a_frame_with_a_subset_of_the_columns_has_empty_cells_not_nan() -> None:
    result = to_table(pd.DataFrame({"income": [50000, 60000]}), designation="inputs", feature_names=NAMES)
    assert result.rows == [[None, 50000], [None, 60000]]
    assert type(result.rows[0][1]) is int
    assert result.missing == Mismatch(("age",), 2)
    frame = pd.DataFrame({"zip": ["x"], "income": [math.nan]})
    (row,) = to_table(frame, designation="inputs", feature_names=["zip", "age", "income"]).rows
    assert row[:2] == ["x", None]
    assert math.isnan(row[2])


def test_prediction_names_select_from_a_frame_or_dict_result() -> None:
    frame = pd.DataFrame({"proba": [0.9, 0.2], "label": ["a", "b"]})
    result = to_table(frame, designation="predictions", feature_names=["label", "proba"])
    assert result.rows == [["a", 0.9], ["b", 0.2]]
    result = to_table({"proba": [0.9], "label": ["a"]}, designation="predictions", feature_names=["label"])
    assert result.rows == [["a"]]
    assert result.extra == Mismatch(("proba",), 1)


def test_unnamed_data_stays_positional() -> None:
    for data in (
        [[1, 2]],
        np.array([[1, 2]]),
        pd.DataFrame(np.array([[1, 2]])),
        json.dumps({"data": [[1, 2]]}),
    ):
        result = to_table(data, designation="inputs", feature_names=NAMES)
        assert (result.rows, result.missing, result.extra) == ([[1, 2]], None, None)


def test_a_series_of_predictions_indexed_by_ids_stays_a_column() -> None:
    series = pd.Series([0.1, 0.2], index=["id-1", "id-2"])
    assert table(series, designation="predictions", feature_names=["score"]) == (("score",), [[0.1], [0.2]])


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"data": [1, 2], "age": [30, 40]}, (("data", "age"), [[1, 30], [2, 40]])),
        ({"data": 5, "age": 30}, (("data", "age"), [[5, 30]])),
        ({"data": [[1, 2]], "method": "predict"}, (None, [[1, 2]])),
        ({"data": [[1, 2], [3, 4]], "ids": [7, 8]}, (None, [[1, 2], [3, 4]])),
    ],
    ids=["column-called-data", "row-with-data", "wrapper-with-options", "wrapper-with-ids"],
)
def test_a_data_key_is_the_request_wrapper_only_when_it_holds_the_rows(
    data: dict[str, object], expected: tuple[object, list[list[object]]]
) -> None:
    assert table(data) == expected


def test_a_feature_called_data_is_a_column() -> None:
    result = to_table({"data": [1, 2], "age": [30, 40]}, designation="inputs", feature_names=["age", "data"])
    assert result.rows == [[30, 1], [40, 2]]


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
