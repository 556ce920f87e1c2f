# Attack: exec children with oversized arguments and environments (a
# single 200 KiB argument, 4 MiB of arguments in all, a 200 KiB variable).
# Expect: the kernel refuses each exec with E2BIG, nothing crashes, and a
# large but legal command line (1000 arguments of 100 bytes) still works.
import errno
import os
import subprocess


def attempt(label, argv, env=None):
    try:
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
        print(f"{label}: accepted")
    except OSError as e:
        print(f"{label}: {errno.errorcode.get(e.errno, e.errno)}")
    except subprocess.CalledProcessError as e:
        print(f"{label}: child failed with {e.returncode}")


attempt("single huge argument", ["/bin/true", "x" * (200 * 1024)])
attempt("total argv too large", ["/bin/true"] + ["y" * 1000] * 4096)
attempt("huge environment variable", ["/bin/true"], env={"HUGE": "z" * (200 * 1024)})
result = subprocess.run(["/bin/echo"] + ["a" * 100] * 1000, capture_output=True, check=True)
print(f"large but legal argv ok ({len(result.stdout)} bytes echoed)")
