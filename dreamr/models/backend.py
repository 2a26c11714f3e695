"""Text-in, text-out model backends with a per-problem KV-cache session.

Draft and target exchange text only: each backend tokenizes for itself, so pairs with
different tokenizers and chat templates work. A ``Session`` contains one problem's token ids
and the KV cache that covers a prefix of them; appending a step feeds only the new tokens.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from dreamr.steps import StepLimits, StepStopper
from dreamr.types import GeneratedStep, StopReason

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SamplingConfig:
    """Decoding settings; ``temperature == 0`` is greedy."""

    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"sampling.temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"sampling.top_p must be in (0, 1], got {self.top_p}")


@dataclass
class BackendStats:
    """Counters of one backend, cumulative since the backend was built."""

    forward_passes: int = 0
    generated_tokens: int = 0
    prefill_tokens: int = 0

    def copy(self) -> BackendStats:
        return BackendStats(self.forward_passes, self.generated_tokens, self.prefill_tokens)

    def minus(self, earlier: BackendStats) -> BackendStats:
        return BackendStats(
            self.forward_passes - earlier.forward_passes,
            self.generated_tokens - earlier.generated_tokens,
            self.prefill_tokens - earlier.prefill_tokens,
        )


@dataclass
class Session:
    """One problem's context in one backend.

    ``ids[:cache_len]`` are in ``cache``; ``next_logits`` is the distribution after ``ids``
    and is valid only while ``cache_len == len(ids)``.
    """

    ids: list[int]
    prompt_len: int
    cache: object | None = None
    cache_len: int = 0
    next_logits: torch.Tensor | None = None  # [V], float32
    generator: torch.Generator | None = None
    label: str = ""
    boundaries: list[int] = field(default_factory=list)  # len(ids) after each committed step

    @property
    def num_generated(self) -> int:
        return len(self.ids) - self.prompt_len


class Backend(ABC):
    """A language model that writes steps and scores judge prompts on text contexts."""

    name: str
    stats: BackendStats

    @abstractmethod
    def start(self, messages: list[dict[str, str]], label: str = "") -> Session:
        """Open a session on a chat prompt, ready to write the assistant's reply."""

    @abstractmethod
    def start_raw(self, text: str, label: str = "") -> Session:
        """Open a session on a plain text prefix."""

    @abstractmethod
    def generate_step(
        self,
        session: Session,
        limits: StepLimits,
        max_tokens: int,
        cancel: threading.Event | None = None,
    ) -> GeneratedStep:
        """Write one step on the session and leave its tokens appended to the session."""

    @abstractmethod
    def append_text(self, session: Session, text: str) -> int:
        """Append text written elsewhere to the session; return the number of tokens added."""

    @abstractmethod
    def truncate(self, session: Session, length: int) -> None:
        """Drop tokens past ``length`` (a rolled-back proposal), keeping the cache consistent."""

    @abstractmethod
    def next_token_logprobs(self, session: Session, suffix: str) -> torch.Tensor:
        """Log-probabilities of the token after ``session + suffix``; the session is unchanged."""

    @abstractmethod
    def token_logprobs(self, session: Session, continuation: str) -> torch.Tensor:
        """Log-probability of each token of ``continuation`` after the session; unchanged session."""

    @abstractmethod
    def fork(self, session: Session) -> Session:
        """Copy the session so that the copy shares nothing mutable with it."""

    @property
    @abstractmethod
    def tokenizer(self):
        """Return the backend's Hugging Face tokenizer."""


class TransformersBackend(Backend):
    """Backend over a transformers causal LM, batch size 1, incremental KV cache."""

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer,
        name: str = "model",
        sampling: SamplingConfig | None = None,
        extra_eos_token_ids: tuple[int, ...] = (),
    ):
        self.model = model.eval()
        self._tokenizer = tokenizer
        self.name = name
        self.sampling = sampling or SamplingConfig()
        self.stats = BackendStats()
        self.eos_token_ids = frozenset(_eos_ids(model, tokenizer)) | frozenset(extra_eos_token_ids)
        if not self.eos_token_ids:
            raise ValueError(
                f"Model '{name}' defines no end-of-sequence token; set eos_token_id in its "
                "generation_config or pass extra_eos_token_ids."
            )

    @property
    def tokenizer(self):
        return self._tokenizer

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # Sessions -------------------------------------------------------------------------

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        if getattr(self._tokenizer, "chat_template", None):
            return self._tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
        # Base models without a template get a plain transcript.
        lines = [f"{message['role'].capitalize()}: {message['content']}" for message in messages]
        return "\n\n".join(lines) + "\n\nAssistant: "

    def start(self, messages: list[dict[str, str]], label: str = "") -> Session:
        return self.start_raw(self.render_chat(messages), label=label)

    def start_raw(self, text: str, label: str = "") -> Session:
        ids = self.encode(text)
        if not ids:
            raise ValueError(f"{self.name}: the prompt encodes to no tokens")
        generator = None
        if self.sampling.temperature > 0:
            generator = torch.Generator(device="cpu")
            digest = hashlib.sha256(f"{self.sampling.seed}:{label}".encode()).digest()
            generator.manual_seed(int.from_bytes(digest[:8], "little"))
        return Session(ids=ids, prompt_len=len(ids), generator=generator, label=label)

    def fork(self, session: Session) -> Session:
        forked = copy.copy(session)
        forked.ids = list(session.ids)
        forked.boundaries = list(session.boundaries)
        forked.cache = copy.deepcopy(session.cache)
        if session.generator is not None:
            forked.generator = torch.Generator(device="cpu")
            forked.generator.set_state(session.generator.get_state())
        return forked

    def encode(self, text: str) -> list[int]:
        return list(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def append_text(self, session: Session, text: str) -> int:
        new_ids = self.encode(text)
        session.ids.extend(new_ids)
        session.next_logits = None
        return len(new_ids)

    def truncate(self, session: Session, length: int) -> None:
        if length < session.prompt_len:
            raise ValueError(
                f"{self.name}: cannot truncate the session to {length} tokens, "
                f"below its prompt of {session.prompt_len}"
            )
        if length >= len(session.ids):
            return
        del session.ids[length:]
        if session.cache_len > length:
            self._crop(session, length)
        session.next_logits = None

    # Model calls ----------------------------------------------------------------------

    def _crop(self, session: Session, length: int) -> None:
        if length >= session.cache_len:
            return
        if session.cache is not None:
            # transformers 5.x: crop() takes the number of tokens to remove, as a negative int.
            session.cache.crop(length - session.cache_len)
        session.cache_len = length

    @torch.inference_mode()
    def _feed(self, session: Session, ids: list[int]) -> torch.Tensor:
        """Run ``ids`` through the model on top of the cache; return logits [len(ids), V]."""
        from transformers import DynamicCache

        if session.cache is None:
            session.cache = DynamicCache(config=self.model.config)
        input_ids = torch.tensor([ids], dtype=torch.long, device=self.device)  # [1, T]
        output = self.model(input_ids=input_ids, cache=session.cache, use_cache=True)
        session.cache = output.cache
        session.cache_len += len(ids)
        self.stats.forward_passes += 1
        self.stats.prefill_tokens += len(ids)
        return output.logits[0].float()  # [T, V]

    def _next_logits(self, session: Session) -> torch.Tensor:
        if session.next_logits is not None and session.cache_len == len(session.ids):
            return session.next_logits
        if session.cache_len >= len(session.ids):
            # The cache already covers every id but the logits are gone: re-feed the last one.
            self._crop(session, len(session.ids) - 1)
        logits = self._feed(session, session.ids[session.cache_len :])
        session.next_logits = logits[-1]
        return session.next_logits

    def _pick(self, logits: torch.Tensor, session: Session) -> int:
        if self.sampling.temperature == 0:
            return int(torch.argmax(logits))
        probs = torch.softmax(logits / self.sampling.temperature, dim=-1)
        if self.sampling.top_p < 1.0:
            sorted_probs, order = torch.sort(probs, descending=True)
            keep = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < self.sampling.top_p
            probs = torch.zeros_like(probs).scatter(0, order[keep], sorted_probs[keep])
        return int(torch.multinomial(probs.cpu(), 1, generator=session.generator))

    def generate_step(
        self,
        session: Session,
        limits: StepLimits,
        max_tokens: int,
        cancel: threading.Event | None = None,
    ) -> GeneratedStep:
        if max_tokens < 1:
            raise ValueError(f"{self.name}: max_tokens must be >= 1, got {max_tokens}")
        stopper = StepStopper(limits, self.eos_token_ids, max_tokens)
        step_ids: list[int] = []
        text = ""
        reason: StopReason | None = None
        while reason is None:
            if cancel is not None and cancel.is_set():
                reason = StopReason.CANCELLED
                break
            token = self._pick(self._next_logits(session), session)
            session.ids.append(token)
            session.next_logits = None
            step_ids.append(token)
            self.stats.generated_tokens += 1
            full = self._decode(step_ids)
            piece = full[len(text) :] if full.startswith(text) else full
            text = full
            reason = stopper.update(token, piece)
        return GeneratedStep(
            text=self._decode(step_ids), token_ids=tuple(step_ids), stop_reason=reason
        )

    def _decode(self, ids: list[int]) -> str:
        return self._tokenizer.decode(ids, skip_special_tokens=True)

    def next_token_logprobs(self, session: Session, suffix: str) -> torch.Tensor:
        self._next_logits(session)  # make the cache cover the whole session first
        suffix_ids = self.encode(suffix)
        if not suffix_ids:
            return torch.log_softmax(session.next_logits, dim=-1)
        start = session.cache_len
        saved_logits = session.next_logits
        try:
            logits = self._feed(session, suffix_ids)
        finally:
            self._crop(session, start)
            session.next_logits = saved_logits
        return torch.log_softmax(logits[-1], dim=-1)  # [V]

    def token_logprobs(self, session: Session, continuation: str) -> torch.Tensor:
        first = self._next_logits(session)
        ids = self.encode(continuation)
        if not ids:
            return torch.empty(0)
        start = session.cache_len
        saved_logits = session.next_logits
        try:
            logits = self._feed(session, ids[:-1]) if len(ids) > 1 else first[None]
            if len(ids) > 1:
                logits = torch.cat([first[None], logits], dim=0)  # [T, V]
        finally:
            self._crop(session, start)
            session.next_logits = saved_logits
        logprobs = torch.log_softmax(logits, dim=-1)
        return logprobs.gather(1, torch.tensor(ids, device=logprobs.device)[:, None])[:, 0]  # [T]

    @torch.inference_mode()
    def forward_batch(self, rows: Sequence[Sequence[int]]) -> list[torch.Tensor]:
        """Run several token sequences through the model in one forward, without a cache.

        Rows are right-padded to the longest one and the attention mask marks the padding.
        Under causal attention a real token never attends to the padding after it, and its
        position id is its index in the row, so row ``i``'s logits equal those of running it
        alone (up to floating-point summation order). Returns one float32 tensor of logits
        [len(rows[i]), V] per row.
        """
        if not rows:
            return []
        lengths = [len(row) for row in rows]
        if min(lengths) < 1:
            raise ValueError(f"{self.name}: forward_batch got an empty row (lengths {lengths})")
        pad_id = self._tokenizer.pad_token_id
        pad_id = 0 if pad_id is None else int(pad_id)
        width = max(lengths)
        input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)  # [B, T]
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)  # [B, T]
        for index, row in enumerate(rows):
            input_ids[index, : len(row)] = torch.tensor(list(row), dtype=torch.long)
            attention_mask[index, : len(row)] = 1
        output = self.model(
            input_ids=input_ids.to(self.device),
            attention_mask=attention_mask.to(self.device),
            use_cache=False,
        )
        self.stats.forward_passes += 1
        self.stats.prefill_tokens += sum(lengths)
        logits = output.logits.float()  # [B, T, V]
        return [logits[index, :length] for index, length in enumerate(lengths)]

    @torch.inference_mode()
    def forward_batch_on_session(
        self, session: Session, rows: Sequence[Sequence[int]]
    ) -> list[torch.Tensor]:
        """Run several continuations of one session in one forward, sharing its cached prefix.

        The session's cache is copied and repeated along the batch, and rows are right-padded
        and masked. Row ``i``'s token ``j`` gets position ``len(session.ids) + j``, as when it
        is fed alone. Returns float32 logits [len(rows[i]), V] per row; the session is unchanged.
        """
        if not rows:
            return []
        lengths = [len(row) for row in rows]
        if min(lengths) < 1:
            raise ValueError(
                f"{self.name}: forward_batch_on_session got an empty row (lengths {lengths})"
            )
        self._next_logits(session)  # make the cache cover the whole session first
        prefix = session.cache_len
        cache = copy.deepcopy(session.cache)
        cache.batch_repeat_interleave(len(rows))
        pad_id = self._tokenizer.pad_token_id
        pad_id = 0 if pad_id is None else int(pad_id)
        width = max(lengths)
        input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)  # [B, T]
        attention_mask = torch.ones((len(rows), prefix + width), dtype=torch.long)  # [B, P + T]
        for index, row in enumerate(rows):
            input_ids[index, : len(row)] = torch.tensor(list(row), dtype=torch.long)
            attention_mask[index, prefix + len(row) :] = 0
        position_ids = (prefix + torch.arange(width)).expand(len(rows), width)  # [B, T]
        output = self.model(
            input_ids=input_ids.to(self.device),
            attention_mask=attention_mask.to(self.device),
            position_ids=position_ids.to(self.device),
            cache=cache,
            use_cache=True,
        )
        self.stats.forward_passes += 1
        self.stats.prefill_tokens += sum(lengths)
        logits = output.logits.float()  # [B, T, V]
        return [logits[index, :length] for index, length in enumerate(lengths)]

    def next_logits(self, session: Session) -> torch.Tensor:
        """Logits [V] of the token after the whole session (fed through the cache if needed)."""
        return self._next_logits(session)

    def continuation_logprobs(self, session: Session, continuation: str) -> ContinuationLogprobs:
        """Score ``continuation`` after the session: each token's log-probability and the
        log-probability of the token the model ranks first at that position. The session is
        unchanged."""
        first = self._next_logits(session)
        ids = self.encode(continuation)
        if not ids:
            empty = torch.empty(0)
            return ContinuationLogprobs(empty, empty)
        start = session.cache_len
        saved_logits = session.next_logits
        try:
            logits = first[None]
            if len(ids) > 1:
                logits = torch.cat([first[None], self._feed(session, ids[:-1])], dim=0)  # [T, V]
        finally:
            self._crop(session, start)
            session.next_logits = saved_logits
        return ContinuationLogprobs.from_logits(logits, ids)


@dataclass(frozen=True)
class ContinuationLogprobs:
    """Log-probabilities of a scored continuation of T tokens."""

    token: torch.Tensor  # [T] log p(x_t | context, x_<t)
    top: torch.Tensor  # [T] max_v log p(v | context, x_<t): the model's own first choice

    @classmethod
    def from_logits(cls, logits: torch.Tensor, ids: Sequence[int]) -> ContinuationLogprobs:
        """Build from the logits [T, V] that predict each of the T tokens ``ids``."""
        logprobs = torch.log_softmax(logits.float(), dim=-1)  # [T, V]
        index = torch.tensor(list(ids), dtype=torch.long, device=logprobs.device)[:, None]
        return cls(logprobs.gather(1, index)[:, 0], logprobs.max(dim=-1).values)


def _eos_ids(model: torch.nn.Module, tokenizer) -> set[int]:
    ids: set[int] = set()
    generation_config = getattr(model, "generation_config", None)
    for source in (getattr(generation_config, "eos_token_id", None), tokenizer.eos_token_id):
        if source is None:
            continue
        ids.update(source if isinstance(source, (list, tuple)) else [source])
    return {int(token) for token in ids}
