/* Attack: ptrace, the way to read and rewrite another process: attach to
 * the box's init (pid 1), ask to be traced by the parent (PTRACE_TRACEME),
 * and attach to our own child (which the kernel alone would allow).
 * Expect: all three fail with EPERM (seccomp denies ptrace). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

static int report(const char *what, long rc) {
    if (rc == -1) {
        printf("%s: %s\n", what, errno == EPERM ? "EPERM" : strerror(errno));
        return errno == EPERM ? 0 : 1;
    }
    printf("VIOLATION: %s succeeded\n", what);
    return 1;
}

int main(void) {
    int bad = 0;
    errno = 0;
    bad |= report("PTRACE_ATTACH 1", ptrace(PTRACE_ATTACH, 1, NULL, NULL));

    pid_t child = fork();
    if (child == 0) {
        pause();
        _exit(0);
    }
    errno = 0;
    bad |= report("PTRACE_ATTACH child", ptrace(PTRACE_ATTACH, child, NULL, NULL));
    errno = 0;
    bad |= report("PTRACE_SEIZE child", ptrace(PTRACE_SEIZE, child, NULL, NULL));
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);

    errno = 0;
    bad |= report("PTRACE_TRACEME", ptrace(PTRACE_TRACEME, 0, NULL, NULL));
    printf(bad ? "ptrace NOT fully denied\n" : "ptrace denied\n");
    return bad;
}
