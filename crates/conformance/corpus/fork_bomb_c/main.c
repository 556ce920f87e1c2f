/* Attack: the classic fork bomb -- every process forks forever.
 * Expect: the run's pids limit stops the growth (fork fails with EAGAIN),
 * the wall-clock timeout ends the run, the whole tree is killed and the
 * box stays usable. */
#include <stdio.h>
#include <unistd.h>

int main(void) {
    printf("fork bomb starting\n");
    fflush(stdout);
    for (;;) {
        fork(); /* failures (EAGAIN at the pids limit) are ignored on purpose */
    }
}
