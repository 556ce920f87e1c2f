# Attack: the kernel keyring is not namespaced: keys could be shared with
# (or leaked from) other tenants, and keyctl has a history of kernel bugs.
# Expect: keyctl, add_key and request_key all fail with EPERM.
# The shared probe.py prints one 'label: ERRNO' line per call.

from probe import SyscallProbe

# Syscall numbers: x86_64 and the generic table (aarch64).
probe = SyscallProbe({
    "x86_64": {"keyctl": 250, "add_key": 248, "request_key": 249},
    "aarch64": {"keyctl": 219, "add_key": 217, "request_key": 218},
})

KEYCTL_GET_KEYRING_ID, KEYCTL_JOIN_SESSION_KEYRING = 0, 1
KEY_SPEC_SESSION_KEYRING, KEY_SPEC_PROCESS_KEYRING = -3, -2
probe.expect("keyctl(GET_KEYRING_ID, session)", "keyctl", KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0)
probe.expect("keyctl(JOIN_SESSION_KEYRING)", "keyctl", KEYCTL_JOIN_SESSION_KEYRING, None)
probe.expect("add_key(user)", "add_key", b"user", b"conformance", b"x", 1, KEY_SPEC_PROCESS_KEYRING)
probe.expect("request_key(user)", "request_key", b"user", b"conformance-missing", None, 0)
probe.finish("keyring")
