# Attack (on the plumbing): read stdin to EOF and echo it. Multi-line text,
# tabs, an empty line, multibyte UTF-8 and no trailing newline.
# Expect: the provided stdin echoed exactly, then EOF ends the program.
exec cat
