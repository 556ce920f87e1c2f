# Attack: `yes` floods stdout with 8 KiB writes while the cap is 16 bytes,
# so the very first chunk crosses the cap.
# Expect: status output_limit and exactly the first bytes up to the cap
# (never more than 16).
exec yes 0123456789abcdef
