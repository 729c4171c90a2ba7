"""Throughput and memory of `factory synth` rendering.

1. Images per second for synthetic 640x640 images with 3 to 8 pastes each, for ROI Poisson
   (normal), alpha, and the naive baseline (full-frame ``seamlessClone`` per paste), all in
   the same run on the same plans (render only: no disk I/O, random placement).
2. Peak RSS of complete ``run_synth`` runs (bank, plan, render, write, publish) making 200
   and 2,000 synthetic images, each in a fresh subprocess: it must not grow with the count.

Run: ``python bench/bench_synth.py`` (about 3 minutes on 2 cores); writes
``bench/results/synth.json``. ``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from factory.blend import Blender, get_blender  # noqa: E402
from factory.blend.poisson import poisson_blend_full_frame  # noqa: E402
from factory.dataset import Annotation, DatasetWriter  # noqa: E402
from factory.synth.bank import Patch, PatchInfo  # noqa: E402
from factory.synth.plan import PastePlan, SamplePlan  # noqa: E402
from factory.synth.render import RenderConfig, render_sample  # noqa: E402

SIZE = 640


class FullFrameBlender(Blender):
    """The naive baseline: seamlessClone on full-frame source, mask and destination."""

    name = "naive-full-frame"

    def blend(self, background, patch, mask, top_left_xy, *, seed=0, class_name=None, core=None):
        h, w = background.shape[:2]
        x, y = top_left_xy
        ph, pw = patch.shape[:2]
        # The naive path needs the patch inside the frame: clip it.
        x0, y0 = max(0, -x), max(0, -y)
        x1, y1 = min(pw, w - x), min(ph, h - y)
        clipped_mask = mask[y0:y1, x0:x1].copy()
        clipped_mask[:1] = clipped_mask[-1:] = False
        clipped_mask[:, :1] = clipped_mask[:, -1:] = False
        if not clipped_mask.any():
            return background.copy()
        return poisson_blend_full_frame(
            background, patch[y0:y1, x0:x1], clipped_mask, (x + x0, y + y0)
        )


def board(rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """A PCB-like grey image: traces and pads on a noisy substrate."""
    image = np.full((size, size), 70, np.uint8)
    for _ in range(40):
        if rng.random() < 0.5:
            y, x0, x1 = (
                rng.integers(0, size),
                rng.integers(0, size // 2),
                rng.integers(size // 2, size),
            )
            cv2.line(image, (int(x0), int(y)), (int(x1), int(y)), 190, int(rng.integers(3, 9)))
        else:
            x, y0, y1 = (
                rng.integers(0, size),
                rng.integers(0, size // 2),
                rng.integers(size // 2, size),
            )
            cv2.line(image, (int(x), int(y0)), (int(x), int(y1)), 190, int(rng.integers(3, 9)))
    for _ in range(25):
        x, y = (int(v) for v in rng.integers(0, size, 2))
        cv2.rectangle(image, (x, y), (x + 14, y + 14), 210, -1)
    noise = rng.normal(0, 4, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def make_patches(rng: np.random.Generator, count: int = 60) -> dict[str, Patch]:
    patches = {}
    for k in range(count):
        side = int(rng.integers(40, 80))
        crop = board(rng, side + 40)[:side, :side].copy()
        mask = np.zeros((side, side), np.uint8)
        centre = (side // 2, side // 2)
        if k % 2:
            cv2.circle(mask, centre, int(rng.integers(5, side // 4)), 1, -1)
        else:
            cv2.ellipse(mask, centre, (side // 3, 3), float(rng.uniform(0, 180)), 0, 360, 1, -1)
        crop[mask > 0] = int(rng.choice([15, 245]))
        info = PatchInfo(
            patch_id=f"p{k:03d}",
            class_id=k % 3,
            class_name=f"c{k % 3}",
            source_image="synthetic",
            source_xyxy=(0, 0, side, side),
            crop_xyxy=(0, 0, side, side),
            mask_method="instance-mask",
            context=None,
            box_wh=(side, side),
            mask_area=int(mask.sum()),
            angle_deg=None,
            elongation=1.0,
        )
        patches[info.patch_id] = Patch(info, crop, mask > 0, None)
    return patches


def make_plans(rng: np.random.Generator, patches, count: int, blend: str) -> list[SamplePlan]:
    ids = sorted(patches)
    plans = []
    for index in range(count):
        pastes = []
        for j in range(int(rng.integers(3, 9))):
            patch = patches[ids[int(rng.integers(len(ids)))]]
            pastes.append(
                PastePlan(
                    patch.info.patch_id,
                    patch.info.class_id,
                    patch.info.class_name,
                    float(rng.uniform(0.8, 1.2)),
                    float(rng.uniform(-10, 10)),
                    bool(j % 2),
                    False,
                    0,
                    int(rng.integers(1 << 30)),
                    "random",
                    blend,
                )
            )
        plans.append(SamplePlan(index, f"syn_{index:06d}", index, "board", tuple(pastes)))
    return plans


def throughput(images: int) -> dict:
    rng = np.random.default_rng(0)
    backgrounds = [board(rng) for _ in range(8)]
    patches = make_patches(rng)
    blenders = {
        "poisson-normal": get_blender("poisson-normal"),
        "alpha": get_blender("alpha"),
        "naive-full-frame": FullFrameBlender(),
    }
    config = RenderConfig()
    results = {}
    for name, blender in blenders.items():
        plans = make_plans(np.random.default_rng(1), patches, images, name)
        render_sample(plans[0], backgrounds[0], patches, {name: blender}, config)  # warm-up
        blend_seconds = 0.0

        class Timed(Blender):
            def blend(self, *args, _inner=blender, **kw):
                nonlocal blend_seconds
                start = time.perf_counter()
                out = _inner.blend(*args, **kw)
                blend_seconds += time.perf_counter() - start
                return out

        timed = {name: Timed()}
        pastes = 0
        start = time.perf_counter()
        for k, plan in enumerate(plans):
            result = render_sample(plan, backgrounds[k % len(backgrounds)], patches, timed, config)
            pastes += len(result.pastes)
        seconds = time.perf_counter() - start
        results[name] = {
            "images": images,
            "pastes": pastes,
            "seconds": round(seconds, 3),
            "images_per_second": round(images / seconds, 2),
            "blend_ms_per_paste": round(1000 * blend_seconds / max(1, pastes), 3),
        }
        print(f"{name:18s} {results[name]}", flush=True)
    return results


def make_dataset(out: Path, size: int = 256) -> Path:
    rng = np.random.default_rng(0)
    with DatasetWriter(out, ["c0", "c1", "c2"], overwrite=True) as writer:
        for split, count in (("train", 30), ("val", 4), ("test", 4)):
            for k in range(count):
                image = board(rng, size)
                annotations, masks = [], []
                for c in range(3):
                    x, y = (int(v) for v in rng.integers(20, size - 40, 2))
                    mask = np.zeros((size, size), np.uint8)
                    cv2.circle(mask, (x + 8, y + 8), 6 + c, 1, -1)
                    image[mask > 0] = 15 if c != 1 else 245
                    ys, xs = np.nonzero(mask)
                    annotations.append(
                        Annotation(
                            c,
                            (
                                float(xs.min()),
                                float(ys.min()),
                                float(xs.max() + 1),
                                float(ys.max() + 1),
                            ),
                        )
                    )
                    masks.append(mask > 0)
                writer.add_image(
                    split, f"{split}_{k:03d}", image, annotations, instance_masks=masks
                )
        for k in range(8):
            writer.add_clean(f"clean_{k}", board(rng, size))
        writer.publish(metadata={"source": {"format": "bench"}}, lock_test=True)
    return out


def memory_child(dataset: str, out: str, images: int) -> None:
    from factory.synth import SynthOptions, run_synth

    per_class = -(-2 * images // 3)  # 3 classes, exactly 2 pastes per image
    options = SynthOptions(
        per_class=per_class,
        min_per_image=2,
        max_per_image=2,
        blend="alpha",
        placement="random",
        seed=0,
        cache_dir=Path(out).parent / "cache",
    )
    start = time.perf_counter()
    summary = run_synth(Path(dataset), Path(out), options, overwrite=True)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "images": summary.images,
                "seconds": round(time.perf_counter() - start, 2),
                "peak_rss_mib": round(peak_mib, 1),
            }
        )
    )


def memory(counts: list[int]) -> dict:
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        dataset = make_dataset(Path(tmp) / "data")
        for count in counts:
            env = {**os.environ, "FACTORY_NO_PROGRESS": "1"}
            proc = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--memory-child",
                    str(dataset),
                    str(Path(tmp) / f"out{count}"),
                    str(count),
                ],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            results[str(count)] = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"memory {count}: {results[str(count)]}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--memory-child", nargs=3)
    args = parser.parse_args()
    if args.memory_child:
        dataset, out, count = args.memory_child
        memory_child(dataset, out, int(count))
        return
    cv2.setNumThreads(1)
    images = 8 if args.quick else 60
    counts = [20, 60] if args.quick else [200, 2000]
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "opencv": cv2.__version__,
        },
        "throughput_640": throughput(images),
        "memory_run_synth_256px": memory(counts),
    }
    t = report["throughput_640"]
    report["speedup_roi_vs_naive"] = round(
        t["poisson-normal"]["images_per_second"] / t["naive-full-frame"]["images_per_second"], 2
    )
    m = report["memory_run_synth_256px"]
    first, last = (m[str(c)]["peak_rss_mib"] for c in counts)
    report["rss_growth_mib"] = round(last - first, 1)
    out = ROOT / "bench" / "results" / ("synth_quick.json" if args.quick else "synth.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
