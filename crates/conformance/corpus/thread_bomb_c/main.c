/* Attack: create threads until the system says no. Threads count against
 * the pids limit just like processes.
 * Expect: pthread_create fails with EAGAIN before the run's pids limit (64
 * here) is passed; the program reports it and exits 0; its threads die
 * with it. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void *idle(void *arg) {
    (void)arg;
    for (;;) pause();
    return NULL;
}

int main(void) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    int created = 0, err = 0;
    for (; created < 100000; created++) {
        pthread_t thread;
        err = pthread_create(&thread, &attr, idle, NULL);
        if (err != 0) break;
    }
    printf("created %d threads, then pthread_create failed: %s\n", created,
           err == EAGAIN ? "EAGAIN" : strerror(err));
    if (err == EAGAIN && created < 64) {
        printf("thread bomb contained by the pids limit\n");
    } else {
        printf("VIOLATION: %d threads were created under a pids limit of 64\n", created);
    }
    fflush(stdout);
    return 0;
}
