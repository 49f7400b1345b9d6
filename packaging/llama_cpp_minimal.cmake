# Included after every project() call while pip builds llama-cpp-python (see the Makefile's
# LLAMA_CMAKE_ARGS). The Python bindings load libllama and ggml only: llama.cpp's "common"
# library (argument parsing, chat templates, an HTTP client) is never loaded, yet it is a
# third of the compile. llama-cpp-python forces it on, so it is switched off again here,
# after that and before llama.cpp reads the option.
set(LLAMA_BUILD_COMMON OFF CACHE BOOL "agentbatch: not loaded by the Python bindings" FORCE)
