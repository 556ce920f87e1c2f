/* Attack: create namespaces with clone() itself rather than unshare(),
 * and use clone3, whose flags live in memory where a seccomp filter cannot
 * inspect them.
 * Expect: clone with any CLONE_NEW* flag fails with EPERM; clone3 fails
 * with ENOSYS (so libc falls back to clone); plain fork still works. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_clone3
#define SYS_clone3 435
#endif

static const char *errname(int e) {
    switch (e) {
    case EPERM: return "EPERM";
    case ENOSYS: return "ENOSYS";
    case EINVAL: return "EINVAL";
    default: return strerror(e);
    }
}

/* Raw clone with a namespace flag; a child that does get created exits at once. */
static int try_clone(const char *label, unsigned long flags) {
    errno = 0;
    long rc = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
    if (rc == 0) _exit(0);
    if (rc > 0) {
        waitpid((pid_t)rc, NULL, 0);
        printf("VIOLATION: clone(%s) created a process\n", label);
        return 1;
    }
    printf("clone(%s): %s\n", label, errname(errno));
    return errno != EPERM;
}

int main(void) {
    int bad = 0;
    bad |= try_clone("CLONE_NEWUSER", CLONE_NEWUSER);
    bad |= try_clone("CLONE_NEWNS", CLONE_NEWNS);
    bad |= try_clone("CLONE_NEWPID", CLONE_NEWPID);
    bad |= try_clone("CLONE_NEWNET", CLONE_NEWNET);
    bad |= try_clone("CLONE_NEWUSER|CLONE_NEWNET", CLONE_NEWUSER | CLONE_NEWNET);

    struct clone_args args;
    memset(&args, 0, sizeof args);
    args.flags = CLONE_NEWUSER;
    args.exit_signal = SIGCHLD;
    errno = 0;
    long rc = syscall(SYS_clone3, &args, sizeof args);
    if (rc == 0) _exit(0);
    if (rc > 0) {
        waitpid((pid_t)rc, NULL, 0);
        printf("VIOLATION: clone3(CLONE_NEWUSER) created a process\n");
        bad = 1;
    } else {
        printf("clone3(CLONE_NEWUSER): %s\n", errname(errno));
        bad |= errno != ENOSYS;
    }
    memset(&args, 0, sizeof args);
    args.exit_signal = SIGCHLD;
    errno = 0;
    rc = syscall(SYS_clone3, &args, sizeof args);
    if (rc == 0) _exit(0);
    if (rc > 0) {
        waitpid((pid_t)rc, NULL, 0);
        printf("VIOLATION: plain clone3 created a process\n");
        bad = 1;
    } else {
        printf("clone3(plain): %s\n", errname(errno));
        bad |= errno != ENOSYS;
    }

    pid_t child = fork();
    if (child == 0) _exit(7);
    int status = 0;
    if (child > 0 && waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 7) {
        printf("plain fork works\n");
    } else {
        printf("plain fork FAILED\n");
        bad = 1;
    }
    return bad;
}
