"""Shared fixtures: the real Qwen tokenizer and tiny random-init models built on it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"


def model_source(role: str, name: str):
    return instantiate(OmegaConf.load(CONF / "model" / role / f"{name}.yaml"))


@pytest.fixture(scope="session")
def draft_source():
    return model_source("draft", "qwen2.5-coder-0.5b")


@pytest.fixture(scope="session")
def qwen_tokenizer(draft_source):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(draft_source.folder(None))


@pytest.fixture(scope="session")
def make_tiny_backend(draft_source):
    """Factory for tiny random Qwen2 backends sharing the real Qwen tokenizer."""
    from dreamr.models.backend import SamplingConfig, TransformersBackend
    from dreamr.models.loading import TinyRandomModel

    def build(seed: int = 0, hidden_size: int = 64, layers: int = 2, sampling=None, **kwargs):
        source = TinyRandomModel(
            tokenizer_source=draft_source,
            name=f"tiny-{seed}",
            hidden_size=hidden_size,
            num_hidden_layers=layers,
            seed=seed,
        )
        model, tokenizer = source.load(torch.float32, None)
        return TransformersBackend(
            model, tokenizer, name=source.name, sampling=sampling or SamplingConfig(), **kwargs
        )

    return build


@pytest.fixture
def tiny_target(make_tiny_backend):
    return make_tiny_backend(seed=2, hidden_size=64, layers=2)


@pytest.fixture
def tiny_draft(make_tiny_backend):
    return make_tiny_backend(seed=1, hidden_size=32, layers=1)
