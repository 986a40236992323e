# SPDX-License-Identifier: MIT
"""A login(1)-like PAM application for the tests, over the real libpam with
ctypes: pam_start, pam_authenticate, pam_acct_mgmt and, when it answers
PAM_NEW_AUTHTOK_REQD, pam_chauthtok(PAM_CHANGE_EXPIRED_AUTHTOK) as login,
sshd and gdm do; then pam_open_session.  pamtester cannot do that part: it
stops at the first step that does not return PAM_SUCCESS.

Usage: python3 pam_login.py SERVICE USER [--passwd | --retry-as NAME | --fork-after-auth]
Answers to hidden prompts are read from stdin, one per line, in order;
what the modules say is printed ("prompt: ..." / "info: ..." / "error: ...").
The last line is "result: <step> <code>", code 0 meaning success.
With --passwd it runs only pam_chauthtok(0), as passwd(1) does.
With --retry-as NAME the application authenticates USER, then sets PAM_USER
to NAME and authenticates again on the same handle (a login retried under
another name) before pam_acct_mgmt and pam_open_session.
With --fork-after-auth it forks after pam_authenticate, as a server does
before the session: the child looks at the module's locked pages (mlock()ed
and not dumpable, from /proc/self/smaps), opens the session, calls pam_end
(the module's cleanup runs in it) and exits; printed: "locked pages: N bytes,
flags ...", "child: nonzero bytes N", "child: open_session N", "child: status S".
"""
import os
import ctypes
import ctypes.util
import sys

PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON, PAM_ERROR_MSG, PAM_TEXT_INFO = 1, 2, 3, 4
PAM_USER_ITEM = 2
PAM_NEW_AUTHTOK_REQD = 12
PAM_CHANGE_EXPIRED_AUTHTOK = 0x20


class PamMessage(ctypes.Structure):
    _fields_ = [("msg_style", ctypes.c_int), ("msg", ctypes.c_char_p)]


class PamResponse(ctypes.Structure):
    _fields_ = [("resp", ctypes.c_void_p), ("resp_retcode", ctypes.c_int)]


CONV_FUNC = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.POINTER(PamMessage)),
                             ctypes.POINTER(ctypes.POINTER(PamResponse)), ctypes.c_void_p)


class PamConv(ctypes.Structure):
    _fields_ = [("conv", CONV_FUNC), ("appdata_ptr", ctypes.c_void_p)]


libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.calloc.restype = ctypes.c_void_p
libc.strdup.restype = ctypes.c_void_p
libc.strdup.argtypes = [ctypes.c_char_p]
pam = ctypes.CDLL(ctypes.util.find_library("pam"))
answers = [line.rstrip("\n") for line in sys.stdin]


def conversation(n, msgs, resp, _data):
    out = ctypes.cast(libc.calloc(n, ctypes.sizeof(PamResponse)), ctypes.POINTER(PamResponse))
    for i in range(n):
        m = msgs[i].contents
        text = m.msg.decode(errors="replace")
        if m.msg_style in (PAM_PROMPT_ECHO_OFF, PAM_PROMPT_ECHO_ON):
            print("prompt:", text, flush=True)
            if not answers:
                return 19  # PAM_CONV_ERR: the test gave no answer
            out[i].resp = libc.strdup(answers.pop(0).encode())
        else:
            print("info:" if m.msg_style == PAM_TEXT_INFO else "error:", text, flush=True)
    resp[0] = out
    return 0


def locked_mappings():
    """(start, end, VmFlags) of the mlock()ed, non-dumpable mappings."""
    out, cur = [], None
    for line in open("/proc/self/smaps"):
        f = line.split()
        if "-" in f[0] and not f[0].endswith(":"):
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            cur = (lo, hi)
        elif f[0] == "VmFlags:" and "lo" in f[1:] and "dd" in f[1:]:
            out.append((cur[0], cur[1], " ".join(f[1:])))
    return out


def fork_after_auth(handle):
    maps = locked_mappings()
    print("locked pages:", sum(hi - lo for lo, hi, _ in maps), "bytes, flags", "; ".join(m[2] for m in maps),
          flush=True)
    pid = os.fork()
    if pid == 0:
        nonzero = sum(sum(1 for b in ctypes.string_at(lo, hi - lo) if b) for lo, hi, _ in maps)
        print("child: nonzero bytes", nonzero, flush=True)
        print("child: open_session", pam.pam_open_session(handle, 0), flush=True)
        pam.pam_end(handle, 0)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    print("child: status", status, flush=True)
    return 0


def main():
    service, user = sys.argv[1].encode(), sys.argv[2].encode()
    conv = PamConv(CONV_FUNC(conversation), None)
    handle = ctypes.c_void_p()
    if pam.pam_start(service, user, ctypes.byref(conv), ctypes.byref(handle)) != 0:
        print("result: start 1")
        return 1
    if "--passwd" in sys.argv:
        steps = [("chauthtok", lambda: pam.pam_chauthtok(handle, 0))]
    elif "--fork-after-auth" in sys.argv:
        steps = [("authenticate", lambda: pam.pam_authenticate(handle, 0)),
                 ("fork", lambda: fork_after_auth(handle))]
    elif "--retry-as" in sys.argv:
        other = sys.argv[sys.argv.index("--retry-as") + 1].encode()
        steps = [("first authenticate", lambda: pam.pam_authenticate(handle, 0) * 0),  # its result: ignored
                 ("set user", lambda: pam.pam_set_item(handle, PAM_USER_ITEM, ctypes.c_char_p(other))),
                 ("authenticate", lambda: pam.pam_authenticate(handle, 0)),
                 ("acct_mgmt", lambda: pam.pam_acct_mgmt(handle, 0)),
                 ("open_session", lambda: pam.pam_open_session(handle, 0))]
    else:
        steps = [("authenticate", lambda: pam.pam_authenticate(handle, 0)),
                 ("acct_mgmt", lambda: pam.pam_acct_mgmt(handle, 0)),
                 ("open_session", lambda: pam.pam_open_session(handle, 0))]
    code, step = 0, "done"
    for step, call in steps:
        code = call()
        if step == "acct_mgmt" and code == PAM_NEW_AUTHTOK_REQD:
            print("new authtok required", flush=True)
            step, code = "chauthtok", pam.pam_chauthtok(handle, PAM_CHANGE_EXPIRED_AUTHTOK)
        if code != 0:
            break
    pam.pam_end(handle, code)
    print(f"result: {step} {code}", flush=True)
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
