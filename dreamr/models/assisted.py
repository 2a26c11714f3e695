"""Token-level speculative decoding inside the target's own steps, with the draft as assistant.

``AssistedBackend`` wraps the target backend and changes only ``generate_step``: each round

1. the assistant (the draft model) greedily proposes up to ``num_assistant_tokens`` tokens
   on a mirror of the target session's token ids;
2. the target scores the pending context and all proposed tokens in one forward;
3. the longest run of proposed tokens that equals the target's own greedy choice is kept,
   followed by the target's token at the first mismatch (or one more target token when all
   matched), and the step's stop rules cut the kept tokens where the step ends;
4. the target's cache is cropped to the tokens it scored and kept, and the mirror follows.

Under exact arithmetic the output equals the target's plain greedy decoding token for token.
The target scores several tokens per forward here, where plain decoding scores one, so in
bf16 a near-tie can flip and the text can differ (rarely). Sampling is not supported.
Cancellation is checked once per round, so a cancelled step stops within
``num_assistant_tokens + 1`` tokens rather than one. Every other method, the verifier's
included, runs on the plain target.
"""

from __future__ import annotations

import logging
import threading
import weakref

import torch

from dreamr.models.backend import Backend, BackendStats, Session, TransformersBackend
from dreamr.steps import StepLimits, StepStopper
from dreamr.types import GeneratedStep, StopReason

logger = logging.getLogger(__name__)


class AssistedBackend(Backend):
    """The target backend, writing steps with token-level speculation (see the module doc)."""

    def __init__(
        self,
        target: TransformersBackend,
        assistant: TransformersBackend,
        num_assistant_tokens: int = 5,
    ) -> None:
        if num_assistant_tokens < 1:
            raise ValueError(f"num_assistant_tokens must be >= 1, got {num_assistant_tokens}")
        if target.sampling.temperature > 0:
            raise NotImplementedError(
                "token-level speculation is implemented for greedy decoding only; "
                f"set sampling.temperature=0 (got {target.sampling.temperature})"
            )
        probe = "Natalia sold 48 clips in April, and 1/2 as many in May.\n\n"
        if len(target.tokenizer) != len(assistant.tokenizer) or target.encode(
            probe
        ) != assistant.encode(probe):
            raise ValueError(
                f"token-level speculation needs one vocabulary, but '{target.name}' and "
                f"'{assistant.name}' tokenize differently; use a draft with the target's tokenizer"
            )
        self.inner = target
        self.assistant = assistant
        self.num_assistant_tokens = num_assistant_tokens
        self.name = target.name
        self._mirrors: dict[int, Session] = {}
        self._lock = threading.Lock()

    # Everything but generate_step is the plain target's. ------------------------------

    @property
    def stats(self) -> BackendStats:  # type: ignore[override]
        return self.inner.stats

    @property
    def tokenizer(self):
        return self.inner.tokenizer

    def __getattr__(self, name: str):
        # Only reached for attributes not defined here: model, device, encode, render_chat, ...
        if name in ("inner", "__setstate__"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    def start(self, messages: list[dict[str, str]], label: str = "") -> Session:
        return self.inner.start(messages, label)

    def start_raw(self, text: str, label: str = "") -> Session:
        return self.inner.start_raw(text, label)

    def append_text(self, session: Session, text: str) -> int:
        return self.inner.append_text(session, text)

    def truncate(self, session: Session, length: int) -> None:
        self.inner.truncate(session, length)

    def next_token_logprobs(self, session: Session, suffix: str) -> torch.Tensor:
        return self.inner.next_token_logprobs(session, suffix)

    def token_logprobs(self, session: Session, continuation: str) -> torch.Tensor:
        return self.inner.token_logprobs(session, continuation)

    def fork(self, session: Session) -> Session:
        return self.inner.fork(session)

    # Assisted step writing. -------------------------------------------------------------

    def _mirror(self, session: Session) -> Session:
        """Return the assistant's session holding the same ids as ``session``, created on first use."""
        with self._lock:
            mirror = self._mirrors.get(id(session))
            if mirror is None:
                mirror = Session(
                    ids=list(session.ids[: session.prompt_len]), prompt_len=session.prompt_len
                )
                self._mirrors[id(session)] = mirror
                weakref.finalize(session, self._mirrors.pop, id(session), None)
        common = 0
        limit = min(len(mirror.ids), len(session.ids))
        while common < limit and mirror.ids[common] == session.ids[common]:
            common += 1
        self.assistant.truncate(mirror, max(common, mirror.prompt_len))
        mirror.ids.extend(session.ids[len(mirror.ids) :])
        mirror.next_logits = None
        return mirror

    def generate_step(
        self,
        session: Session,
        limits: StepLimits,
        max_tokens: int,
        cancel: threading.Event | None = None,
    ) -> GeneratedStep:
        if max_tokens < 1:
            raise ValueError(f"{self.name}: max_tokens must be >= 1, got {max_tokens}")
        target = self.inner
        stopper = StepStopper(limits, target.eos_token_ids, max_tokens)
        step_ids: list[int] = []
        text = ""
        reason: StopReason | None = None
        while reason is None:
            if cancel is not None and cancel.is_set():
                reason = StopReason.CANCELLED
                break
            room = max_tokens - len(step_ids)
            # Step 1: the assistant proposes; the target's own token always follows.
            guesses = self._propose(session, min(self.num_assistant_tokens, room - 1))
            # Step 2: the target scores them in one forward.
            choices = self._target_choices(session, guesses)  # [len(guesses) + 1] greedy ids
            # Step 3: keep the matching run plus the target's next token.
            matched = 0
            while matched < len(guesses) and guesses[matched] == choices[matched]:
                matched += 1
            kept = guesses[:matched] + [choices[matched]]
            scored_len = len(session.ids)  # the target's cache covers ids up to here plus guesses
            for token in kept:
                session.ids.append(token)
                step_ids.append(token)
                target.stats.generated_tokens += 1
                full = target._decode(step_ids)
                piece = full[len(text) :] if full.startswith(text) else full
                text = full
                reason = stopper.update(token, piece)
                if reason is not None:
                    break
            # Step 4: keep the cache only for scored tokens that stayed in the session.
            valid = scored_len + min(matched, len(session.ids) - scored_len)
            target._crop(session, min(valid, session.cache_len))
            session.next_logits = None
        return GeneratedStep(
            text=target._decode(step_ids), token_ids=tuple(step_ids), stop_reason=reason
        )

    def _propose(self, session: Session, count: int) -> list[int]:
        if count < 1:
            return []
        mirror = self._mirror(session)
        guesses = []
        for _ in range(count):
            token = int(torch.argmax(self.assistant._next_logits(mirror)))
            mirror.ids.append(token)
            mirror.next_logits = None
            self.assistant.stats.generated_tokens += 1
            guesses.append(token)
            if token in self.inner.eos_token_ids:
                break
        return guesses

    @torch.inference_mode()
    def _target_choices(self, session: Session, guesses: list[int]) -> list[int]:
        """Return the target's greedy token after the session and after each guess: [len(guesses) + 1]."""
        target = self.inner
        if session.cache_len >= len(session.ids) and session.next_logits is None:
            # The cache covers every id but the logits are gone: re-feed the last one.
            target._crop(session, len(session.ids) - 1)
        pending = session.ids[session.cache_len :]
        if pending or guesses:
            logits = target._feed(session, pending + guesses)  # [len(pending) + len(guesses), V]
        if pending:
            rows = logits[len(pending) - 1 :]  # [len(guesses) + 1, V]
        else:
            rows = (
                torch.cat([session.next_logits[None], logits], dim=0)
                if guesses
                else session.next_logits[None]
            )
        return [int(token) for token in torch.argmax(rows, dim=-1)]
