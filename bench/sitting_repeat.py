"""Did a training that started over repeat what an earlier sitting had trained?

A compare log (bench/start_layout.sh appends every sitting to one file) prints each epoch's
validation mAP50-95. When a machine is not kept, a paused training starts over from epoch 0
in the next sitting, and its epochs overlap the earlier sitting's. This lists, per sitting
that started its trainings over, how many of the epochs it shares with an earlier sitting of
the same trainings printed the same figures (to the printed three decimals, every training
of the sitting together) and the first epoch that did not:

    python bench/sitting_repeat.py bench/results/compare_deeppcb_run-50-240k-layout-real-checked_real-s1.log

Since 2026-12-05 each epoch line names its training ("  epoch 87/240: val mAP50-95 0.436
[setting / arm / seed 1; ...]"), and an epoch counts as the same when every training printed
the same figure. Older lines of trainings side by side do not name their arm; there an epoch
counts as the same when the sitting printed the same multiset of figures for it.
"""

from __future__ import annotations

import argparse
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

SITTING_START = "compare: run folder:"
TRAINING_START = "compare: training "
MACHINE_START = "compare: machine: "  # since 2026-12-06: CPU, device, threads, packages
TRAINING_LINE = re.compile(r"compare: training (.+?) \(\d+ images seen")
EPOCH_LINE = re.compile(r"epoch (\d+)/\d+: val mAP50-95 ([0-9.]+)(?:  \[([^;\]]+))?")


@dataclass
class Sitting:
    number: int  # 1-based, in log order
    trainings: set[str] = field(default_factory=set)  # "setting / arm / seed k"
    resumes: bool = False  # some training went on from a last.pt instead of epoch 0
    machine: str | None = None  # None: the log does not say (sittings before 2026-12-06)
    # epoch -> (training, figure) per line; the training is None in lines that do not name it
    values_by_epoch: dict[int, list[tuple[str | None, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )


@dataclass(frozen=True)
class Overlap:
    earlier: int
    later: int
    epochs: int
    same: int
    first_different: int | None
    earlier_machine: str | None = None
    later_machine: str | None = None


def _training_header(lines: list[str], start: int) -> str:
    """One ``compare: training ...`` message, which the console wraps over two lines."""
    text = lines[start]
    for following in lines[start + 1 : start + 3]:
        if ")" in text:
            break
        text += " " + following
    return " ".join(text.split())


def read_sittings(text: str) -> list[Sitting]:
    sittings: list[Sitting] = []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith(SITTING_START):
            sittings.append(Sitting(len(sittings) + 1))
            continue
        if not sittings:
            continue
        if line.startswith(MACHINE_START):
            sittings[-1].machine = line[len(MACHINE_START) :].strip()
            continue
        if line.startswith(TRAINING_START):
            header = _training_header(lines, index)
            match = TRAINING_LINE.match(header)
            if match:
                sittings[-1].trainings.add(match.group(1))
                sittings[-1].resumes |= "resuming after epoch" in header
            continue
        match = EPOCH_LINE.search(line)
        if match:
            named = match.group(3)
            training = named if named and " / seed " in named else None  # not "1m44s an epoch"
            sittings[-1].values_by_epoch[int(match.group(1))].append((training, match.group(2)))
    return [s for s in sittings if s.values_by_epoch]


def overlaps(sittings: list[Sitting]) -> list[Overlap]:
    """Each sitting that started its trainings over (none resumed) against each earlier one
    that trained the same trainings, over the epochs both printed. Sittings that resumed, or
    trained other arms or seeds, are not repeats of anything."""
    found = []
    for j, later in enumerate(sittings):
        if later.resumes:
            continue
        for earlier in sittings[:j]:
            if earlier.trainings != later.trainings:
                continue
            common = sorted(set(earlier.values_by_epoch) & set(later.values_by_epoch))
            if not common:
                continue
            differing = [
                epoch
                for epoch in common
                if not same_figures(earlier.values_by_epoch[epoch], later.values_by_epoch[epoch])
            ]
            found.append(
                Overlap(
                    earlier=earlier.number,
                    later=later.number,
                    epochs=len(common),
                    same=len(common) - len(differing),
                    first_different=differing[0] if differing else None,
                    earlier_machine=earlier.machine,
                    later_machine=later.machine,
                )
            )
    return found


def same_figures(a: list[tuple[str | None, str]], b: list[tuple[str | None, str]]) -> bool:
    """Training by training where both name them, else as multisets of figures."""
    if all(training for training, _ in a + b):
        return sorted(a) == sorted(b)
    return sorted(value for _, value in a) == sorted(value for _, value in b)


def describe(overlap: Overlap) -> str:
    head = f"sitting {overlap.later} against sitting {overlap.earlier}: "
    head += f"{overlap.same} of {overlap.epochs} shared epochs printed the same figures"
    if overlap.first_different is not None:
        head += f"; first different at epoch {overlap.first_different}"
    return head + machines(overlap)


def machines(overlap: Overlap) -> str:
    """Whether the two sittings ran on the same machine, where the log says: another CPU
    model, thread count or package version may change the figures (README, "Run folder,
    resume, report")."""
    earlier, later = overlap.earlier_machine, overlap.later_machine
    if earlier == later:
        return f" (both on {later})" if later else ""
    prefix = "on different machines: " if earlier and later else ""
    unknown = "machine not logged"
    return (
        f" ({prefix}sitting {overlap.earlier}: {earlier or unknown}; "
        f"sitting {overlap.later}: {later or unknown})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path)
    args = parser.parse_args()
    if not args.log.is_file():
        raise SystemExit(f"error: {args.log}: no such log file")
    sittings = read_sittings(args.log.read_text(encoding="utf-8", errors="replace"))
    found = overlaps(sittings)
    print(f"{args.log}: {len(sittings)} sittings that trained epochs")
    if not found:
        print("no sitting started over trainings that an earlier one had trained")
    for overlap in found:
        print(describe(overlap))


if __name__ == "__main__":
    main()
