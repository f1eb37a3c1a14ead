/* A small multi-threaded program for the recorder's v2 test (tests/recorder/test-record-threads.sh): three
   threads each write their own 8-page buffer and one page each of a shared 3-page array; thread 2 forks a
   child that writes the shared array and exits, and waits for it; the main thread joins them all.
   With the argument "server": a thread loops read() on a pipe, computes a little per message and writes a reply to
   another pipe (a tiny request server), while the main thread sends 20 requests and reads the replies.
   With "spawn": posix_spawn of /bin/true, then vfork + exec of /bin/true, waiting for each. */
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096
#define NTHREADS 3

static char* shared_array;

static void* worker(void* arg)
{
    long k = (long)arg;
    char* buf = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buf == MAP_FAILED)
        return (void*)1;
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 8; i++)
            buf[i * PAGE + round] = (char)(k + i);
    shared_array[k * PAGE] = (char)k;
    if (k == 2) {
        pid_t c = fork();
        if (c < 0)
            return (void*)1;
        if (c == 0) {
            for (int i = 0; i < NTHREADS; i++)
                shared_array[i * PAGE + 1] = 'c';
            _exit(0);
        }
        int st = 0;
        if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            return (void*)1;
    }
    munmap(buf, 8 * PAGE);
    return NULL;
}

static int req_fd[2], rep_fd[2];

static void* server(void* arg)
{
    (void)arg;
    char msg[64];
    volatile unsigned long x = 0;
    for (;;) {
        ssize_t n = read(req_fd[0], msg, sizeof msg);
        if (n <= 0)
            break;
        for (int i = 0; i < 20000; i++) /* "handle" the request: about 100k instructions */
            x += (unsigned long)i * (unsigned long)msg[0];
        if (write(rep_fd[1], "ok", 2) != 2)
            break;
    }
    return NULL;
}

static int run_server(void)
{
    pthread_t t;
    char r[2];
    if (pipe(req_fd) || pipe(rep_fd) || pthread_create(&t, NULL, server, NULL))
        return 1;
    for (int i = 0; i < 20; i++) {
        if (write(req_fd[1], "req", 3) != 3 || read(rep_fd[0], r, 2) != 2)
            return 1;
    }
    close(req_fd[1]);
    pthread_join(t, NULL);
    printf("served 20\n");
    return 0;
}

extern char** environ;

static int run_spawn(void)
{
    char* argv[] = {"/bin/true", NULL};
    pid_t p, v;
    int st = 1;
    if (posix_spawn(&p, "/bin/true", NULL, NULL, argv, environ) || waitpid(p, &st, 0) != p || st != 0)
        return 1;
    v = vfork();
    if (v == 0) {
        execv("/bin/true", argv);
        _exit(1);
    }
    if (v < 0 || waitpid(v, &st, 0) != v || st != 0)
        return 1;
    return 0;
}

int main(int argc, char** argv)
{
    if (argc > 1 && strcmp(argv[1], "server") == 0)
        return run_server();
    if (argc > 1 && strcmp(argv[1], "spawn") == 0)
        return run_spawn();
    pthread_t t[NTHREADS];
    shared_array = mmap(NULL, NTHREADS * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared_array == MAP_FAILED)
        return 1;
    for (long k = 0; k < NTHREADS; k++)
        if (pthread_create(&t[k], NULL, worker, (void*)k))
            return 1;
    int bad = 0;
    for (int k = 0; k < NTHREADS; k++) {
        void* r;
        pthread_join(t[k], &r);
        bad |= r != NULL;
    }
    printf("shared %p threads %d\n", (void*)shared_array, NTHREADS);
    return bad;
}
