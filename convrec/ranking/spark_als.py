"""ALS with Spark MLlib, for when interactions outgrow one machine.

Runs in local mode by default (`local[*]`), or on any Spark master given by URL
(`spark://host:7077`, `yarn`, `k8s://...`). The learned factors are written in the same
`FactorModel` format as the `implicit` engine, so serving, fold-in and evaluation do not care which
engine trained them. Two conventions differ from `implicit` and travel in the factor metadata:
Spark weights a positive by 1 + alpha·r, and scales λ by each user's number of ratings (ALS-WR).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import numpy as np

from convrec.errors import ConvrecError
from convrec.ranking.base import Log, RankingData, _quiet
from convrec.ranking.mf import FactorModel

DEFAULT_MASTER = "local[*]"


def _session(master: str, log: Log):  # type: ignore[no-untyped-def]
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConvrecError("The Spark engine needs pyspark; install it with `pip install pyspark`.") from None
    # Keep Spark to this machine's loopback unless a cluster master is named, and quiet.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    log(f"Starting Spark ({master}) …")
    try:
        spark = (
            SparkSession.builder.master(master)
            .appName("convrec-als")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", os.environ.get("CONVREC_SPARK_PARTITIONS", "4"))
            .config("spark.driver.memory", os.environ.get("CONVREC_SPARK_DRIVER_MEMORY", "2g"))
            .getOrCreate()
        )
    except Exception as exc:  # the JVM failing to start is an environment problem, not a bug
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConvrecError(
            f"Could not start Spark at {master!r} ({first}); is Java 17+ installed and the master reachable?"
        ) from None
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def _frame(spark, matrix, schema, master: str, staging: tempfile.TemporaryDirectory):  # type: ignore[no-untyped-def]
    """The interactions as a Spark DataFrame (user, item, rating).

    In local mode they go through a CSV file that the JVM reads directly (no Python worker
    processes); on a cluster, executors cannot see the driver's disk, so the rows are shipped from
    the driver instead.
    """
    if master.startswith("local"):
        path = os.path.join(staging.name, "interactions.csv")
        np.savetxt(path, np.column_stack([matrix.row, matrix.col, matrix.data]), fmt=["%d", "%d", "%.6g"], delimiter=",")
        return spark.read.csv(path, schema=schema)
    rows = list(zip(matrix.row.tolist(), matrix.col.tolist(), matrix.data.astype(float).tolist()))
    return spark.createDataFrame(rows, schema=schema)


def train_spark_als(
    data: RankingData,
    factors: int = 32,
    regularization: float = 0.05,
    alpha: float = 2.0,
    iterations: int = 15,
    master: str | None = None,
    log: Log = _quiet,
) -> FactorModel:
    """Fit implicit-feedback ALS with Spark MLlib and return it as a `FactorModel`."""
    from pyspark.ml.recommendation import ALS
    from pyspark.sql.types import FloatType, IntegerType, StructField, StructType

    matrix = data.train.matrix.tocoo()
    if matrix.nnz == 0:
        raise ConvrecError("There are no interactions to train on; ranking models need some.")
    master = master or DEFAULT_MASTER
    blocks = int(os.environ.get("CONVREC_SPARK_PARTITIONS", "4"))
    t0 = time.perf_counter()
    spark = _session(master, log)
    staging = tempfile.TemporaryDirectory(prefix="convrec-spark-")
    try:
        schema = StructType(
            [
                StructField("user", IntegerType(), False),
                StructField("item", IntegerType(), False),
                StructField("rating", FloatType(), False),
            ]
        )
        frame = _frame(spark, matrix, schema, master, staging)
        als = ALS(
            rank=factors,
            maxIter=iterations,
            regParam=regularization,
            alpha=alpha,
            implicitPrefs=True,
            userCol="user",
            itemCol="item",
            ratingCol="rating",
            seed=data.seed,
            nonnegative=False,
            coldStartStrategy="nan",
            # Few blocks: on one machine each block is a task, and tiny tasks cost more than they save.
            numUserBlocks=blocks,
            numItemBlocks=blocks,
        )
        log(f"Training Spark ALS: {matrix.nnz:,} interactions, rank {factors}, {iterations} iterations …")
        fit_start = time.perf_counter()
        model = als.fit(frame)
        user_rows = model.userFactors.collect()
        item_rows = model.itemFactors.collect()
        fit_s = time.perf_counter() - fit_start
    except ConvrecError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConvrecError(f"Spark ALS training failed ({first}).") from None
    finally:
        spark.stop()
        staging.cleanup()
    n_users, n_items = data.train.matrix.shape
    user_factors = np.zeros((n_users, factors), np.float32)
    item_factors = np.zeros((n_items, factors), np.float32)
    for row in user_rows:
        user_factors[row["id"]] = row["features"]
    for row in item_rows:
        item_factors[row["id"]] = row["features"]
    trained = data.train.item_counts() > 0
    item_factors[~trained] = 0.0
    total = time.perf_counter() - t0
    log(f"Spark ALS done in {total:.1f}s (fit {fit_s:.1f}s).")
    return FactorModel(
        user_factors,
        item_factors,
        trained,
        data.train.user_ids,
        data.train.item_ids,
        alpha=alpha,
        regularization=regularization,
        engine="spark",
        confidence="1+alpha*r",
        reg_scaling="count",
        meta={"iterations": iterations, "master": master, "train_s": round(total, 3), "fit_s": round(fit_s, 3)},
    )
