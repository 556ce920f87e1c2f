/* Attack: burn CPU forever in one process.
 * Expect: the 1 s CPU-time limit (far below the 20 s wall limit) ends the
 * run with status cpu_limit, not timeout. */
#include <stdio.h>

int main(void) {
    printf("burning cpu\n");
    fflush(stdout);
    volatile unsigned long counter = 0;
    for (;;) counter++;
}
