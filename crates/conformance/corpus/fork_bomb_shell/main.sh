# Attack: the shell fork bomb `:(){ :|:& };:` (spelled `b`: dash does not
# accept `:` as a function name). Its "Cannot fork" errors go to /dev/null so
# the test is about processes, not output volume.
# Expect: contained by the pids limit, ended by the wall timeout, nothing
# survives, the box stays usable.
echo "shell fork bomb starting"
b() { b | b & }
b 2>/dev/null
# Keep the main process alive with builtins only (no fork needed), so the
# run ends by its wall timeout and not by the main process exiting.
while :; do :; done
