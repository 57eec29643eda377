"""What is collected, end to end on both destinations: sampling, redaction, keyed hashes, the formula guard.

Files are read back as a user would (the ``store`` fixture); what the export queue and the
log records hold is inspected too, since redacted values must never reach them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import subprocess
import sys
import textwrap
from typing import Any

import pandas as pd
import pytest
from opentelemetry.sdk._logs import LogRecordProcessor, ReadWriteLogRecord

import otel_modeldata
from otel_modeldata import ModelDataCollector, collect_io, providers
from otel_modeldata.policy import sampled
from otel_modeldata.schema import CORRELATION_COLUMNS
from otel_modeldata.settings import KEYWORDS

from csvfiles import IDENTITY, IDENTITY_KEYS, Store
from gates import Gate, hold

KEY = "SECRET-hash-key-0123"
SSN = "078-05-1120"


def _mac(text: str) -> str:
    return hmac.new(KEY.encode(), text.encode(), hashlib.sha256).hexdigest()


class Recorder(LogRecordProcessor):
    """Another processor on our provider: what any other exporter there would be given."""

    def __init__(self) -> None:
        self.records: list[tuple[Any, dict[str, Any]]] = []

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        record = log_record.log_record
        self.records.append((record.body, dict(record.attributes or {})))

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def test_formula_cells_are_guarded_and_numbers_untouched(
    store_collector: otel_modeldata.ModelDataHandle, store: Store
) -> None:
    collector = ModelDataCollector("sheet", designation="inputs", feature_names=["text", "number", "ratio"])
    collector.collect([['=HYPERLINK("http://x")', -5, -0.5], ["@SUM(A1)", 3, 1.0], ["fine", None, 2.5]])
    assert store_collector.force_flush()
    _, rows = store.read_rows("sheet", "inputs")
    assert [(r["text"], r["number"], r["ratio"]) for r in rows] == [
        ('\'=HYPERLINK("http://x")', "-5", "-0.5"),
        ("'@SUM(A1)", "3", "1.0"),
        ("fine", "", "2.5"),
    ]


def test_the_formula_guard_can_be_switched_off(store: Store) -> None:
    handle = store.configure(csv_formula_guard="false")
    ModelDataCollector("sheet", designation="inputs", feature_names=["text"]).collect([["=1+1"], ["-5"]])
    assert handle.force_flush()
    assert [r["text"] for r in store.read_rows("sheet", "inputs")[1]] == ["=1+1", "-5"]


def test_redacted_and_hashed_columns_of_a_dataframe_with_feature_names(store: Store) -> None:
    handle = store.configure(redact="ssn", hash="email", hash_key=KEY)

    @collect_io("credit", feature_names=["age", "email", "ssn"], prediction_names=["score"])
    def run(frame: pd.DataFrame) -> list[float]:
        return [0.5] * len(frame)

    run(pd.DataFrame({"ssn": [SSN, "219-09-9999"], "email": ["a@x.com", None], "age": [30, 41]}))
    assert handle.force_flush()
    header, rows = store.read_rows("credit", "inputs")
    assert header == ["age", "email", *CORRELATION_COLUMNS]
    assert [(r["age"], r["email"]) for r in rows] == [
        ("30", _mac("a@x.com")),
        ("41", "NaN"),
    ]  # missing stays missing
    assert store.read_rows("credit", "predictions")[1][0]["score"] == "0.5"
    assert not any(
        SSN.encode() in store.read_bytes(f) or b"a@x.com" in store.read_bytes(f) for f in store.files()
    )


def test_per_model_redaction_matches_default_names_and_records(
    store_collector: otel_modeldata.ModelDataHandle, store: Store
) -> None:
    @collect_io("unnamed", redact=["feature_1", "prediction_1"])
    def run(rows: list[list[Any]]) -> list[list[float]]:
        return [[0.1, 0.9] for _ in rows]

    run([[1, SSN, 3]])
    records = ModelDataCollector("records", designation="inputs", redact=["ssn"])
    records.collect(json.dumps({"data": [{"age": 30, "ssn": SSN}, {"ssn": SSN, "age": 31}]}))
    assert store_collector.force_flush()
    header, rows = store.read_rows("unnamed", "inputs")
    assert header == ["feature_0", "feature_2", *CORRELATION_COLUMNS]
    assert [(r["feature_0"], r["feature_2"]) for r in rows] == [("1", "3")]
    header, rows = store.read_rows("unnamed", "predictions")
    assert header == ["prediction_0", *CORRELATION_COLUMNS]
    header, rows = store.read_rows("records", "inputs")
    assert header == ["age", *CORRELATION_COLUMNS]
    assert [r["age"] for r in rows] == ["30", "31"]


def test_nothing_redacted_reaches_the_queue_a_log_record_or_a_log(
    store: Store, gate: Gate, caplog: pytest.LogCaptureFixture
) -> None:
    handle = store.configure(redact=["ssn"], hash=["email"], hash_key=KEY)
    assert handle.logger_provider is not None
    recorder = Recorder()
    handle.logger_provider.add_log_record_processor(recorder)
    hold(handle, gate, ModelDataCollector("held", designation="inputs", feature_names=["x"]))
    collector = ModelDataCollector("people", designation="inputs", feature_names=["email", "ssn", "note"])
    with caplog.at_level(logging.DEBUG):
        collector.collect([["a@x.com", SSN, "=cmd"]])
        collector.collect([["only two", SSN]])  # cannot be matched by name: nothing of it is kept
        runtime = providers._runtime
        assert runtime is not None
        queued = [(item.body, item.attributes) for item in runtime.handoff._queue]
        assert queued == [
            ([[_mac("a@x.com"), "'=cmd"]], queued[0][1]),
            ([None], queued[1][1]),
        ]
        assert queued[0][1]["modeldata.feature_names"] == ("email", "note")
        gate.opened.set()
        assert handle.force_flush()
    assert [
        body for body, attributes in recorder.records if attributes["modeldata.model.name"] == "people"
    ] == [
        [[_mac("a@x.com"), "'=cmd"]],
        [None],
    ]
    _, rows = store.read_rows("people", "inputs")
    assert [(r["email"], r["note"]) for r in rows] == [(_mac("a@x.com"), "'=cmd")]
    assert otel_modeldata.stats()["rows_dropped"] == {"wrong_feature_count": 1}
    everything = repr(recorder.records) + caplog.text + repr(handle.settings)
    everything += "".join(store.read_bytes(f).decode() for f in store.files())
    for secret in (SSN, "a@x.com", KEY):
        assert secret not in everything


def test_the_same_value_hashes_alike_in_inputs_and_labels(store: Store) -> None:
    handle = store.configure(hash="email", hash_key=KEY)
    inputs_dc = ModelDataCollector("churn", designation="inputs", feature_names=["email", "tenure"])
    labels_dc = ModelDataCollector("churn", designation="labels", feature_names=["email", "churned"])
    inputs_dc.collect(pd.DataFrame({"email": ["a@x.com", "b@x.com"], "tenure": [3, 12]}))
    labels_dc.collect([{"churned": 1, "email": "b@x.com"}, {"churned": 0, "email": "a@x.com"}])
    assert handle.force_flush()
    inputs = store.read_frame("churn", "inputs")
    labels = store.read_frame("churn", "labels")
    joined = inputs.merge(labels, on="email")
    assert sorted(zip(joined["tenure"], joined["churned"], strict=True)) == [(3, 0), (12, 1)]
    assert set(joined["email"]) == {_mac("a@x.com"), _mac("b@x.com")}


def test_a_model_hashing_without_a_key_drops_its_rows_and_says_which_variable(
    store_collector: otel_modeldata.ModelDataHandle, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    collector = ModelDataCollector("nokey", designation="inputs", feature_names=["email"], hash=["email"])
    with caplog.at_level(logging.ERROR):
        collector.collect([["a@x.com"], ["b@x.com"]])
    assert store_collector.force_flush()
    assert not store.exists("nokey", "inputs", file=None)
    assert otel_modeldata.stats()["rows_dropped"] == {"no_hash_key": 2}
    assert "OTEL_MODELDATA_HASH_KEY" in caplog.text
    assert "a@x.com" not in caplog.text


def test_sampled_out_calls_are_counted_and_inputs_and_predictions_kept_together(store: Store) -> None:
    handle = store.configure(sample_rate=0.5)

    @collect_io("sampled")
    def run(rows: list[list[int]]) -> list[int]:
        return [r[0] * 2 for r in rows]

    for i in range(200):
        assert run([[i], [i + 1000]]) == [2 * i, 2 * i + 2000]
    assert handle.force_flush()
    inputs = store.read_frame("sampled", "inputs")
    predictions = store.read_frame("sampled", "predictions")
    kept = set(inputs["$aml_dc_correlation_id"])
    assert kept == set(predictions["$aml_dc_correlation_id"])
    assert all(sampled(cid, 0.5) for cid in kept)
    stats = otel_modeldata.stats()
    assert stats["calls_not_collected"] == {"sampled_out": 200 - len(kept)}
    assert 60 < len(kept) < 140
    assert stats["rows_written"] == stats["rows_accepted"] == 4 * len(kept)
    assert stats["rows_dropped"] == {}
    joined = inputs.merge(predictions, on=["$aml_dc_correlation_id", "$row_index"], validate="one_to_one")
    assert (joined["feature_0"] * 2 == joined["prediction_0"]).all()


def test_a_model_rate_replaces_the_global_one(store: Store) -> None:
    handle = store.configure(sample_rate=0)
    never = ModelDataCollector("never", designation="inputs")
    always = ModelDataCollector("always", designation="inputs", sample_rate=1)

    @collect_io("none_decorated", sample_rate=0.0)
    def run(rows: list[list[int]]) -> int:
        return 1

    for i in range(5):
        never.collect([[i]])
        always.collect([[i]])
    ModelDataCollector("zero", designation="inputs", sample_rate=0).collect([[1]])
    assert run([[1]]) == 1
    assert handle.force_flush()
    assert [r["feature_0"] for r in store.read_rows("always", "inputs")[1]] == ["0", "1", "2", "3", "4"]
    assert {f.split("/")[len(IDENTITY)] for f in store.files()} == {"always"}  # the model folder
    assert otel_modeldata.stats()["calls_not_collected"] == {"sampled_out": 7}


def test_a_classic_request_sampled_out_drops_its_predictions_too(store: Store) -> None:
    handle = store.configure(sample_rate=0.5)
    inputs_dc = ModelDataCollector("classic", designation="inputs")
    prediction_dc = ModelDataCollector("classic", designation="predictions")
    for i in range(100):
        with otel_modeldata.request_id_scope(f"req-{i}"):
            inputs_dc.collect([[i]])
            prediction_dc.collect([[i * 10]])
    assert handle.force_flush()
    inputs = store.read_frame("classic", "inputs")
    predictions = store.read_frame("classic", "predictions")
    assert list(inputs["$aml_dc_correlation_id"]) == list(predictions["$aml_dc_correlation_id"])
    assert (inputs["feature_0"] * 10 == predictions["prediction_0"]).all()
    assert otel_modeldata.stats()["calls_not_collected"] == {"sampled_out": 2 * (100 - len(inputs))}


LABELS_LATER = textwrap.dedent(
    """
    import otel_modeldata
    from otel_modeldata import ModelDataCollector

    handle = otel_modeldata.configure()
    labels = ModelDataCollector("loans", designation="labels", feature_names=["loan", "label"])
    for i in range(80):
        labels.collect([[f"LOAN-{i}", i % 2]], user_correlation_id=f"LOAN-{i}")
    handle.shutdown()
    print(otel_modeldata.stats()["calls_not_collected"].get("sampled_out", 0))
    """
)


def test_labels_sent_later_by_another_program_follow_the_same_decision(store: Store) -> None:
    handle = store.configure(sample_rate=0.5)
    inputs_dc = ModelDataCollector("loans", designation="inputs", feature_names=["loan", "amount"])
    for i in range(80):
        inputs_dc.collect([[f"LOAN-{i}", 1000 * i]], user_correlation_id=f"LOAN-{i}")
    assert handle.force_flush()
    handle.shutdown()

    environment = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_MODELDATA_")}
    environment.update(store.environment)
    environment.update({KEYWORDS[k]: v for k, v in zip(IDENTITY_KEYS, IDENTITY, strict=True)})
    environment["OTEL_MODELDATA_SAMPLE_RATE"] = "0.5"
    done = subprocess.run(
        [sys.executable, "-c", LABELS_LATER], env=environment, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    inputs = {r["loan"] for r in store.read_rows("loans", "inputs")[1]}
    labels = {r["loan"] for r in store.read_rows("loans", "labels")[1]}
    assert labels == inputs
    assert inputs == {f"LOAN-{i}" for i in range(80) if sampled(f"LOAN-{i}", 0.5)}
    assert 0 < len(inputs) < 80
    assert int(done.stdout) == 80 - len(labels)


def test_model_arguments_that_can_never_work_are_refused_when_the_code_loads() -> None:
    with pytest.raises(ValueError, match="sample_rate must be a number from 0 to 1"):
        collect_io("m", sample_rate=1.5)
    with pytest.raises(ValueError, match="sample_rate"):
        ModelDataCollector("m", sample_rate=True)
    with pytest.raises(TypeError, match="redact must be a sequence of strings"):
        collect_io("m", redact="ssn")
    with pytest.raises(TypeError, match="hash must be a sequence of strings"):
        ModelDataCollector("m", hash=[1])  # type: ignore[list-item]


def test_configure_refuses_hashing_without_a_key(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    refused = otel_modeldata.ConfigurationError
    with pytest.raises(refused, match=r"OTEL_MODELDATA_HASH .*OTEL_MODELDATA_HASH_KEY"):
        store.configure(hash=["email"])
    monkeypatch.setenv("OTEL_MODELDATA_HASH", "email")
    with pytest.raises(refused, match="OTEL_MODELDATA_HASH_KEY"):
        store.configure()
    assert store.untouched()
