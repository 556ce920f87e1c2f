/* Attack: spread the CPU burn over four child processes so that no single
 * process uses much CPU time (a per-process RLIMIT_CPU would never fire).
 * Expect: the CPU-time limit counts the whole tree: status cpu_limit
 * (1.5 s of CPU in all) long before the 20 s wall limit. */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    for (int i = 0; i < 4; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            volatile unsigned long counter = 0;
            for (;;) counter++;
        }
        if (pid < 0) {
            perror("fork");
            return 2;
        }
    }
    printf("started 4 burners\n");
    fflush(stdout);
    while (wait(NULL) > 0) {
    }
    printf("VIOLATION: all burners ended on their own\n");
    return 0;
}
