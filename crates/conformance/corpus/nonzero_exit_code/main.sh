# Sanity: a failing program reports on stderr and exits 7.
# Expect: status nonzero, exit code 7 exactly, stderr delivered.
echo "about to fail" >&2
exit 7
