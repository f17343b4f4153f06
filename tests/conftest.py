"""Test-wide settings: never reach a hub; keep built models in a cache inside the checkout."""

import os
from pathlib import Path

# Must happen before `datasets`/`huggingface_hub` are imported: they read these at import time.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("EVALKIT_CACHE", str(Path(__file__).resolve().parent.parent / ".cache" / "evalkit"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
