"""Model loading: any causal LM (the embedded default, a Hugging Face id or a local folder) wrapped
for nnsight, with one place that knows where each architecture keeps its decoder layers.

The seam (nnsight style): ``ModelSpec`` says *what* to load and ``where`` its traces run; ``load_model``
builds the matching runner (``core.capture.remote``). A remote model is meta-loaded: its config and tokenizer
come here, its weights stay on the NDIF host.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.capture.default_model import ensure_default_model
from core.capture.placement import LOCAL, host_of, parse_where
from core.capture.remote import LocalRunner, RemoteRunner
from core.errors import InputError, ModelLoadError

# Attribute paths of the decoder-layer list and the token embedding, by architecture family.
LAYER_PATHS = (
    "model.layers",  # Llama, Qwen2/3, Mistral, Gemma 1-3, Phi-3, SmolLM
    "transformer.h",  # GPT-2, GPT-J, Falcon
    "gpt_neox.layers",  # GPT-NeoX, Pythia
    "model.decoder.layers",  # OPT
    "transformer.blocks",  # MPT
)
EMBED_PATHS = (
    "model.embed_tokens",
    "transformer.wte",
    "gpt_neox.embed_in",
    "model.decoder.embed_tokens",
    "transformer.word_embeddings",
)
DTYPES = ("float32", "float16", "bfloat16")
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    name: str = "default"  # "default" | Hugging Face id | local folder
    revision: str | None = None
    dtype: str = "float32"
    device: str = "auto"
    trust_remote_code: bool = False
    layers_path: str | None = None  # override, e.g. "model.layers"
    adapter: str | None = None  # peft LoRA adapter folder, merged into the weights at load
    where: str = LOCAL  # "local" | "ndif" | an NDIF host URL (never a key: see core.capture.placement)

    def __post_init__(self) -> None:
        object.__setattr__(self, "where", parse_where(self.where))
        if self.where != LOCAL and self.adapter:
            raise InputError(
                "A LoRA adapter is merged into local weights; a remote model runs the host's weights. "
                "Run adapted models on this machine."
            )
        if self.dtype not in DTYPES:
            raise InputError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")
        if self.device not in DEVICES:
            raise InputError(f"device must be one of {DEVICES}, got {self.device!r}")
        if not self.name.strip():
            raise InputError("Model name is empty: use 'default', a Hugging Face id or a local folder path.")


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return "mps"
        return "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(
            "device='cuda' was asked for but no CUDA GPU is visible; use device='auto' or 'cpu'."
        )
    return device


def _get_path(root: Any, path: str) -> Any:
    obj = root
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def find_layers_path(hf_model: Any, override: str | None = None) -> str:
    """Dotted path of the decoder-layer ModuleList; raises with the fix when unknown."""
    candidates = (override,) if override else LAYER_PATHS
    for path in candidates:
        try:
            layers = _get_path(hf_model, path)
        except AttributeError:
            continue
        if hasattr(layers, "__len__") and len(layers) > 0:
            return path
    tried = ", ".join(candidates)
    raise ModelLoadError(
        f"Don't know where {type(hf_model).__name__} keeps its decoder layers (tried {tried}). "
        "Pass ModelSpec(layers_path='dotted.path.to.layers') -- e.g. 'model.layers'."
    )


def find_embed_path(hf_model: Any) -> str:
    for path in EMBED_PATHS:
        try:
            _get_path(hf_model, path)
            return path
        except AttributeError:
            continue
    raise ModelLoadError(
        f"Could not find the token embedding of {type(hf_model).__name__} (tried {EMBED_PATHS})."
    )


def model_fingerprint(hf_model: Any, name: str, adapter_hash: str | None = None) -> str:
    """Identity of the weights: config + a sample of every tensor's values (cheap, weight-sensitive)."""
    import torch

    h = hashlib.sha256()
    h.update(json.dumps(hf_model.config.to_dict(), sort_keys=True, default=str).encode())
    with torch.no_grad():
        for pname, p in hf_model.state_dict().items():
            h.update(pname.encode())
            flat = p.detach().reshape(-1)
            h.update(flat[:2048].to(torch.float32).cpu().numpy().tobytes())
    if adapter_hash:
        h.update(adapter_hash.encode())
    return h.hexdigest()[:16]


def hash_folder(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(Path(folder).rglob("*")):
        if f.is_file():
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


@dataclass(kw_only=True)
class LoadedModel:
    spec: ModelSpec
    lm: Any  # nnsight TransformersModel wrapping hf_model
    tokenizer: Any
    hf_model: Any
    fingerprint: str
    name: str
    layers_path: str
    embed_path: str
    source_path: str
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    runner: Any = field(default_factory=LocalRunner)  # where traces run: LocalRunner | RemoteRunner

    @property
    def is_remote(self) -> bool:
        return bool(self.runner.is_remote)

    @property
    def input_device(self) -> Any:
        """Where input ids go: the model's device, or the CPU for a remote (meta-loaded) model."""
        import torch

        return torch.device("cpu") if self.is_remote else self.device

    def require_local(self, what: str) -> None:
        """Refuse an operation that needs the weights on this machine (a plain forward, training)."""
        if self.is_remote:
            raise InputError(
                f"{what} needs the model's weights on this machine, but {self.name!r} runs on "
                f"{self.spec.where}. Run it with the model loaded locally."
            )

    @property
    def n_layers(self) -> int:
        return len(_get_path(self.hf_model, self.layers_path))

    @property
    def d_model(self) -> int:
        return int(self.hf_model.get_input_embeddings().weight.shape[1])

    @property
    def device(self) -> Any:
        return next(self.hf_model.parameters()).device

    @property
    def context_window(self) -> int:
        cfg = self.hf_model.config
        return int(getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", 2048))

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.hf_model.parameters())

    def layer_modules(self) -> list[Any]:
        return list(_get_path(self.hf_model, self.layers_path))

    def layer_envoys(self) -> list[Any]:
        return list(_get_path(self.lm, self.layers_path))

    def embed_module(self) -> Any:
        return _get_path(self.hf_model, self.embed_path)

    def embed_envoy(self) -> Any:
        return _get_path(self.lm, self.embed_path)

    def encode_chat(self, messages: list[dict[str, str]], *, add_generation_prompt: bool = True) -> list[int]:
        """Token ids of a chat, through the model's chat template (a plain fallback for base models)."""
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            out = tok.apply_chat_template(
                messages, add_generation_prompt=add_generation_prompt, tokenize=True
            )
            ids = out["input_ids"] if hasattr(out, "keys") else out
            return [int(i) for i in ids]
        text = "".join(f"{m['role'].capitalize()}: {m['content']}\n" for m in messages)
        if add_generation_prompt:
            text += "Assistant:"
        return [int(i) for i in tok(text)["input_ids"]]

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source_path,
            "fingerprint": self.fingerprint,
            "architecture": type(self.hf_model).__name__,
            "n_layers": self.n_layers,
            "d_model": self.d_model,
            "n_params": self.n_params,
            "device": str(self.device),
            "dtype": self.spec.dtype,
            "context_window": self.context_window,
            "adapter": self.spec.adapter,
            "where": self.spec.where,
            "spec": asdict(self.spec),
        }


def _resolve_source(spec: ModelSpec) -> tuple[str, dict[str, Any]]:
    """Where to load from, plus from_pretrained kwargs; clear errors for missing folders / offline hub."""
    if spec.name in ("default", "smollm2-135m-instruct"):
        return str(ensure_default_model()), {}
    p = Path(spec.name).expanduser()
    looks_like_path = spec.name.startswith((".", "/", "~"))  # HF ids look like "org/name"
    if p.exists():
        if not (p / "config.json").is_file():
            raise ModelLoadError(
                f"{p} exists but has no config.json: point at a folder saved with save_pretrained()."
            )
        return str(p), {}
    if looks_like_path:
        raise ModelLoadError(f"Model folder {p} does not exist. Check the path, or use 'default'.")
    return spec.name, {"revision": spec.revision}


def load_model(spec: ModelSpec) -> LoadedModel:
    """Load a causal LM into an nnsight wrapper. Raises ``ModelLoadError`` with a message that says the
    fix."""
    import torch
    from nnsight import TransformersModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if spec.where != LOCAL:
        return load_remote_model(spec)
    source, extra = _resolve_source(spec)
    device = resolve_device(spec.device)
    dtype = getattr(torch, spec.dtype)
    common = {"trust_remote_code": spec.trust_remote_code, **{k: v for k, v in extra.items() if v}}
    try:
        try:  # local cache first: never waits on a network that is not there
            tok = AutoTokenizer.from_pretrained(source, local_files_only=True, **common)
            hf = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, local_files_only=True, **common)
        except OSError:
            if Path(source).exists() or os.environ.get("HF_HUB_OFFLINE") == "1":
                raise
            tok = AutoTokenizer.from_pretrained(source, **common)
            hf = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **common)
    except OSError as exc:
        raise ModelLoadError(
            f"Could not load model {spec.name!r}: it is not in the local Hugging Face cache and the hub "
            f"could not be reached ({str(exc).splitlines()[0][:200]}). On an offline machine, download the "
            "model elsewhere and pass its local folder, or use the embedded model 'default'."
        ) from exc
    except ValueError as exc:  # e.g. custom code without trust_remote_code, unknown architecture
        raise ModelLoadError(
            f"Could not load model {spec.name!r}: {exc}. If it ships custom code you trust, "
            "set trust_remote_code=True."
        ) from exc

    adapter_hash = None
    if spec.adapter:
        adapter_dir = Path(spec.adapter)
        if not (adapter_dir / "adapter_config.json").is_file():
            raise ModelLoadError(
                f"Adapter folder {adapter_dir} has no adapter_config.json (expected a peft LoRA "
                "checkpoint, as saved by an alignment job)."
            )
        from peft import PeftModel

        try:
            hf = PeftModel.from_pretrained(hf, str(adapter_dir)).merge_and_unload()
        except (RuntimeError, ValueError, KeyError) as exc:
            raise ModelLoadError(
                f"Adapter {adapter_dir} does not fit model {spec.name!r} ({exc}). Use the base "
                "model the adapter was trained on."
            ) from exc
        adapter_hash = hash_folder(adapter_dir)

    hf = hf.to(device).eval()
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    layers_path = find_layers_path(hf, spec.layers_path)
    embed_path = find_embed_path(hf)
    lm = TransformersModel(hf, tokenizer=tok, task="text-generation")
    tok.padding_side = "left"  # batched generation aligns the last prompt token at the right edge
    name = "default" if spec.name in ("default", "smollm2-135m-instruct") else spec.name
    if spec.adapter:
        name = f"{name}+{Path(spec.adapter).name}"
    return LoadedModel(
        spec=spec,
        lm=lm,
        tokenizer=tok,
        hf_model=hf,
        fingerprint=model_fingerprint(hf, name, adapter_hash),
        name=name,
        layers_path=layers_path,
        embed_path=embed_path,
        source_path=source,
    )


def load_remote_model(spec: ModelSpec) -> LoadedModel:
    """Meta-load ``spec`` for a remote host: config and tokenizer here (layers, width, chat template), no
    weights. The host must serve the same checkpoint (its model key is the repo id or folder path)."""
    import nnsight.modeling.huggingface as nnsight_hf
    from nnsight import TransformersModel
    from transformers import AutoTokenizer

    source, extra = _resolve_source(spec)
    if Path(source).exists():
        # nnsight names a model by its hub id, canonicalised through the hub; a local folder is its own
        # canonical id (offline-safe; a private nnsight cache, so nnsight is pinned to 0.8.x).
        nnsight_hf._ID_CACHE[source] = source
    common = {"trust_remote_code": spec.trust_remote_code, **{k: v for k, v in extra.items() if v}}
    try:
        try:
            tok = AutoTokenizer.from_pretrained(source, local_files_only=True, **common)
        except OSError:
            if Path(source).exists() or os.environ.get("HF_HUB_OFFLINE") == "1":
                raise
            tok = AutoTokenizer.from_pretrained(source, **common)
        # transformers 5 cannot guess the tokenizer for nnsight's meta pipeline: pass it.
        lm = TransformersModel(source, tokenizer=tok, task="text-generation", **common)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"Could not read the config and tokenizer of {spec.name!r} for a remote run "
            f"({str(exc).splitlines()[0][:200]}). Use a hub id (or a folder) that the NDIF host serves."
        ) from exc
    hf = lm._module  # meta tensors: shapes without weights
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    name = "default" if spec.name in ("default", "smollm2-135m-instruct") else spec.name
    h = hashlib.sha256(json.dumps(hf.config.to_dict(), sort_keys=True, default=str).encode())
    h.update(f"remote:{source}:{spec.revision}".encode())
    runner = RemoteRunner(where=spec.where, host=host_of(spec.where) or "", lm=lm)
    return LoadedModel(
        spec=spec,
        lm=lm,
        tokenizer=tok,
        hf_model=hf,
        fingerprint=h.hexdigest()[:16],
        name=name,
        layers_path=find_layers_path(hf, spec.layers_path),
        embed_path=find_embed_path(hf),
        source_path=source,
        runner=runner,
    )
