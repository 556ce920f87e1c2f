# Attack: file names built to break whatever lists, archives or displays
# the workspace: newlines, CR, tabs, escape sequences, RTL override,
# leading dashes, shell metacharacters, maximal length, invalid UTF-8, and
# a directory tree deeper than the API's path limit.
# Expect: the box creates them all; get_files of the whole workspace still
# succeeds (whatever it skips) and returns the ordinary file written last.
import os

NAMES = [
    "new\nline.txt",
    "carriage\rreturn.txt",
    "tab\tname.txt",
    "escape-\x1b[31mred\x1b[0m.txt",
    "\u202eRTL-override-txt.exe",
    "emoji-🐢.txt",
    "zero\u200bwidth.txt",
    "-rf",
    "--help",
    " leading space",
    "trailing space ",
    "$(reboot).txt",
    "`id`.txt",
    "back\\slash.txt",
    "quote\"and'apostrophe.txt",
    "...",
    "a" * 255,
]
created = 0
for name in NAMES:
    with open(name, "w") as f:
        f.write(repr(name))
    created += 1
bad = b"invalid-\xff\xfe-utf8.txt"
with open(bad, "wb") as f:
    f.write(b"invalid utf-8 name")
created += 1
deep = os.path.join(*["d"] * 40)
os.makedirs(deep)
with open(os.path.join(deep, "deep.txt"), "w") as f:
    f.write("deep")
created += 1
with open("after_hostile.txt", "w") as f:
    f.write("written after the hostile names")
print(f"created {created} hostile names")
print(f"listing shows {len(os.listdir('.'))} entries")
