"""The generative path: a small class-conditional diffusion inpainter trained on the user's own
defects (model, data, train, sample), Stable Diffusion inpainting from a local checkpoint (sd,
prompts) and defect mask shapes (masks). Heavy libraries are imported inside functions."""
