#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""TEST ONLY: a malicious stand-in for cloudseal-helper, exec'd by
pam_cloudseal.so (helper=...), that writes the prompt frames named by
/run/cloudseal-test-fido2/hostile-mode (the tests mount a tmpfs there in
their namespace) to check the module stays bounded:
  huge      a prompt header announcing 65535 bytes of text, then that much
  many      CS_HELPER_PROMPTS_MAX + 4 info prompts
  control   an info prompt with control characters and escape sequences
  badtype   a header whose first byte is no prompt type
  answers   a secret prompt; the answer frame is written to .../answer.bin
  stall     an info prompt, then waits for ever (the module kills it)
Then it exits 0 with no reply frame (or the one it broke)."""
import os
import signal
import struct
import sys

DIR = "/run/cloudseal-test-fido2"
INFO, SECRET = 0x81, 0x82


def prompt(kind, text):
    sys.stdout.buffer.write(struct.pack(">BBH", kind, 0, len(text)) + text)
    sys.stdout.buffer.flush()


def read_frame():
    hdr = os.read(0, 4)
    n = struct.unpack(">I", hdr)[0] if len(hdr) == 4 else 0
    data = b""
    while len(data) < min(n, 4096):
        chunk = os.read(0, n - len(data))
        if not chunk:
            break
        data += chunk
    return hdr + data


def main():
    mode = open(f"{DIR}/hostile-mode").read().strip()
    read_frame()                          # the password the module sends
    if mode == "huge":
        sys.stdout.buffer.write(struct.pack(">BBH", INFO, 0, 0xFFFF) + b"A" * 0xFFFF)
    elif mode == "many":
        for i in range(12):
            prompt(INFO, f"notice {i}".encode())
    elif mode == "control":
        prompt(INFO, b"bell\x07 esc\x1b[2J nl\n del\x7f end")
    elif mode == "badtype":
        sys.stdout.buffer.write(b"\x7f\x00\x00\x05hello")
    elif mode == "stall":
        prompt(INFO, b"Touch your security key.")
        while True:
            if not os.read(0, 4096):
                signal.pause()          # EOF: still nothing but the kill ends it
    elif mode == "answers":
        prompt(SECRET, b"Security key PIN: ")
        with open(f"{DIR}/answer.bin", "wb") as f:
            f.write(read_frame())
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
