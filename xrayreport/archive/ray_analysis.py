"""Archive analysis on Ray: the batch of :mod:`xrayreport.detection.batch`, spread over Ray actors.

Each worker is an actor that loads the models once and then runs :func:`~xrayreport.detection.batch.analyse_scan`
on the jobs it is sent: it reads the scan, analyses it and writes the findings (and overlay) itself, so the files
are the single-process path's, byte for byte, and the driver only hands out paths and collects small
:class:`~xrayreport.detection.batch.ScanOutcome` records. On a cluster of several machines every worker must see
the scans and the output folder at the same paths (a shared file system) and have xrayreport installed.

Needs the ``[archive]`` extra (``ray``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ray

from ..detection.batch import ScanJob, ScanOutcome, analyse_scan
from ..detection.detector import Detector
from ..errors import XrayReportError

QUEUED_PER_WORKER = 2
"""Jobs handed to each worker at once: the next one waits in the actor's queue while it works on the current one,
so a worker never idles for a round trip to the driver."""
LOCAL_OBJECT_STORE_BYTES = 128 * 2**20
"""A local cluster's object store: only paths and outcome records travel through it (Ray's default is 30 % of
the machine's memory)."""


class ScanAnalyser:
    """One worker: the models loaded once, then one scan per call. Created as a Ray actor by
    :func:`analyse_on_ray`."""

    def __init__(self, model: str | None, threads: int) -> None:
        # A model that cannot be loaded is kept as the error's text, which the driver prints as one line; raised
        # here, it would reach the driver as a dead actor and a traceback.
        self._detector: Detector | None = None
        self._error: str | None = None
        try:
            self._detector = Detector(model, threads=threads)
        except XrayReportError as exc:
            self._error = str(exc)

    def ready(self) -> str | None:
        """``None`` once the models are loaded, else why they could not be."""
        return self._error

    def analyse(self, job: ScanJob, resume: bool) -> ScanOutcome:
        assert self._detector is not None, "analyse() called on a worker whose ready() reported an error"
        return analyse_scan(self._detector, job, resume=resume)


@contextmanager
def ray_cluster(address: str | None) -> Iterator[None]:
    """Connected to Ray for the block: the cluster at ``address`` (``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``),
    or else a local one on this machine's CPUs (no dashboard) that is shut down afterwards. A Ray already
    initialised in this process is used as it is and left running."""
    if ray.is_initialized():
        yield
        return
    settings: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING, "log_to_driver": False}
    if address:
        settings["address"] = address
    else:
        settings.update(num_cpus=os.cpu_count() or 1, object_store_memory=LOCAL_OBJECT_STORE_BYTES)
    try:
        ray.init(**settings)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise XrayReportError(
            f"cannot connect to the Ray cluster at {address or 'this machine'} ({exc}); check the address "
            "(ray status on the head node shows it) or leave it out for a local cluster"
        ) from None
    try:
        yield
    finally:
        ray.shutdown()


def cluster_cpus() -> int:
    """The CPUs of the Ray cluster this process is connected to."""
    resources: dict[str, float] = ray.cluster_resources()  # type: ignore[no-untyped-call]  # untyped in Ray 2.x
    return max(1, int(resources.get("CPU", 1)))


def analyse_on_ray(
    jobs: Sequence[ScanJob],
    model: Path | None = None,
    *,
    workers: int | None = None,
    threads: int = 1,
    resume: bool = True,
) -> Iterator[ScanOutcome]:
    """Analyse ``jobs`` on the connected Ray cluster (see :func:`ray_cluster`), yielding outcomes as they finish.

    ``workers`` actors (default: as many as the cluster's CPUs allow, never more than the jobs) are started for the
    run (see :func:`start_workers`). Raises :class:`XrayReportError` when a worker cannot load the models.
    """
    if threads < 1 or (workers is not None and workers < 1):
        raise XrayReportError("Ray workers and threads per worker are counted from 1; give --workers/--threads >= 1")
    count = min(workers if workers is not None else max(1, cluster_cpus() // threads), len(jobs))
    with start_workers(model, count, threads) as actors:
        yield from run_jobs(actors, jobs, resume)


@contextmanager
def start_workers(model: Path | None, count: int, threads: int = 1) -> Iterator[list[Any]]:
    """``count`` :class:`ScanAnalyser` actors for the block, their models loaded, stopped afterwards.

    Each loads ``model`` (default: the shipped one, resolved on the worker) with ``threads`` onnxruntime threads and
    reserves as many CPUs. Raises :class:`XrayReportError` when a worker cannot load the models.
    """
    # Ray's types do not follow a class through ray.remote(); its actor handles are Any here.
    actor_class: Any = ray.remote(num_cpus=threads)(ScanAnalyser)
    actors: list[Any] = [actor_class.remote(None if model is None else str(model), threads) for _ in range(count)]
    try:
        for error in ray.get([actor.ready.remote() for actor in actors]):
            if error is not None:
                raise XrayReportError(error)
        yield actors
    finally:
        for actor in actors:
            ray.kill(actor)


def run_jobs(actors: Sequence[Any], jobs: Sequence[ScanJob], resume: bool = True) -> Iterator[ScanOutcome]:
    """Hand ``jobs`` to the workers of :func:`start_workers`, each as soon as a worker has room for it (see
    :data:`QUEUED_PER_WORKER`); yields the outcomes in the order they finish."""
    # The workers' current folder is not the driver's: they get absolute paths.
    pending = (
        ScanJob(job.scan.absolute(), job.findings.absolute(), job.overlay.absolute() if job.overlay else None)
        for job in jobs
    )
    in_flight: dict[Any, Any] = {}  # the call's object ref -> the actor running it

    def give(actor: Any) -> None:
        job = next(pending, None)
        if job is not None:
            in_flight[actor.analyse.remote(job, resume)] = actor

    for actor in actors:
        for _ in range(QUEUED_PER_WORKER):
            give(actor)
    while in_flight:
        [ref], _ = ray.wait(list(in_flight), num_returns=1)
        give(in_flight.pop(ref))
        outcome: ScanOutcome = ray.get(ref)
        yield outcome
