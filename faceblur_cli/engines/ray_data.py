"""``--engine ray``: the photo pipeline's stages (:mod:`faceblur_cli.pipeline`) as a Ray Data stream.

    plan (driver) -> from_items -> Prepare (CPU actors: read, decode, detect, align)
                  -> Network (actors with the model loaded once: the faces of many photos per call;
                     one GPU each where the cluster has GPUs, fp16 with --half)
                  -> Finish (CPU actors: paste back, encode, write) -> one report row per photo

On a cluster without GPUs the finish stage runs inside the network actors (a CPU is a CPU: one
actor pool fewer to start, and no second trip of each full-size photo through the object store).

Videos are one Ray task each through the local streaming path. The driver only plans, reads the
report rows (a few hundred bytes each) and writes the manifest, so nothing serialises on it.

Why every stage is an actor pool of fixed size: on a small machine a pool of tasks can find every
CPU held by the actors and wait forever; fixed pools whose CPU shares add up to the cluster's
cannot. Faults: actors restart and their calls are retried (a killed worker loses no photo);
a retried write that finds its own bytes already in place counts as written; temp files a killed
worker left behind carry this run's tag and are removed at the end, also after Ctrl-C.
"""

from __future__ import annotations

import logging
import math
import os
import pickle
import secrets
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..extras import install_hint
from ..outputs import FileReport, Sink, deliver, failure
from ..video import is_video

#: What the stream needs of ray (``pip install faceblur[ray]``).
RAY_EXTRA = "ray"
#: Photos per network call (each brings 0..n faces; crops of one size run together): on a GPU
#: many faces per call keep it busy; on a CPU a batch buys no speed, and a small one lets the
#: finish stage start sooner and the stream drain faster (200 photos on 2 CPUs: 40.2 s at 2,
#: 42.3 s at 8).
PHOTOS_PER_CALL = {"gpu": 8, "cpu": 2}


def require_ray() -> None:
    """A one-line error (exit 2) naming the extra when Ray is not installed."""
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError:
        raise ValueError(f"--engine ray needs Ray Data: {install_hint(RAY_EXTRA)}") from None


def check_address(address: str | None) -> None:
    """A ``--ray-address`` HOST:PORT (or ray://HOST:PORT) that accepts no connection, or ``auto`` with
    no cluster running here, is a one-line error at once; Ray itself would retry for minutes."""
    if not address:
        return
    if address == "auto":
        try:
            from ray._private.services import canonicalize_bootstrap_address
        except ImportError:  # a Ray without it: ray.init says so itself
            return
        try:
            canonicalize_bootstrap_address("auto")
        except ConnectionError:
            raise ValueError(
                "--ray-address auto: no Ray cluster is running here (start one: ray start --head)"
            ) from None
        return
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--ray-address {address!r}: use auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as err:
        raise ValueError(f"--ray-address {address}: no Ray cluster answers there ({err.strerror or err})") from None


def plan_pools(cpus: float, gpus: float) -> dict:
    """Actor counts, per-actor CPU shares and threads for a cluster of ``cpus`` CPUs and ``gpus`` GPUs.

    The CPU stages bound a GPU node (a GPU restores thousands of faces a second, a CPU core
    decodes and detects a few photos a second), so with GPUs: one network actor per GPU and the
    CPUs split 60 / 40 between prepare (decode + detect) and finish (paste + encode). Without:
    ~45 % of the CPUs prepare, a quarter of them (at least one) hold a network actor that also
    finishes (``finish`` 0: no finish pool), with threads for the CPUs the prepare actors leave,
    at least two (on 2 CPUs, 200 photos: 0.86x the local engine's throughput against 0.81x with
    a finish pool and one network thread; paste and encode are ~10 % of a photo's CPU time)."""
    if gpus >= 1:
        net = int(gpus)
        rest = max(2.0, cpus - net)
        prep, fin = max(1, round(rest * 0.6)), max(1, round(rest * 0.4))
        share = min(1.0, (cpus - net) / (prep + fin)) if cpus > net else 0.5
        return {
            "prepare": prep,
            "network": net,
            "finish": fin,
            "cpu": share,
            "net_cpu": 1.0,
            "gpu": 1.0,
            "net_threads": 1,
            "photos_per_call": PHOTOS_PER_CALL["gpu"],
        }
    prep = max(1, round(cpus * 0.45))
    net = max(1, round(cpus / 4))
    net_cpu = (cpus - prep) / net if cpus > prep else cpus / (prep + net)
    share = 1.0 if cpus > prep else net_cpu
    return {
        "prepare": prep,
        "network": net,
        "finish": 0,
        "cpu": share,
        "net_cpu": net_cpu,
        "gpu": 0.0,
        "net_threads": max(2, math.ceil(net_cpu)),
        "photos_per_call": PHOTOS_PER_CALL["cpu"],
    }


def _single_thread(torch_too: bool = True) -> None:
    """One intra-op thread per actor: the pools, not threads, use the cores (no oversubscription).
    The finish stage never loads torch (its import is a second of an actor's start-up)."""
    import cv2

    cv2.setNumThreads(1)
    if torch_too:
        import torch

        torch.set_num_threads(1)


class Prepare:
    """Read, decode, detect and align (CPU)."""

    def __init__(self, config: dict, opts):
        from ..faces import FaceFinder

        _single_thread()
        self.finder = FaceFinder("cpu", config["verify_faces"])
        self.opts, self.scale = opts, config["min_face_scale"]

    def __call__(self, batch: dict) -> dict:
        from .. import storage
        from ..pipeline import prepare

        payloads, errors, ms = [], [], []
        for src, dst, t_ms in zip(batch["src"], batch["dst"], batch["ms"]):
            t0 = time.perf_counter()
            try:
                loaded = storage.load(src)
                o = self.opts
                prep = prepare(self.finder, loaded.rgb, o.mode, o.no_face, o.only_center_face, self.scale)
                payloads.append(pickle.dumps((loaded, prep), protocol=5))
                errors.append("")
            except Exception as err:
                payloads.append(b"")
                errors.append(failure(err, src, dst))
            ms.append(t_ms + (time.perf_counter() - t0) * 1000)
        return {**batch, "payload": np.array(payloads, dtype=object), "error": errors, "ms": ms}


class Network:
    """The generator, loaded once per actor; the faces of a batch of photos in one call. With
    ``finish`` (Finish's arguments) it also pastes back and writes, and returns report rows."""

    def __init__(self, config: dict, threads: int = 1, finish: dict | None = None):
        from ..deblurrer import Deblurrer

        _single_thread()
        # on a CPU node the network actor takes the cores the cheap finish stage leaves; its output
        # can differ from a 1-thread run by one level at a rounding edge (docs/scale.md)
        self.deblurrer = Deblurrer(**{**config, "threads": threads})
        self.finish = Finish(**finish) if finish else None

    def __call__(self, batch: dict) -> dict:
        from ..pipeline import network

        t0 = time.perf_counter()
        items: list = [pickle.loads(p) if not e else None for p, e in zip(batch["payload"], batch["error"])]
        live = [i for i, item in enumerate(items) if item is not None]
        payloads, errors = list(batch["payload"]), list(batch["error"])
        try:
            results = network(self.deblurrer, [items[i][1] for i in live])
            for i, (base, restored) in zip(live, results):
                payloads[i] = pickle.dumps((*items[i], base, restored), protocol=5)
        except Exception as err:  # the whole call failed (out of memory?): every photo in it is reported
            for i in live:
                payloads[i], errors[i] = b"", failure(err, batch["src"][i], batch["dst"][i])
        share = (time.perf_counter() - t0) * 1000 / max(1, len(items))
        ms = [m + share for m in batch["ms"]]
        out = {**batch, "payload": np.array(payloads, dtype=object), "error": errors, "ms": ms}
        return self.finish(out) if self.finish else out


class Finish:
    """Paste back, apply strength, encode, write (CPU); returns one report row per photo."""

    def __init__(self, opts, strength: float, tag: str):
        _single_thread(torch_too=False)
        self.opts, self.strength = opts, strength
        self.sink = retry_safe_sink(opts, tag)

    def __call__(self, batch: dict) -> dict:
        from ..pipeline import finish

        reports = []
        for src, dst, payload, error, t_ms in zip(
            batch["src"], batch["dst"], batch["payload"], batch["error"], batch["ms"]
        ):
            t0 = time.perf_counter()
            if error:
                report = FileReport(src, dst, "failed", error=error)
            else:
                try:
                    loaded, prep, base, restored = pickle.loads(payload)
                    result = finish(prep, base, restored, self.strength)
                    report = deliver(src, dst, loaded, result, self.opts, self.opts.mode, self.sink)
                except Exception as err:
                    report = FileReport(src, dst, "failed", error=failure(err, src, dst))
            report.ms = t_ms + (time.perf_counter() - t0) * 1000
            reports.append(pickle.dumps(asdict(report)))
        return {"report": np.array(reports, dtype=object)}


def retry_safe_sink(opts, tag: str) -> Sink:
    """Atomic writes (local: tagged temp + claim; object store: one PUT) that a retried call can
    repeat: an existing output holding exactly these bytes is this run's own earlier write."""
    from .. import atomic, storage
    from ..imageio import ensure_folder

    def sink(data: bytes, name: str) -> str:
        try:
            if storage.is_remote(name):
                return storage.write_bytes(data, name, opts.overwrite)
            ensure_folder(Path(name).parent)
            return str(atomic.write_bytes(data, Path(name), opts.overwrite, tag))
        except FileExistsError:
            same = storage.read_bytes(name) if storage.is_remote(name) else Path(name).read_bytes()
            if same == data:
                return name
            raise

    return sink


def _bound(cls: type, **kwargs) -> type:
    """``cls`` with its constructor arguments baked in. Ray Data restarts a killed actor (restarts
    and retries are its defaults) from its constructor arguments; baked into the class they travel
    with its definition instead of living in the object store, where they could be gone by then."""

    def init(self) -> None:
        cls.__init__(self, **kwargs)  # type: ignore[misc]

    return type(cls.__name__, (cls,), {"__init__": init})


def _video(config: dict, src: str, dst: str, opts) -> dict:
    """One video on a worker through the local engine's streaming path."""
    from ..deblurrer import Deblurrer
    from .local import run_one

    deblurrer = Deblurrer(**{**config, "threads": 1})
    return asdict(run_one(deblurrer, src, dst, opts, [(src, dst)]))


def run_ray(
    deblurrer, jobs: list, opts, address: str | None = None, workers: int | None = None
) -> Iterator[FileReport]:
    """Run ``jobs`` (already planned, outputs checked) on Ray; yields one report per input as it finishes."""
    require_ray()
    import ray

    started = not ray.is_initialized()
    if started:
        os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
        logging.getLogger("ray").setLevel(logging.ERROR)  # our summary says what happened; Ray's logs stay in /tmp/ray
        ray.init(
            address=address,
            num_cpus=None if address else (workers or os.cpu_count() or 1),
            include_dashboard=False,
            log_to_driver=False,
            configure_logging=False,
            logging_level=logging.ERROR,
        )
    tag = "r" + secrets.token_hex(4)
    try:
        yield from _stream(deblurrer, jobs, opts, tag)
    finally:
        from .. import atomic

        if started:
            ray.shutdown()  # stops the workers before their leftovers are removed
        atomic.remove_temps([Path(d).parent for _, d in jobs if "://" not in str(d)], tag)


def _stream(deblurrer, jobs: list, opts, tag: str) -> Iterator[FileReport]:
    import ray
    import ray.data

    logging.getLogger("ray.data").setLevel(logging.ERROR)  # the CLI draws its own progress
    ray.data.DataContext.get_current().enable_progress_bars = False
    config = deblurrer.config
    videos = [(str(s), str(d)) for s, d in jobs if is_video(s)]
    photos = [(str(s), str(d)) for s, d in jobs if not is_video(s)]
    video_task = ray.remote(num_cpus=1, max_retries=3)(_video)
    pending = {video_task.remote(config, s, d, opts): (s, d) for s, d in videos}
    if photos:
        res = ray.cluster_resources()
        pools = plan_pools(res.get("CPU", 1.0), res.get("GPU", 0.0))
        ds: ray.data.Dataset = ray.data.from_items(
            [{"src": s, "dst": d, "ms": 0.0} for s, d in photos], override_num_blocks=min(len(photos), 4096)
        )
        ds = ds.map_batches(
            _bound(Prepare, config=config, opts=opts),
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=pools["prepare"]),
            num_cpus=pools["cpu"],
        )
        finish = {"opts": opts, "strength": deblurrer.strength, "tag": tag}
        ds = ds.map_batches(
            _bound(Network, config=config, threads=pools["net_threads"], finish=None if pools["finish"] else finish),
            batch_size=pools["photos_per_call"],
            compute=ray.data.ActorPoolStrategy(size=pools["network"]),
            num_cpus=pools["net_cpu"],
            num_gpus=pools["gpu"] or None,
        )
        if pools["finish"]:
            ds = ds.map_batches(
                _bound(Finish, **finish),
                batch_size=1,
                compute=ray.data.ActorPoolStrategy(size=pools["finish"]),
                num_cpus=pools["cpu"],
            )
        for row in ds.iter_rows():
            yield FileReport(**pickle.loads(row["report"]))
    while pending:
        (ref,), _ = ray.wait(list(pending), num_returns=1)
        src, dst = pending.pop(ref)
        try:
            yield FileReport(**ray.get(ref))
        except Exception as err:  # the task failed beyond its retries
            yield FileReport(src, dst, "failed", error=failure(err, src, dst))
