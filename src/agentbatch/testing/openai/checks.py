"""What the emulator validates, as the real API does (one import for both checks).

``check_input_file`` (:mod:`.input_checks`): problems with the batch input file as a whole
or with one line's envelope. The batch turns ``failed`` with these as ``errors.data``
(never a 400 at create).

``check_chat_body`` (:mod:`.chat_checks`): problems the chat-completions endpoint answers
with HTTP 400. Inside a batch they become an error-file line with ``response.status_code``
400.
"""

from agentbatch.testing.openai.chat_checks import ROLES, BadRequest, check_chat_body
from agentbatch.testing.openai.input_checks import MAX_ERRORS, InputCheck, check_input_file

__all__ = [
    "MAX_ERRORS",
    "ROLES",
    "BadRequest",
    "InputCheck",
    "check_chat_body",
    "check_input_file",
]
