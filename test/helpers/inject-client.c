/*
 * A small application with the bug `close-stress inject` is for: it retries
 * close() when close() fails. A server thread on loopback resets each
 * connection (SO_LINGER {1,0}); the client then closes its socket.
 *
 *   inject-client handled   close() once, ignore its result (correct on FreeBSD)
 *   inject-client retry     close() again when it failed (EBADF on FreeBSD: the number is free)
 *   inject-client reuse     as retry, but another thread opens a file between the two
 *                           closes and takes the number: the retry closes that file
 *   inject-client use       write() to the socket after its close() failed
 *   inject-client race      the peer's RST is sent while the client is closing (for --race)
 * Optional second argument: connections to make (default 1).
 * Prints what happened to stdout, one line per connection; exits 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *mode;

static void die(const char *what) { perror(what); exit(3); }

static void reset(int c) {
    struct linger lg = { 1, 0 };
    setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(c);
}

/* race: the peer resets only once the client has said it is about to close. */
static void *resetter(void *arg) {
    int c = (int)(long)arg;
    char b;
    if (read(c, &b, 1) != 1) die("server read");
    /* Long after the client's close() began, however slow the machine: the reset lands in its window. */
    usleep(100 * 1000);
    reset(c);
    return NULL;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int want_open, opened_fd = -1;

/* Another part of the program opening a file at the wrong moment. */
static void *other_thread(void *arg) {
    (void)arg;
    pthread_mutex_lock(&lock);
    while (!want_open) pthread_cond_wait(&cond, &lock);
    if (want_open > 0) opened_fd = open("/dev/null", O_WRONLY);
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    return NULL;
}

static void wait_for_reset(int fd) {
    for (int i = 0; i < 10000; i++) {
        struct tcp_info ti;
        socklen_t len = sizeof ti;
        if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 && ti.tcpi_state == TCP_CLOSE) return;
        usleep(1000);
    }
    fprintf(stderr, "no reset arrived\n");
    exit(3);
}

__attribute__((noinline)) static int close_with_retry(int fd) {
    if (close(fd) == 0) return 0;
    int first = errno;
    if (strcmp(mode, "reuse") == 0) {
        pthread_mutex_lock(&lock);
        want_open = 1;
        pthread_cond_broadcast(&cond);
        while (opened_fd < 0) pthread_cond_wait(&cond, &lock);
        pthread_mutex_unlock(&lock);
    }
    printf("close: %s; retrying\n", strerror(first));
    return close(fd);
}

__attribute__((noinline)) static void close_once(int fd) {
    if (close(fd) != 0) printf("close: %s; ignored\n", strerror(errno));
}

__attribute__((noinline)) static void write_after_failed_close(int fd) {
    if (close(fd) == 0) return;
    printf("close: %s; writing anyway\n", strerror(errno));
    if (write(fd, "x", 1) < 0) printf("write: %s\n", strerror(errno));
}

int main(int argc, char **argv) {
    mode = argc > 1 ? argv[1] : "retry";
    int rounds = argc > 2 ? atoi(argv[2]) : 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof sa;
    if (bind(listener, (struct sockaddr *)&sa, sizeof sa) || listen(listener, 16) ||
        getsockname(listener, (struct sockaddr *)&sa, &len)) die("listen");
    pthread_t other;
    if (strcmp(mode, "reuse") == 0) pthread_create(&other, NULL, other_thread, NULL);
    for (int i = 0; i < rounds; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(fd, (struct sockaddr *)&sa, sizeof sa)) die("connect");
        int peer = accept(listener, NULL, NULL);
        if (peer < 0) die("accept");
        if (strcmp(mode, "race") == 0) {
            pthread_t t;
            pthread_create(&t, NULL, resetter, (void *)(long)peer);
            if (write(fd, "x", 1) != 1) die("write");
            close_with_retry(fd);
            pthread_join(t, NULL);
            continue;
        }
        reset(peer);
        wait_for_reset(fd);
        if (strcmp(mode, "handled") == 0) close_once(fd);
        else if (strcmp(mode, "use") == 0) write_after_failed_close(fd);
        else if (close_with_retry(fd) != 0) printf("retry: %s\n", strerror(errno));
        else printf("retry: succeeded\n");
    }
    if (strcmp(mode, "reuse") == 0) {
        pthread_mutex_lock(&lock);
        if (!want_open) want_open = -1; /* no close failed: nothing to open */
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&lock);
        pthread_join(other, NULL);
        /* Had the retry not closed it, this write to /dev/null would succeed. */
        if (opened_fd < 0) printf("other thread opened nothing\n");
        else if (write(opened_fd, "x", 1) < 0) printf("other thread's file: %s (closed by the retry)\n", strerror(errno));
        else printf("other thread's file: still open\n");
    }
    return 0;
}
