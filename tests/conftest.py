"""Test-wide settings: never reach a hub; keep built models in a cache inside the checkout."""

import os
from pathlib import Path

# Must happen before `datasets`/`huggingface_hub` are imported: they read these at import time.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("EVALKIT_CACHE", str(Path(__file__).resolve().parent.parent / ".cache" / "evalkit"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Triton kernels run in Triton's interpreter where there is no GPU; read when a kernel module
# is imported, so it must be set before any test imports one.
if not os.path.exists("/dev/nvidia0"):
    os.environ.setdefault("TRITON_INTERPRET", "1")
