"""LoRA adapters on vLLM: their vLLM name (name@version-hash of the files), integer id and rank.

vLLM keys cached prefix blocks by adapter name and path, so an adapter's name carries a hash
of its files: reusing a name for other weights could serve prefixes computed with the old
ones. Knows nothing about backends or scoring.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # what vLLM accepts as max_lora_rank
_LORA_IDS: dict[str, int] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class Adapter:
    name: str
    path: str
    int_id: int


def lora_id(name: str) -> int:
    with _LOCK:
        return _LORA_IDS.setdefault(name, len(_LORA_IDS) + 1)


def adapter_name(model_dir: Path, name: str, version: str) -> str:
    """`<name>@<version>-<hash>`; the hash covers the adapter's config and weights files."""
    digest = hashlib.sha256()
    for f in sorted(Path(model_dir).iterdir()):
        if f.is_file() and f.name.startswith("adapter_"):
            digest.update(f.name.encode())
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
    return re.sub(r"[^A-Za-z0-9._@-]", "-", f"{name}@{version}") + f"-{digest.hexdigest()[:12]}"


def adapter_rank(model_dir: Path) -> int:
    cfg = json.loads((Path(model_dir) / "adapter_config.json").read_text())
    return max([int(cfg.get("r", 8)), *map(int, (cfg.get("rank_pattern") or {}).values())])


def lora_rank_for(model_dir: Path | None, max_lora_rank: int) -> int:
    """The smallest rank vLLM accepts that fits both `max_lora_rank` and the adapter at `model_dir`."""
    needed = max(max_lora_rank, adapter_rank(model_dir) if model_dir is not None else 1)
    return next((r for r in LORA_RANKS if r >= needed), needed)
