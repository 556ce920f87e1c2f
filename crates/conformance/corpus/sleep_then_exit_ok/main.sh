# Sanity: a well-behaved program sleeps briefly, prints and exits 0 well
# within every limit.
# Expect: status ok, exit code 0, its output, and a plausible wall time.
sleep 0.3
echo "slept and exiting normally"
exit 0
