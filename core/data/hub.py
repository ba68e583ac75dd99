"""Optional loader for public datasets on the Hugging Face hub (via the ``datasets`` package).

Only for evaluation sets the user is entitled to use; the rows go through the same column mapping,
validation and single-transaction import as a local file. Offline (or with the hub blocked) the user gets
a message saying so and how to import a downloaded file instead, within a few seconds rather than after
``datasets``' retries.
"""

from __future__ import annotations

import os
import socket
from typing import Any
from urllib.parse import urlparse

from core.data.io import RawTable
from core.errors import InputError

OFFLINE_HELP = (
    "Download the dataset file (CSV / Parquet / JSONL) on a connected machine and import it "
    "locally, e.g. `reasonscope data import harmbench_behaviors_text_all.csv --dataset harmbench "
    "--preset harmbench` (or the Import tab on the Label page)."
)


def _hub_host() -> tuple[str, int]:
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    return url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)


def hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP check of the hub endpoint (skipped when a proxy is configured: assume reachable)."""
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    host, port = _hub_host()
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _offline(repo_id: str, why: str) -> InputError:
    return InputError(f"Cannot load {repo_id!r} from the Hugging Face hub: {why}. {OFFLINE_HELP}")


def load_hub_table(
    repo_id: str, *, split: str = "train", config: str | None = None, revision: str | None = None
) -> RawTable:
    """Rows of a hub dataset as a ``RawTable`` (source ``hf:<repo_id>[/config]:<split>``)."""
    if os.environ.get("HF_HUB_OFFLINE", "") in ("1", "true", "yes") or os.environ.get(
        "HF_DATASETS_OFFLINE", ""
    ) in ("1", "true", "yes"):
        raise _offline(repo_id, "offline mode is on (HF_HUB_OFFLINE / HF_DATASETS_OFFLINE)")
    try:
        import datasets
    except ImportError:
        raise InputError(
            "Loading from the Hugging Face hub needs the optional `datasets` package: "
            f"pip install 'reasonscope[hub]'. {OFFLINE_HELP}"
        ) from None
    if not hub_reachable():
        host, _ = _hub_host()
        raise _offline(
            repo_id, f"{host} is not reachable from this machine (offline, or blocked by a firewall)"
        )
    try:
        ds: Any = datasets.load_dataset(repo_id, config, split=split, revision=revision)
    except (ConnectionError, TimeoutError) as exc:
        raise _offline(repo_id, f"the hub did not answer ({exc})") from exc
    except FileNotFoundError as exc:
        raise InputError(
            f"{repo_id!r} was not found on the hub (or is gated and needs `huggingface-cli login`): {exc}"
        ) from exc
    except ValueError as exc:  # unknown split / config
        raise InputError(f"Cannot load {repo_id!r} split {split!r}: {exc}") from exc
    source = f"hf:{repo_id}{'/' + config if config else ''}:{split}"
    rows = ds.to_list() if hasattr(ds, "to_list") else list(ds)
    return RawTable(source, "hub", list(ds.column_names), [(n, r) for n, r in enumerate(rows, start=1)])
