"""Chat prompts for solving a problem and for judging a drafted step."""

from __future__ import annotations

from dataclasses import dataclass

from dreamr.types import Problem

DEFAULT_SYSTEM_PROMPT = "Please reason step by step, and put your final answer within \\boxed{}."

_SENTINEL = "\u2063DREAMR_BODY\u2063"


@dataclass(frozen=True)
class SolvePrompt:
    """The chat that asks a model to solve a problem step by step."""

    system: str = DEFAULT_SYSTEM_PROMPT
    template: str = "{question}"

    def messages(self, problem: Problem) -> list[dict[str, str]]:
        messages = [{"role": "system", "content": self.system}] if self.system else []
        messages.append(
            {"role": "user", "content": self.template.format(question=problem.question)}
        )
        return messages


@dataclass(frozen=True)
class JudgePrompt:
    """The chat that asks the target whether a new step is correct.

    The user message is ``problem_block + steps + proposal_block``; the label slot is the
    first token of the assistant's reply. The split lets a verifier cache the judge context
    up to the last committed step and feed only the proposal and the question per check.
    """

    system: str = "You check solutions to problems one step at a time."
    problem_block: str = "Problem:\n{question}\n\nSolution so far:\n"
    proposal_block: str = (
        "\n---\nNew step:\n{proposal}\n---\nIs the new step correct? Answer Yes or No."
    )

    def chat_frame(self, render_chat) -> tuple[str, str]:
        """Split the rendered chat around the user message into ``(head, tail)``.

        ``render_chat`` maps messages to the model's prompt text (with the generation prompt).
        """
        messages = [{"role": "system", "content": self.system}] if self.system else []
        messages.append({"role": "user", "content": _SENTINEL})
        rendered = render_chat(messages)
        if rendered.count(_SENTINEL) != 1:
            raise ValueError("the chat template must place the user message exactly once")
        head, tail = rendered.split(_SENTINEL)
        return head, tail

    def prefix(self, head: str, problem: Problem) -> str:
        return head + self.problem_block.format(question=problem.question)

    def suffix(self, tail: str, proposal_text: str) -> str:
        return self.proposal_block.format(proposal=proposal_text.strip()) + tail
