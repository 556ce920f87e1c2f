/* Attack: malloc and memset 1 MiB blocks forever, so every page is really
 * resident (a volatile sink keeps the compiler from dropping the writes).
 * Expect: the cgroup memory limit (64 MiB here) OOM-kills the run with
 * status memory_limit; malloc never returns NULL first (overcommit). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *volatile sink;

int main(void) {
    const size_t chunk = 1 << 20;
    for (size_t mib = 1;; mib++) {
        char *block = malloc(chunk);
        if (block == NULL) {
            printf("malloc returned NULL after %zu MiB\n", mib - 1);
            return 2;
        }
        memset(block, (int)(mib & 0x7f) | 1, chunk);
        sink = block;
        if (mib % 16 == 0) {
            printf("allocated %zu MiB\n", mib);
            fflush(stdout);
        }
    }
}
