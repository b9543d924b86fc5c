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
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import AuthenticationError

from ..detection.batch import ScanJob, ScanOutcome, analyse_scan
from ..detection.detector import Detector
from ..errors import XrayReportError

QUEUED_PER_WORKER = 2
"""Jobs handed to each worker at once: the next one waits in the actor's queue while it works on the current one,
so a worker never idles for a round trip to the driver."""
LOCAL_OBJECT_STORE_BYTES = 128 * 2**20
"""A local cluster's object store: only paths and outcome records travel through it (Ray's default is 30 % of
the machine's memory)."""
CONNECT_TIMEOUT_S = 5.0
"""Seconds to wait for the head's port to accept a TCP connection before calling the address wrong. Ray itself
retries an address where nothing listens for minutes."""
CONNECT_ATTEMPTS = 5
"""Ray's attempts, about a second apart, to be let in by a head that answers (Ray's default, 20, makes a refused
token a 20-second wait)."""
CONNECT_ATTEMPTS_VARIABLE = "RAY_gcs_server_port_wait_time_s"
"""Ray's setting for those attempts, read from the environment when it connects."""


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
def ray_cluster(address: str | None, cpus: int = 1) -> Iterator[None]:
    """Connected to Ray for the block: the cluster at ``address`` (``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``),
    or else a local one (no dashboard) that is shut down afterwards, with this machine's CPUs or ``cpus`` if that is
    more (the workers asked for: Ray would otherwise wait for CPUs that never come). A Ray already initialised in
    this process is used as it is and left running.

    Raises :class:`XrayReportError` within seconds when nothing answers at ``address`` or the cluster there does
    not let this process in. Ray's own log lines below errors stay off this process's stderr, and the workers'
    output stays in the cluster's log files."""
    if ray.is_initialized():
        yield
        return
    settings: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.ERROR, "log_to_driver": False}
    if address:
        _check_answers(address)
        settings["address"] = address
    else:
        settings.update(num_cpus=max(os.cpu_count() or 1, cpus), object_store_memory=LOCAL_OBJECT_STORE_BYTES)
    try:
        with _environment_default(CONNECT_ATTEMPTS_VARIABLE, str(CONNECT_ATTEMPTS)):
            ray.init(**settings)
    except AuthenticationError as exc:  # this process asks for token authentication but has no token
        raise XrayReportError(f"cannot connect to the Ray cluster at {address}: {_first_line(exc)}") from None
    except (ConnectionError, ValueError, RuntimeError) as exc:
        if "AuthenticationError" in str(exc.__cause__):  # Ray chains the refusal's traceback as text
            raise XrayReportError(
                f"the Ray cluster at {address} refused this process: it uses token authentication (Ray's default "
                "for ray start); set RAY_AUTH_MODE=token here, with the cluster's token in ~/.ray/auth_token or "
                "RAY_AUTH_TOKEN"
            ) from None
        raise XrayReportError(
            f"cannot connect to the Ray cluster at {address or 'this machine'} ({_first_line(exc)}); check the "
            "address (ray status on the head node shows it) or leave it out for a local cluster"
        ) from None
    try:
        yield
    finally:
        ray.shutdown()


def _check_answers(address: str) -> None:
    """Raise :class:`XrayReportError` unless something accepts a TCP connection at ``address`` (``HOST:PORT`` or
    ``ray://HOST:PORT``) within :data:`CONNECT_TIMEOUT_S`; ``auto`` is left to Ray, which fails at once when it
    finds no cluster."""
    if address == "auto":
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise XrayReportError(f"{address!r} is not a Ray address; give HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        why = exc.strerror or f"no answer in {CONNECT_TIMEOUT_S:g} s"
        raise XrayReportError(
            f"nothing answers at {address} ({why}); check the address (ray status on the head node shows it) or leave "
            "it out for a local cluster"
        ) from None


@contextmanager
def _environment_default(name: str, value: str) -> Iterator[None]:
    """``name`` set to ``value`` in this process's environment for the block, unless the user set it."""
    if name in os.environ:
        yield
        return
    os.environ[name] = value
    try:
        yield
    finally:
        del os.environ[name]


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def placeable_workers(threads: int) -> tuple[int, int]:
    """How many workers of ``threads`` CPUs each the connected cluster's live nodes can hold at once, and the most
    CPUs of one node. A worker lies on one node: two nodes of 3 CPUs hold two workers of 2 threads, not three."""
    nodes: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]  # untyped in Ray 2.x
    node_cpus = [int(node["Resources"].get("CPU", 0)) for node in nodes if node["Alive"]]
    return sum(cpus // threads for cpus in node_cpus), max(node_cpus, default=0)


def analyse_on_ray(
    jobs: Sequence[ScanJob],
    model: Path | None = None,
    *,
    workers: int | None = None,
    threads: int = 1,
    resume: bool = True,
) -> Iterator[ScanOutcome]:
    """Analyse ``jobs`` on the connected Ray cluster (see :func:`ray_cluster`), yielding outcomes as they finish.

    ``workers`` actors of ``threads`` CPUs each (default: as many as the cluster's nodes hold, never more than the
    jobs) are started for the run (see :func:`start_workers`). Raises :class:`XrayReportError` when a worker cannot
    load the models, and at once when the cluster cannot hold the workers asked for: Ray would wait for them forever.
    """
    if threads < 1 or (workers is not None and workers < 1):
        raise XrayReportError("Ray workers and threads per worker are counted from 1; give --workers/--threads >= 1")
    room, largest = placeable_workers(threads)
    if room == 0:
        raise XrayReportError(
            f"a worker of --threads {threads} needs {threads} CPUs on one node, and the Ray cluster's largest node "
            f"has {largest}; give --threads {max(1, largest)} or fewer"
        )
    if workers is not None and workers > room:
        raise XrayReportError(
            f"--workers {workers} of --threads {threads} need more CPUs than the Ray cluster's nodes have: it holds "
            f"{room} such workers; give --workers {room} or fewer"
        )
    count = min(workers if workers is not None else room, len(jobs))
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
