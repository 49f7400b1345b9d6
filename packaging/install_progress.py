"""Filter pip's verbose output to a few lines a person can follow while llama.cpp compiles:
what is being built, ninja's [done/total] counter every 15 seconds (and a "still compiling"
line when the compiler is quiet for 30), and pip's last word."""

from __future__ import annotations

import re
import sys
import threading
import time

STEP = re.compile(r"^\s*\[(\d+)/(\d+)\]")
KEEP = ("Successfully", "ERROR", "error:")


class Progress:
    def __init__(self) -> None:
        self.start = self.last = time.monotonic()
        self.step = ""
        self.compiling = False
        self.lock = threading.Lock()

    def say(self, text: str) -> None:
        with self.lock:
            print(text, flush=True)
            self.last = time.monotonic()

    def heartbeat(self) -> None:
        while True:
            time.sleep(5)
            now = time.monotonic()
            if self.compiling and now - self.last >= 30:
                at = f", at {self.step}" if self.step else ""
                self.say(f"  ... still compiling ({now - self.start:.0f} s{at})")


def main() -> None:
    progress = Progress()
    threading.Thread(target=progress.heartbeat, daemon=True).start()
    for line in sys.stdin:
        if "Building wheel for llama" in line:
            if not progress.compiling:
                progress.say("  compiling llama.cpp for llama-cpp-python ...")
            progress.compiling = True
            continue
        step = STEP.match(line)
        if step:
            done, total = step.groups()
            progress.step = f"[{done}/{total}]"
            now = time.monotonic()
            if now - progress.last >= 15 or done == total:
                progress.say(f"  {progress.step} compiled, {now - progress.start:.0f} s")
            continue
        if line.startswith(KEEP) or line.lstrip().startswith(KEEP):
            progress.compiling = False
            progress.say("  " + line.strip())


if __name__ == "__main__":
    main()
