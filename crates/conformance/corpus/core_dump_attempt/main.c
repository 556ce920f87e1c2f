/* Attack: crash with a core dump. A core file can fill the workspace, and
 * a host-wide core_pattern pipe runs a helper on the host.
 * The program lifts RLIMIT_CORE as far as it may, marks itself dumpable and
 * writes through a NULL pointer the compiler cannot see.
 * Expect: the run ends with status signaled (SIGSEGV), and no core file
 * appears in the workspace or /tmp. */
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>

int main(void) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_CORE, &limit) == 0) {
        printf("RLIMIT_CORE soft=%lld hard=%lld\n", (long long)limit.rlim_cur, (long long)limit.rlim_max);
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_CORE, &limit);
    }
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    printf("about to crash\n");
    fflush(stdout);
    volatile int *volatile pointer = NULL;
    *pointer = 42;
    printf("VIOLATION: survived a NULL write\n");
    return 0;
}
