"""``otel-modeldata baseline`` and ``otel-modeldata drift``: drift checks a pipeline can act on.

Exit status: 0 no drift, 1 drift found, 2 usage or runtime error (one line on stderr). The
``otel-modeldata`` group (:mod:`otel_modeldata.cli`) registers both commands.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

NO_DRIFT = 0
DRIFT = 1
ERROR = 2

F = TypeVar("F", bound=Callable[..., Any])


def _one_line_errors(command: F) -> F:
    """Turn any failure into one line on stderr and exit status 2, never a traceback."""

    @wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except Exception as error:
            name = click.get_current_context().info_name
            message = " ".join(str(error).split()) or type(error).__name__
            click.echo(f"otel-modeldata {name}: error: {message}", err=True)
            sys.exit(ERROR)

    return run  # type: ignore[return-value]


@click.command("baseline")
@click.option("--data", required=True, type=click.Path(exists=True, dir_okay=False), help="CSV or Parquet")
@click.option("--categorical", multiple=True, help="a numeric column to treat as categorical (repeatable)")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="baseline JSON to write")
@_one_line_errors
def baseline_command(data: str, categorical: tuple[str, ...], output: str) -> None:
    """Save the training data's statistics, so drift checks do not need the data again."""
    from . import baseline

    result = baseline(data, categorical=categorical)
    result.save(output)
    click.echo(f"{output}: {len(result.features)} features from {result.rows:,} rows")


@click.command("drift")
@click.option("--baseline", "baseline_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--model", required=True, help="model name of the collected data")
@click.option("--source", default=None, help="root folder or URL of the collected files (read's default)")
@click.option("--designation", default="inputs", show_default=True, help="inputs or predictions")
@click.option("--version", "model_version", default=None, help="model version (all when omitted)")
@click.option("--webservice", default=None, help="web service name (all when omitted)")
@click.option("--start", default=None, help="first day (YYYY-MM-DD) or time; read day by day with --end")
@click.option("--end", default=None, help="last day (YYYY-MM-DD) or time")
@click.option("--threshold", type=float, default=None, help="replaces the default 0.1 for every feature")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), help="write the HTML report here")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="write the JSON result here")
@_one_line_errors
def drift_command(
    baseline_path: str,
    model: str,
    source: str | None,
    designation: str,
    model_version: str | None,
    webservice: str | None,
    start: str | None,
    end: str | None,
    threshold: float | None,
    html_path: str | None,
    json_path: str | None,
) -> None:
    """Compare collected data with a baseline; exit 1 when it drifted, 0 when not."""
    from . import drift

    arguments = {
        "source": source,
        "model": model,
        "designation": designation,
        "version": model_version,
        "webservice": webservice,
        "start": start,
        "end": end,
    }
    result = drift(baseline_path, arguments, threshold=threshold)
    if html_path:
        result.to_html(html_path)
    if json_path:
        result.to_json(json_path)
    table = result.to_frame()[["feature", "kind", "method", "statistic", "threshold", "drifted"]]
    verdict = f"drift in {len(result.drifted_features)} of {len(result.features)} features"
    click.echo(f"{verdict if result.drifted else 'no drift'} ({result.rows:,} rows; {result.rule})")
    click.echo(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    sys.exit(DRIFT if result.drifted else NO_DRIFT)
