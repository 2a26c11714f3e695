"""A per-problem judge context that the target extends as steps commit.

Checking a proposal costs a prefill of the proposal and the judge question only: the
problem and the steps before the proposal stay in the judge session's KV cache. When the
prior steps differ from what the cache holds (a rolled-back speculative step), the cache is
cropped back to the longest common prefix of steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from dreamr.models.backend import Backend
from dreamr.prompts import JudgePrompt
from dreamr.types import Problem, Step


class JudgeContext:
    """The target's judge prompt for one problem, cached up to the last prior step."""

    def __init__(self, backend: Backend, prompt: JudgePrompt, problem: Problem):
        self.backend = backend
        self.prompt = prompt
        head, self.tail = prompt.chat_frame(backend.render_chat)
        self.session = backend.start_raw(prompt.prefix(head, problem), label=f"judge:{problem.id}")
        self._step_texts: list[str] = []
        self._step_ends: list[int] = []  # session length after each cached step

    def _sync(self, prior_steps: Sequence[Step]) -> None:
        common = 0
        for cached, step in zip(self._step_texts, prior_steps):
            if cached != step.text:
                break
            common += 1
        if common < len(self._step_texts):
            keep = self._step_ends[common - 1] if common else self.session.prompt_len
            self.backend.truncate(self.session, keep)
            del self._step_texts[common:]
            del self._step_ends[common:]
        for step in prior_steps[common:]:
            self.backend.append_text(self.session, step.text)
            self._step_texts.append(step.text)
            self._step_ends.append(len(self.session.ids))

    def label_logprobs(self, prior_steps: Sequence[Step], proposal_text: str) -> torch.Tensor:
        """Log-probabilities [V] of the first token of the judge's reply."""
        self._sync(prior_steps)
        return self.backend.next_token_logprobs(
            self.session, self.prompt.suffix(self.tail, proposal_text)
        )
