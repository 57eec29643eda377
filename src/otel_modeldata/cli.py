"""``otel-modeldata``: list, read and join the collected files from the command line.

Output for people goes to stdout (data too, when no ``-o`` file is given), errors to stderr in
one line; exit status 0 on success and 2 on a usage or runtime error (an unknown model, a range
without files, a file that cannot be read). Other modules add commands to :data:`main` with
``main.add_command``; :func:`selection` gives them the same ``--source``/``--model``/... options.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .analysis.drift_cli import baseline_command, drift_command
from .analysis.find import UnknownModelError, find_files
from .analysis.parse import guarded
from .analysis.read import Query, query, read_table, select
from .analysis.sources import Source, SourceError, open_source
from .layout import parse_partition
from .schema import INPUTS, PREDICTIONS
from .settings import ConfigurationError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

F = TypeVar("F", bound=Callable[..., Any])
LABELS = "labels"
#: Output formats by file suffix; anything else is CSV.
PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})


class Failure(click.ClickException):
    """A runtime error: one line on stderr, exit status 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"otel-modeldata: {self.format_message()}", err=True)


PROGRESS = click.option(
    "--progress/--no-progress",
    default=None,
    help="A progress bar on stderr while reading many files (default: only when stderr is a terminal).",
)


@click.group()
def main() -> None:
    """Read, join and list the model data otel_modeldata collected (a local root or a blob container)."""


def selection(*, designation: bool = True, model_required: bool = True) -> Callable[[F], F]:
    """The options that choose files: --source, --model, --version, --webservice, --start, --end."""

    def decorate(command: F) -> F:
        options = [
            click.option(
                "--source",
                help="Local root (holding modeldata/) or container URL; default: "
                "the collector's settings (OTEL_MODELDATA_* variables).",
            ),
            click.option("--model", required=model_required, help="Model name."),
            click.option("--version", help="Model version (default: every version)."),
            click.option("--webservice", help="Web service (default: every service)."),
            click.option("--start", help="First day, YYYY-MM-DD (default: the first day with data)."),
            click.option("--end", help="Last day, YYYY-MM-DD, included (default: the last day with data)."),
        ]
        if designation:
            options.append(click.option("--designation", default=INPUTS, show_default=True))
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


@contextmanager
def failures() -> Iterator[None]:
    """Known errors as one line on stderr and exit status 2, instead of a traceback."""
    import duckdb
    import pyarrow as pa

    try:
        yield
    except BrokenPipeError:
        # The reader of stdout (``| head``) has gone: stop quietly, as other tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(0) from None
    except pa.ArrowException as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise Failure(f"cannot read the files: {first}") from exc
    except (UnknownModelError, SourceError, ConfigurationError, ValueError, OSError) as exc:
        raise Failure(str(exc)) from exc
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise Failure(f"cannot read the files: {first}") from exc


@main.command("ls")
@selection(designation=False, model_required=False)
@click.option("--designation", help="Designation (default: every designation).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per day folder, in a list.")
def ls(
    source: str | None,
    model: str | None,
    version: str | None,
    webservice: str | None,
    start: str | None,
    end: str | None,
    designation: str | None,
    as_json: bool,
) -> None:
    """Models, versions, designations and days, with files, rows and bytes."""
    from .analysis.partitions import partitions

    with failures():
        opened = open_source(source)
        try:
            found = partitions(
                opened, model=model, designation=designation, version=version, start=start, end=end
            )
            if webservice is not None:
                found = found[found["webservice"] == webservice]
            if model is not None and found.empty:
                _check_model(opened, Query(model, designation or INPUTS, version, webservice))
        finally:
            opened.close()
    if as_json:
        records = found.assign(day=found["day"].map(str)).to_dict(orient="records")
        click.echo(json.dumps(records, indent=2))
    elif found.empty:
        click.echo("no files")
    else:
        click.echo(found.to_string(index=False))


@main.command("read")
@selection()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write: .parquet for Parquet, anything else CSV (default: CSV on stdout).",
)
@PROGRESS
def read_command(output: Path | None, progress: bool | None, **options: Any) -> None:
    """The rows of a model's designation over a range of days, as CSV or Parquet."""
    with failures():
        asked = query(
            **{k: options[k] for k in ("model", "designation", "version", "webservice", "start", "end")}
        )
        opened = open_source(options["source"])
        try:
            table = read_table(opened, asked, progress=progress)
            if table is None:
                raise _empty(opened, asked)
            rows = _write(table, output)
        finally:
            opened.close()
    _done(rows, asked.describe(), output)


main.add_command(read_command, "export")


@main.command("join")
@selection(designation=False)
@click.option(
    "--labels/--no-labels", default=True, show_default=True, help="Join the labels when there are any."
)
@click.option(
    "--labels-window-days",
    default=30,
    show_default=True,
    type=click.IntRange(min=0),
    help="Days after a prediction in which its label may arrive.",
)
@click.option(
    "--how",
    type=click.Choice(["left", "inner"]),
    default="left",
    show_default=True,
    help="left keeps every input row; inner only those with a prediction (and label).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write: .parquet for Parquet, anything else CSV (default: CSV on stdout).",
)
@PROGRESS
def join_command(
    labels: bool,
    labels_window_days: int,
    how: str,
    output: Path | None,
    progress: bool | None,
    **options: Any,
) -> None:
    """Inputs with their predictions (and labels), matched on correlation id and row index.

    Into a file (``-o``), day by day, so memory follows one day's rows (``analysis.join_to``).
    """
    from .analysis.join import join
    from .analysis.read import read
    from .analysis.stream import join_to

    where = {k: options[k] for k in ("model", "version", "webservice", "start", "end")}
    with failures():
        asked = query(designation=INPUTS, **where)
        opened = open_source(options["source"])
        try:
            if not select(opened, asked):
                raise _empty(opened, asked)
            if not select(opened, query(designation=PREDICTIONS, **where)):
                raise Failure(f"no predictions for {asked.describe()} in {opened.description}")
            if output is not None:
                written = join_to(
                    output,
                    opened,
                    **where,
                    labels=labels,
                    how="inner" if how == "inner" else "left",
                    labels_window_days=labels_window_days,
                    progress=progress,
                )
                click.echo(f"wrote {written} rows (joined {asked.describe()}) to {output}")
                return
            inputs = read(opened, designation=INPUTS, **where, progress=progress)
            predictions = read(opened, designation=PREDICTIONS, **where, progress=progress)
            found = None
            if labels:
                # Labels arrive after their predictions: look as far as the window reaches.
                late = asked.end + timedelta(days=labels_window_days) if asked.end else None
                found = read(opened, designation=LABELS, **{**where, "end": late})
            joined = join(
                inputs,
                predictions,
                found if found is not None and not found.empty else None,
                how="inner" if how == "inner" else "left",
                labels_window_days=labels_window_days,
            )
        finally:
            opened.close()
        _write_frame(joined, output)
    _done(len(joined), f"joined {asked.describe()}", output)


def _empty(source: Source, asked: Query) -> Failure:
    """The error for a range without files, saying which days have some."""
    everything = find_files(
        source, Query(asked.model, asked.designation, asked.version, asked.webservice).pattern()
    )
    days = sorted({parse_partition(f.name).day for f in everything})
    held = f"; it holds {days[0]} to {days[-1]}" if days else f"; it holds no {asked.designation}"
    if not days and asked.version is not None:
        other = Query(asked.model, asked.designation, None, asked.webservice).pattern()
        versions = sorted({parse_partition(f.name).version for f in find_files(source, other)})
        held += f" of version {asked.version} (versions found: {', '.join(versions) or 'none'})"
    return Failure(f"no files for {asked.describe()} in {source.description}{held}")


def _check_model(source: Source, asked: Query) -> None:
    from .analysis.find import models

    found = models(source, asked.pattern())
    if asked.model not in found:
        raise UnknownModelError(asked.model, found, source.description)


def _write(table: pa.Table, output: Path | None) -> int:
    """Write ``table`` to ``output`` (or CSV on stdout) a batch at a time; the number of rows written.

    Parquet holds the values as read; CSV has the formula guard put back, as the collector's files.
    """
    import pyarrow as pa
    import pyarrow.csv
    import pyarrow.parquet

    reader = table.to_reader()
    rows = 0
    if output is not None and output.suffix.lower() in PARQUET_SUFFIXES:
        with pyarrow.parquet.ParquetWriter(output, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
        return rows
    sink: Any = open(output, "wb") if output is not None else sys.stdout.buffer  # noqa: SIM115
    try:
        with pyarrow.csv.CSVWriter(sink, reader.schema) as writer:
            for batch in reader:
                writer.write_table(guarded(pa.Table.from_batches([batch], reader.schema)))
                rows += batch.num_rows
    finally:
        if output is not None:
            sink.close()
    return rows


def _write_frame(frame: pd.DataFrame, output: Path | None) -> None:
    import pyarrow as pa

    _write(pa.Table.from_pandas(frame, preserve_index=False), output)


def _done(rows: int, what: str, output: Path | None) -> None:
    """Say what was written: on stdout after a file, on stderr when stdout held the data."""
    if output is not None:
        click.echo(f"wrote {rows} rows ({what}) to {output}")
    else:
        click.echo(f"wrote {rows} rows ({what})", err=True)


main.add_command(baseline_command)
main.add_command(drift_command)
