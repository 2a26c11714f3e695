"""LightningDataModule that feeds problems to ``ReasoningModule.predict_step``."""

from __future__ import annotations

from collections.abc import Sequence

import lightning as L
from torch.utils.data import DataLoader, Dataset

from dreamr.types import Problem


class ProblemDataset(Dataset):
    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)

    def __len__(self) -> int:
        return len(self.problems)

    def __getitem__(self, index: int) -> Problem:
        return self.problems[index]


def collate_problems(batch: list[Problem]) -> list[Problem]:
    """Keep problems as objects; each backend tokenizes for itself."""
    return list(batch)


class ProblemDataModule(L.LightningDataModule):
    """Serves a fixed list of problems, one per batch, in order."""

    def __init__(self, problems: Sequence[Problem], batch_size: int = 1) -> None:
        super().__init__()
        self.problems = list(problems)
        self.batch_size = batch_size

    def predict_dataloader(self) -> DataLoader:
        return DataLoader(
            ProblemDataset(self.problems),
            batch_size=self.batch_size,
            shuffle=False,
            collate_fn=collate_problems,
        )
