# Attack: close stdout and stderr early, then keep running. A backend that
# takes EOF on the output pipes for the end of the run would report too
# early or lose the exit status.
# Expect: status ok, exit code 0, the lines written before closing are
# delivered, and the work done afterwards (late.txt) happened before the
# run was reported finished.
echo "before closing stdout"
echo "before closing stderr" >&2
exec 1>&- 2>&-
sleep 1
echo finished > late.txt
exit 0
