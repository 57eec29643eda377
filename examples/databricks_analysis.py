# Databricks notebook source
# MAGIC %md
# MAGIC # Model data: inputs joined to predictions, and how the inputs drift
# MAGIC
# MAGIC Import this file as a notebook (each `# COMMAND ----------` is a cell), or run it anywhere with
# MAGIC PySpark: `MODELDATA_SOURCE=./modeldata-local MODELDATA_MODEL=iris_classifier python
# MAGIC examples/databricks_analysis.py`. `otel_modeldata.spark.read` reads every file of each day (a
# MAGIC schema change writes a sibling file), types the columns, and keeps quoted line breaks and `""`.

# COMMAND ----------

import os
from datetime import datetime, timedelta, timezone

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from otel_modeldata import spark as modeldata

# The container (abfss://modeldata@<account>.dfs.core.windows.net/, credentials set on the cluster)
# or, locally, the folder holding modeldata/.
SOURCE = os.environ.get("MODELDATA_SOURCE", "abfss://modeldata@<account>.dfs.core.windows.net/")
MODEL = os.environ.get("MODELDATA_MODEL", "best_model")
DAYS = int(os.environ.get("MODELDATA_DAYS", "30"))
END = datetime.now(timezone.utc).date()
START = END - timedelta(days=DAYS - 1)

spark = SparkSession.builder.getOrCreate()  # Databricks: the notebook's session


def show(frame: DataFrame) -> None:
    """``display`` in a Databricks notebook, a plain table elsewhere."""
    shown = globals().get("display")
    if shown is not None:
        shown(frame)
    else:
        frame.show(50, truncate=False)


# COMMAND ----------

# MAGIC %md Inputs and predictions of the last `DAYS` days, joined row by row.

# COMMAND ----------

KEYS = ["$aml_dc_correlation_id", "$row_index"]
# Cached: every summary below reads them again.
WHEN = {"start": START, "end": END}
inputs = modeldata.read(spark, SOURCE, model=MODEL, designation="inputs", **WHEN).cache()
predictions = modeldata.read(spark, SOURCE, model=MODEL, designation="predictions", **WHEN).cache()
prediction_columns = [c for c in predictions.columns if not c.startswith("$")]
features = [c for c in inputs.columns if not c.startswith("$")]
# Left join: the inputs of calls that failed have no prediction and are kept, with empty predictions.
joined = inputs.join(predictions.select(*KEYS, *prediction_columns), on=KEYS, how="left")
per_day = joined.groupBy("$day").agg(
    F.count("*").alias("rows"), F.count(F.col(f"`{prediction_columns[0]}`")).alias("predicted")
)
show(per_day.orderBy("$day"))

# COMMAND ----------

# MAGIC %md Drift, roughly: each numeric feature's daily mean, and how far it moved from the first day's,
# MAGIC in units of the first day's standard deviation. Values over 2 or 3 are worth a look.

# COMMAND ----------

numeric = [name for name, kind in inputs.dtypes if name in features and kind in {"int", "bigint", "double"}]
daily = inputs.groupBy("$day").agg(
    *(F.mean(F.col(f"`{name}`")).alias(f"{name}|mean") for name in numeric),
    *(F.stddev(F.col(f"`{name}`")).alias(f"{name}|std") for name in numeric),
    *(F.mean(F.col(f"`{name}`").isNull().cast("double")).alias(f"{name}|missing") for name in numeric),
)
long = daily.select(
    "$day",
    F.explode(
        F.array(
            *(
                F.struct(
                    F.lit(name).alias("feature"),
                    F.col(f"`{name}|mean`").alias("mean"),
                    F.col(f"`{name}|std`").alias("std"),
                    F.col(f"`{name}|missing`").alias("missing"),
                )
                for name in numeric
            )
        )
    ).alias("f"),
).select("$day", "f.*")
first_day = long.agg(F.min("$day")).first()[0]
baseline = long.where(F.col("$day") == F.lit(first_day)).select(
    "feature", F.col("mean").alias("base_mean"), F.col("std").alias("base_std")
)
drift = (
    long.join(baseline, on="feature")
    .withColumn("shift", F.try_divide(F.col("mean") - F.col("base_mean"), F.col("base_std")))
    .select("$day", "feature", "mean", "std", "missing", "shift")
    .orderBy("feature", "$day")
)
show(drift)

# COMMAND ----------

# MAGIC %md Predictions per day: the share of each predicted value (a classifier's class balance).

# COMMAND ----------

share = (
    predictions.groupBy("$day", prediction_columns[0])
    .count()
    .withColumn("share", F.col("count") / F.sum("count").over(Window.partitionBy("$day")))
    .orderBy("$day", prediction_columns[0])
)
show(share)
