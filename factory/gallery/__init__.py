"""Visual QA of synthetic sets: the static review site, its diagnostics, and pruning.

``build_gallery(synth_dir, out=None)`` writes ``SYNTH_DIR/gallery/index.html``;
``prune(synth_dir, reject_ids=..., min_quality=...)`` removes samples atomically.
"""

from factory.gallery.prune import PruneReport, prune, read_reject_list
from factory.gallery.site import GalleryOptions, build_gallery

__all__ = ["GalleryOptions", "PruneReport", "build_gallery", "prune", "read_reject_list"]
