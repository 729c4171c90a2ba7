"""Training the inpainter with accelerate: CPU, one GPU, or ``accelerate launch`` multi-GPU.

The loop is step-based and every random draw is keyed by ``(seed, step, process)``: the
batch indices (class-balanced: a class first, then one of its crops), flips, noise and
timesteps. So a run resumed from a checkpoint continues exactly as the uninterrupted run
would, and nothing depends on global RNG state. Under ``accelerate launch`` each process
draws its own batches (keyed by its index) and accelerate averages the gradients.

Output folder::

    OUT/checkpoints/step_000250/   accelerate state (model, optimizer, LR schedule, EMA) + step.json
    OUT/checkpoints/run.json       the settings of the run (a resume must match them)
    OUT/unet/ OUT/scheduler/ OUT/inpainter.json   the final EMA model (save_pretrained)
    OUT/samples.png                sample grid (real crop, mask, generated) per class
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from factory.errors import FactoryError
from factory.inpainter.model import MANIFEST, InpainterConfig
from factory.seeding import rng_for, torch_generator_for

CHECKPOINTS = "checkpoints"
KEEP_CHECKPOINTS = 2
LOG_EVERY = 50
# Loss weight of pixels outside the mask: they are pasted back at sampling, but a little
# weight there teaches the model the context's statistics.
OUTSIDE_WEIGHT = 0.1


@dataclass(frozen=True)
class TrainOptions:
    steps: int = 1000
    batch_size: int = 16
    learning_rate: float = 4e-4
    warmup_steps: int = 100
    ema_decay: float = 0.999
    checkpoint_every: int = 250
    variants: int = 4  # jittered crops per defect
    sample_steps: int = 25  # DDIM steps for the grid (and the default at synth time)
    grid_per_class: int = 6
    seed: int = 0
    mixed_precision: str = "auto"  # auto (fp16 on GPU, none on CPU) | no | fp16 | bf16
    max_minutes: float | None = None  # stop (and save) early after this long

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "checkpoint_every", "variants", "sample_steps"):
            if getattr(self, name) < 1:
                raise FactoryError(
                    f"train-inpainter: {name} must be >= 1, got {getattr(self, name)}"
                )
        if self.mixed_precision not in ("auto", "no", "fp16", "bf16"):
            raise FactoryError(
                f"train-inpainter: mixed precision must be auto, no, fp16 or bf16, "
                f"got {self.mixed_precision!r}"
            )


PRESETS: dict[str, tuple[InpainterConfig, TrainOptions]] = {
    # Measured on the demo data: 8.7 minutes on 2 idle CPU cores (0.52 s a step), 1 on an H100.
    "quick": (InpainterConfig(), TrainOptions()),
    # For a GPU: bigger crops and model, 20x the steps (about 1-2 hours on one recent GPU).
    "full": (
        InpainterConfig(
            image_size=64,
            block_out_channels=(64, 128, 192, 256),
            layers_per_block=2,
            attention_levels=(False, False, True, True),
            norm_num_groups=32,
            prediction_type="v_prediction",
        ),
        TrainOptions(
            steps=30000,
            batch_size=64,
            learning_rate=2e-4,
            warmup_steps=500,
            ema_decay=0.9999,
            checkpoint_every=2000,
            sample_steps=50,
        ),
    ),
}


@dataclass
class TrainSummary:
    out: Path
    steps_done: int
    seconds: float
    crops: int
    defects_per_class: dict[str, int]
    mask_methods: dict[str, int]
    device: str
    processes: int
    resumed_from: int = 0
    stopped_early: bool = False
    main_process: bool = True
    grid: Path | None = None
    sampling_images_per_second: float | None = None
    extra: dict = field(default_factory=dict)


def preset(name: str) -> tuple[InpainterConfig, TrainOptions]:
    if name not in PRESETS:
        raise FactoryError(f"unknown preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return PRESETS[name]


def _latest_checkpoint(out: Path) -> Path | None:
    folder = out / CHECKPOINTS
    done = sorted(p for p in folder.glob("step_*") if (p / "step.json").is_file())
    return done[-1] if done else None


def train_inpainter(
    dataset_root: Path | str,
    out: Path | str,
    *,
    config: InpainterConfig | None = None,
    options: TrainOptions | None = None,
    resume: bool = False,
    overwrite: bool = False,
    grid: bool = True,
    cpu: bool = False,
    threads: int | None = None,
) -> TrainSummary:
    """Train an inpainter on crops around the train defects of ``dataset_root``.

    ``threads`` sets torch's CPU thread count for this process (on a machine shared with other
    jobs, 1 thread is several times faster than 2 oversubscribed ones)."""
    import torch
    from accelerate import Accelerator
    from diffusers.optimization import get_scheduler
    from diffusers.training_utils import EMAModel

    from factory.dataset.core import load_dataset
    from factory.inpainter.data import detect_channels, load_crops
    from factory.inpainter.model import build_inpainter
    from factory.progress import make_progress

    if threads is not None:
        if threads < 1:
            raise FactoryError(f"train-inpainter: threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)
    default_config, default_options = PRESETS["quick"]
    config = config or default_config
    options = options or default_options
    out = Path(out)
    dataset = load_dataset(dataset_root)
    train_records = [r for r in dataset.split("train") if r.annotations]
    if not train_records:
        raise FactoryError(f"{dataset.root}: the train split has no labelled defect to learn from")
    config = replace(config, channels=detect_channels(train_records))

    run_settings = {
        "dataset": str(Path(dataset_root).resolve()),
        "class_names": dataset.class_names,
        "config": asdict(config),
        "options": {k: v for k, v in asdict(options).items() if k != "max_minutes"},
    }
    checkpoint_dir = out / CHECKPOINTS
    if resume:
        latest = _latest_checkpoint(out)
        if latest is None:
            raise FactoryError(f"{out}: nothing to resume (no checkpoint under {checkpoint_dir})")
        saved = json.loads((checkpoint_dir / "run.json").read_text())
        saved_cmp = json.loads(json.dumps(saved))
        if saved_cmp != json.loads(json.dumps(run_settings)):
            changed = [
                k
                for k in run_settings
                if saved_cmp.get(k) != json.loads(json.dumps(run_settings[k]))
            ]
            raise FactoryError(
                f"{checkpoint_dir / 'run.json'}: cannot resume, the run's settings differ "
                f"({', '.join(changed)}); use the same dataset and options, or --overwrite"
            )
    else:
        latest = None
        if out.exists() and not out.is_dir():
            raise FactoryError(f"{out}: output path exists and is not a folder")
        if out.is_dir() and any(out.iterdir()) and not overwrite:
            raise FactoryError(
                f"{out}: output folder is not empty (pass --overwrite to replace it, "
                "or --resume to continue its training)"
            )

    mixed = options.mixed_precision
    if mixed == "auto":
        mixed = "fp16" if torch.cuda.is_available() and not cpu else "no"
    accelerator = Accelerator(mixed_precision=mixed, cpu=cpu)
    main = accelerator.is_main_process
    if main and not resume:
        if overwrite and out.is_dir():
            shutil.rmtree(out)
        checkpoint_dir.mkdir(parents=True, exist_ok=True)
        (checkpoint_dir / "run.json").write_text(json.dumps(run_settings, indent=2) + "\n")
    accelerator.wait_for_everyone()

    crops = load_crops(
        dataset,
        image_size=config.image_size,
        channels=config.channels,
        context_factor=config.context_factor,
        min_crop=config.min_crop,
        variants=options.variants,
        seed=options.seed,
    )
    model = build_inpainter(config, dataset.class_names, seed=options.seed)
    unet = model.unet
    unet.train()
    optimizer = torch.optim.AdamW(unet.parameters(), lr=options.learning_rate, weight_decay=1e-4)
    lr_schedule = get_scheduler(
        "cosine",
        optimizer,
        num_warmup_steps=options.warmup_steps,
        num_training_steps=options.steps,
    )
    ema = EMAModel(unet.parameters(), decay=options.ema_decay, use_ema_warmup=True, power=2 / 3)
    unet, optimizer, lr_schedule = accelerator.prepare(unet, optimizer, lr_schedule)
    accelerator.register_for_checkpointing(ema)
    device = accelerator.device
    ema.to(device)

    start_step = 0
    if latest is not None:
        accelerator.load_state(str(latest))
        start_step = json.loads((latest / "step.json").read_text())["step"]
        ema.to(device)

    images = torch.from_numpy(crops.images).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    images = images.to(device)
    masks = torch.from_numpy(crops.masks[:, None].astype(np.float32)).to(device)
    labels_all = torch.from_numpy(crops.class_ids).to(device)
    by_class = [np.flatnonzero(crops.class_ids == c) for c in range(dataset.num_classes)]
    present = [c for c, idx in enumerate(by_class) if len(idx)]
    ddpm = model.ddpm()
    alphas = ddpm.alphas_cumprod.to(device)
    process = accelerator.process_index

    started = time.monotonic()
    stopped_early = False
    step = start_step
    loss_value = float("nan")
    with make_progress() as progress:
        task = progress.add_task(
            "training inpainter", total=options.steps, completed=start_step, visible=main
        )
        for step in range(start_step, options.steps):
            rng = rng_for(options.seed, "inpainter-batch", step, process)
            classes = rng.choice(present, size=options.batch_size)
            index = np.array([rng.choice(by_class[c]) for c in classes])
            flips = rng.integers(0, 2, size=(options.batch_size, 2)).astype(bool)
            x0, m = images[index], masks[index]
            x0 = torch.where(
                torch.from_numpy(flips[:, 0]).to(device)[:, None, None, None], x0.flip(3), x0
            )
            m = torch.where(
                torch.from_numpy(flips[:, 0]).to(device)[:, None, None, None], m.flip(3), m
            )
            x0 = torch.where(
                torch.from_numpy(flips[:, 1]).to(device)[:, None, None, None], x0.flip(2), x0
            )
            m = torch.where(
                torch.from_numpy(flips[:, 1]).to(device)[:, None, None, None], m.flip(2), m
            )
            generator = torch_generator_for(options.seed, "inpainter-noise", step, process)
            noise = torch.randn(x0.shape, generator=generator).to(device)
            timesteps = torch.randint(
                0, config.num_train_timesteps, (options.batch_size,), generator=generator
            ).to(device)
            a = alphas[timesteps].view(-1, 1, 1, 1)
            noisy = a.sqrt() * x0 + (1 - a).sqrt() * noise
            model_input = torch.cat([noisy, x0 * (1 - m), m], dim=1)
            with accelerator.autocast():
                predicted = unet(model_input, timesteps, class_labels=labels_all[index]).sample
            if config.prediction_type == "sample":
                target = x0
            elif config.prediction_type == "v_prediction":
                target = a.sqrt() * noise - (1 - a).sqrt() * x0
            else:
                target = noise
            weight = m + OUTSIDE_WEIGHT * (1 - m)
            loss = ((predicted.float() - target) ** 2 * weight).sum() / (
                weight.sum() * config.channels
            )
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(unet.parameters(), 1.0)
            optimizer.step()
            lr_schedule.step()
            optimizer.zero_grad(set_to_none=True)
            ema.step(accelerator.unwrap_model(unet).parameters())
            loss_value = float(loss.detach())
            progress.update(
                task, advance=1, description=f"training inpainter (loss {loss_value:.4f})"
            )
            done = step + 1
            if main and (done % LOG_EVERY == 0 or done == options.steps):
                # Plain lines too: a log file (nohup) gets no live progress bar.
                progress.console.print(
                    f"step {done}/{options.steps} loss {loss_value:.4f} "
                    f"lr {lr_schedule.get_last_lr()[0]:.2e} {time.monotonic() - started:.0f} s"
                )
            out_of_time = (
                options.max_minutes is not None
                and time.monotonic() - started > options.max_minutes * 60
            )
            if done % options.checkpoint_every == 0 or out_of_time:
                _save_checkpoint(accelerator, checkpoint_dir, done)
            if out_of_time and done < options.steps:
                stopped_early = True
                break
    steps_done = step + 1 if options.steps > start_step else start_step
    seconds = time.monotonic() - started
    accelerator.wait_for_everyone()

    summary = TrainSummary(
        out=out,
        steps_done=steps_done,
        seconds=round(seconds, 1),
        crops=len(crops),
        defects_per_class={
            n: int((crops.class_ids == c).sum()) // options.variants
            for c, n in enumerate(dataset.class_names)
        },
        mask_methods=dict(crops.mask_methods),
        device=str(device),
        processes=accelerator.num_processes,
        resumed_from=start_step,
        stopped_early=stopped_early,
    )
    if not main:
        summary.main_process = False
        return summary
    final = accelerator.unwrap_model(unet)
    ema.copy_to(final.parameters())
    final.eval()
    model.unet = final.float()
    model.record = {
        "dataset": run_settings["dataset"],
        "steps": steps_done,
        "train_seconds_this_run": summary.seconds,
        "device": summary.device,
        "processes": summary.processes,
        "crops": summary.crops,
        "mask_methods": summary.mask_methods,
        "options": run_settings["options"],
        "final_loss": loss_value,
        "stopped_early": stopped_early,
    }
    _publish_model(model, out)
    if grid:
        from factory.inpainter.sample import save_grid

        began = time.monotonic()
        summary.grid = save_grid(
            model,
            dataset.root,
            out / "samples.png",
            per_class=options.grid_per_class,
            seed=options.seed,
            steps=options.sample_steps,
        )
        generated = options.grid_per_class * len(present)
        summary.sampling_images_per_second = round(generated / (time.monotonic() - began), 2)
    return summary


def _save_checkpoint(accelerator, checkpoint_dir: Path, step: int) -> None:
    target = checkpoint_dir / f"step_{step:06d}"
    accelerator.save_state(str(target))
    if accelerator.is_main_process:
        # step.json is written last: a checkpoint without it is incomplete and ignored.
        (target / "step.json").write_text(json.dumps({"step": step}) + "\n")
        finished = sorted(p for p in checkpoint_dir.glob("step_*") if (p / "step.json").is_file())
        for old in finished[:-KEEP_CHECKPOINTS]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()


def _publish_model(model, out: Path) -> None:
    """Write the model beside ``out``'s files, then move it into place (manifest last)."""
    staging = out / ".model-tmp"
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging)
    (out / MANIFEST).unlink(missing_ok=True)
    for name in ("unet", "scheduler"):
        shutil.rmtree(out / name, ignore_errors=True)
        (staging / name).rename(out / name)
    (staging / MANIFEST).rename(out / MANIFEST)
    shutil.rmtree(staging, ignore_errors=True)


def main() -> None:  # `accelerate launch -m factory.inpainter.train DATASET --out DIR ...`
    import sys

    from factory.cli import main as cli_main

    sys.argv = [sys.argv[0], "train-inpainter", *sys.argv[1:]]
    cli_main()


if __name__ == "__main__":
    main()
