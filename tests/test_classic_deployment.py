"""A classic scoring script run as a classic Azure ML deployment runs it: in a process with only
that deployment's variables and model config map, against Azure Blob Storage (Azurite)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from _azurite import Azurite

from csvfiles import BlobStore

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ACCOUNT = {"subscriptionId": "1a2b3c4d", "resourceGroupName": "myresourcegrp", "accountName": "myWorkspace"}


DEPLOYED = """
import json, sys
import score_classic_aml as score
score.init()
print(json.dumps([score.run(json.dumps(payload)) for payload in json.loads(sys.argv[1])]))
"""


@pytest.mark.azurite
def test_a_classic_script_runs_with_only_its_deployment_variables(azurite: Azurite, tmp_path: Path) -> None:
    service = f"aks-w-{uuid.uuid4().hex[:8]}"
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "AZURE_", "APPLICATIONINSIGHTS_"))
    }
    config_map = tmp_path / "model_config_map.json"
    config_map.write_text(
        json.dumps({"accountContext": ACCOUNT, "models": {"iris_classifier": {"version": 10}}})
    )
    environment.update(
        AML_MODEL_DC_STORAGE_ENABLED="true",
        AML_MODEL_DC_STORAGE=azurite.connection_string,
        SERVICE_NAME=service,
        AML_MODEL_CONFIG_MAP=str(config_map),
        PYTHONPATH=os.pathsep.join(filter(None, [str(EXAMPLES), os.environ.get("PYTHONPATH")])),
    )
    payloads = [
        {"data": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], "loan": "LOAN-7"},
        {"data": [[5.9, 3.0, 4.2, 1.5]]},
    ]
    done = subprocess.run(
        [sys.executable, "-c", DEPLOYED, json.dumps(payloads)],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    returned = json.loads(done.stdout)
    assert not (tmp_path / "modeldata-local").exists()

    store = BlobStore(azurite, "modeldata")
    where = {"version": "10", "identity": (*ACCOUNT.values(), service)}
    try:
        _, inputs = store.read_rows("iris_classifier", "inputs", **where)
        header, predictions = store.read_rows("iris_classifier", "predictions", **where)
        _, signals = store.read_rows("iris_classifier", "signals", file="confidence.csv", **where)
    finally:
        store.close()
    ids = [call["correlation_id"] for call in returned]
    assert ids[0].startswith("LOAN-7-")
    assert not ids[1].startswith("LOAN-7")
    assert [(r["sepal_length"], r["$aml_dc_correlation_id"]) for r in inputs] == [
        ("5.1", ids[0]),
        ("6.7", ids[0]),
        ("5.9", ids[1]),
    ]
    assert header.count("$aml_dc_correlation_id") == 1
    assert header[0] == "species"
    assert [(r["species"], r["$aml_dc_correlation_id"]) for r in predictions] == [
        (species, call["correlation_id"]) for call in returned for species in call["species"]
    ]
    assert [r["$aml_dc_correlation_id"] for r in signals] == ids
    assert [r["rows"] for r in signals] == ["2", "1"]
    assert {(r["$aml_workspace"], r["$aml_service_name"], r["$aml_model_version"]) for r in inputs} == {
        ("1a2b3c4d/myresourcegrp/myWorkspace", service, "10")
    }
