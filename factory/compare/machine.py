"""What machine a training sitting or a latency timing ran on.

CPU latency means little without the CPU it was timed on, and a training that starts over on
a new machine may or may not repeat the lost one (both have happened); without a record of
the machines nobody can say why. So each training sitting records the CPU model, the
logical CPUs (they set ultralytics' CPU threads) and the versions of the packages that
decide the numbers; each latency timing records the CPU.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")
# What decides a training's numbers besides its spec: the trainer, the tensors, and the
# augmentations ultralytics draws with numpy and applies with OpenCV and albumentations.
TRAINING_PACKAGES = ("ultralytics", "torch", "numpy", "opencv-python", "albumentations")


def cpu_model(cpuinfo: Path = CPUINFO) -> str | None:
    """The CPU's model name (Linux ``/proc/cpuinfo``, else ``platform.processor()``), or None
    where neither says."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model", "cpu model") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or None


def package_version(package: str) -> str | None:
    """The installed version of ``package``, or None where it is not installed."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict:
    """``{"cpu", "logical_cpus", <package>: version, ...}`` for this process's machine."""
    return {
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        **{package: package_version(package) for package in TRAINING_PACKAGES},
    }


def describe_cpu(record: dict) -> str:
    """``AMD EPYC (2 logical CPUs)`` from a ``machine()`` or latency record."""
    name = record.get("cpu") or "an unnamed CPU"
    cpus = record.get("logical_cpus")
    if not cpus:
        return name
    return f"{name} ({cpus} logical CPU{'s' if cpus != 1 else ''})"


def describe_sitting(record: dict, device: str, threads: int | None) -> str:
    """One line naming what a sitting trains on, for the compare's log:
    ``AMD EPYC (2 logical CPUs); device cpu, threads 1; ultralytics 8.4.190, torch 2.14.1, ...``.

    A paused run's log is all that survives a lost machine, so it is the log that has to say
    which CPU and packages each sitting had when a restart does not repeat the lost one."""
    packages = ", ".join(f"{p} {record.get(p) or 'not installed'}" for p in TRAINING_PACKAGES)
    where = f"device {device}" + (f", threads {threads}" if threads is not None else "")
    return f"{describe_cpu(record)}; {where}; {packages}"
