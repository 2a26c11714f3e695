"""Per-problem target sessions that a verifier keeps in step with the committed steps.

A verifier sees the steps before each proposal. Keeping a session whose cache already covers
them means a check costs a prefill of the proposal (and a short suffix) only. When the prior
steps differ from what the session holds (a rolled-back speculative step), the session is
cropped back to the longest common prefix of steps and extended from there.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from dreamr.models.backend import Backend, ContinuationLogprobs, Session
from dreamr.prompts import SolvePrompt
from dreamr.types import Problem


class StepSyncedSession:
    """A backend session holding a fixed prefix followed by a list of step texts."""

    def __init__(self, backend: Backend, session: Session) -> None:
        self.backend = backend
        self.session = session
        self._step_texts: list[str] = []
        self._step_ends: list[int] = []  # session length after each cached step

    def sync(self, step_texts: Sequence[str]) -> None:
        """Make the session hold the prefix followed by exactly ``step_texts``."""
        common = 0
        for cached, text in zip(self._step_texts, step_texts, strict=False):
            if cached != text:
                break
            common += 1
        if common < len(self._step_texts):
            keep = self._step_ends[common - 1] if common else self.session.prompt_len
            self.backend.truncate(self.session, keep)
            del self._step_texts[common:]
            del self._step_ends[common:]
        for text in step_texts[common:]:
            self.backend.append_text(self.session, text)
            self._step_texts.append(text)
            self._step_ends.append(len(self.session.ids))


class SolutionContext(StepSyncedSession):
    """The target's own solution context for one problem: the solve chat and the prior steps.

    This is what the target sees when it writes a step itself, so scoring a proposal here
    measures how likely the target would have been to write it.
    """

    def __init__(self, backend: Backend, prompt: SolvePrompt, problem: Problem) -> None:
        super().__init__(
            backend, backend.start(prompt.messages(problem), label=f"verify:{problem.id}")
        )
        self.prompt = prompt
        self.problem = problem

    def continuation_logprobs_batch(
        self, step_texts: Sequence[str], continuations: Sequence[str]
    ) -> list[ContinuationLogprobs]:
        """Score each continuation after the prompt and ``step_texts``, all in one forward."""
        self.sync(step_texts)
        first = self.backend.next_logits(self.session)  # [V], predicts each row's first token
        ids = [self.backend.encode(text) for text in continuations]
        fed = [row for row in ids if row]
        logits = iter(self.backend.forward_batch_on_session(self.session, fed) if fed else [])
        scored = []
        for row in ids:
            if not row:
                scored.append(ContinuationLogprobs(torch.empty(0), torch.empty(0)))
                continue
            # Logits after token j predict token j + 1; the last row position predicts nothing.
            predicting = torch.cat([first[None], next(logits)[:-1]], dim=0)  # [T, V]
            scored.append(ContinuationLogprobs.from_logits(predicting, row))
        return scored

    def token_ids(self, step_texts: Sequence[str], continuation: str) -> tuple[list[int], int]:
        """Token ids of the prompt, ``step_texts`` and ``continuation``, encoded piece by piece
        as this session encodes them, and the index where ``continuation`` starts."""
        encode = self.backend.encode
        ids = encode(self.backend.render_chat(self.prompt.messages(self.problem)))
        for text in step_texts:
            ids += encode(text)
        start = len(ids)
        return ids + encode(continuation), start
