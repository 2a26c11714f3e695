"""A per-problem judge context that the target extends as steps commit.

Checking a proposal costs a prefill of the proposal and the judge question only: the
problem and the steps before the proposal stay in the judge session's KV cache. When the
prior steps differ from what the cache contains (a rolled-back speculative step), the cache is
cropped back to the longest common prefix of steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from dreamr.models.backend import Backend
from dreamr.prompts import JudgePrompt
from dreamr.types import Problem, Step
from dreamr.verify.context import StepSyncedSession


class JudgeContext(StepSyncedSession):
    """The target's judge prompt for one problem, cached up to the last prior step."""

    def __init__(self, backend: Backend, prompt: JudgePrompt, problem: Problem):
        head, self.tail = prompt.chat_frame(backend.render_chat)
        self.head = head
        self.prompt = prompt
        self.problem = problem
        super().__init__(
            backend, backend.start_raw(prompt.prefix(head, problem), label=f"judge:{problem.id}")
        )

    def label_logprobs(self, prior_steps: Sequence[Step], proposal_text: str) -> torch.Tensor:
        """Log-probabilities [V] of the first token of the judge's reply."""
        self.sync([step.text for step in prior_steps])
        return self.backend.next_token_logprobs(
            self.session, self.prompt.suffix(self.tail, proposal_text)
        )

    def label_logprobs_batch(
        self, prior_steps: Sequence[Step], proposal_texts: Sequence[str]
    ) -> list[torch.Tensor]:
        """Log-probabilities [V] of the reply's first token for each proposal, in one forward."""
        self.sync([step.text for step in prior_steps])
        rows = [self.backend.encode(self.prompt.suffix(self.tail, text)) for text in proposal_texts]
        logits = self.backend.forward_batch_on_session(self.session, rows)
        return [torch.log_softmax(row[-1], dim=-1) for row in logits]

    def token_ids(self, step_texts: Sequence[str], proposal_text: str) -> list[int]:
        """Token ids of the whole judge prompt, encoded piece by piece as this context does."""
        encode = self.backend.encode
        ids = encode(self.prompt.prefix(self.head, self.problem))
        for text in step_texts:
            ids += encode(text)
        return ids + encode(self.prompt.suffix(self.tail, proposal_text))
