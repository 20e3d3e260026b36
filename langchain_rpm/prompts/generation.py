"""Generation: the prompt and output schema of the personalized answer (stage 8).

Example:
    >>> sorted(GeneratedAnswer.model_json_schema()["properties"])
    ['answer', 'reasoning']
"""

from __future__ import annotations

from langchain_core.prompts import ChatPromptTemplate
from pydantic import Field

from langchain_rpm.prompts.render import _DATA_RULE
from langchain_rpm.prompts.schemas import OutputSchema


class GeneratedAnswer(OutputSchema):
    """A personalized answer with the reasoning that leads to it."""

    reasoning: str = Field(description="The user's reasoning about the new input, 2-5 sentences.")
    answer: str = Field(description="The final answer only, in the required format.")


GENERATION = ChatPromptTemplate.from_messages(
    [
        (
            "system",
            "You answer exactly as one specific user would, by reasoning the way they reason.\n"
            "Task: {instruction}\n"
            "Answer format: {answer_format}\n\n"
            "This user's factors, with statistics from their history:\n{factors}\n\n"
            "How this user reasoned on similar inputs:\n{examples}\n\n"
            "For the new input, first write the reasoning this user would follow (refer to the relevant features "
            "and factors and to the examples), then give the answer in the required format.\n" + _DATA_RULE,
        ),
        ("human", "{fenced_input}\n<features>\n{features}\n</features>"),
    ]
)
