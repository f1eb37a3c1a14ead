/* The recorder's wait and cpu ops (tests/recorder/test-record-waitcpu.sh). Prints "cpus LO HI" (the lowest and the
   highest CPU this process may run on), then:
     1. the main thread pins itself to LO (sched_setaffinity(0, ...): "1 cpu LO");
     2. forks child A, which writes a page and exits 0; waitpid(A) ("1 wait 2" after "2 exit");
     3. forks child B, which blocks in pause(); SIGKILL, then waitid(P_PID, B) (B has no recorded exit: the merge
        writes "3 exit" at the wait);
     4. starts a thread T; the main thread pins T to HI with pthread_setaffinity_np ("1.1 cpu HI" before T's next
        op); T forks child C and reaps it with wait4 ("1.1 wait 4"); T widens its mask to LO and HI (not recorded);
     5. waitpid with WNOHANG on no child and a child stopped and continued (WUNTRACED): nothing reaped, no wait;
        then the stopped child D is killed and reaped ("1 wait 5").
   Exit status 0 when every call behaved. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096

static char* region;
static int lo = -1, hi = -1;
static pthread_barrier_t started, pinned;

static int pin(pid_t who, int cpu)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    return sched_setaffinity(who, sizeof s, &s);
}

static void* thread_main(void* arg)
{
    (void)arg;
    pthread_barrier_wait(&started);
    pthread_barrier_wait(&pinned); /* the main thread has pinned this thread to HI */
    region[2 * PAGE] = 't';
    pid_t c = fork();
    if (c < 0)
        return (void*)1;
    if (c == 0) {
        region[3 * PAGE] = 'c';
        _exit(0);
    }
    int st = 0;
    if (wait4(c, &st, 0, NULL) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return (void*)1;
    cpu_set_t all;
    CPU_ZERO(&all);
    CPU_SET(lo, &all);
    CPU_SET(hi, &all);
    if (hi > lo && sched_setaffinity(0, sizeof all, &all) != 0) /* two CPUs: not recorded */
        return (void*)1;
    region[4 * PAGE] = 't';
    return NULL;
}

int main(void)
{
    cpu_set_t s;
    if (sched_getaffinity(0, sizeof s, &s) != 0)
        return 1;
    for (int i = 0; i < CPU_SETSIZE; i++)
        if (CPU_ISSET(i, &s)) {
            if (lo < 0)
                lo = i;
            hi = i;
        }
    printf("cpus %d %d\n", lo, hi);
    fflush(stdout);
    region = mmap(NULL, 8 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED || pin(0, lo) != 0)
        return 1;
    region[0] = 'm';

    pid_t a = fork();
    if (a < 0)
        return 1;
    if (a == 0) {
        region[PAGE] = 'a';
        _exit(0);
    }
    int st = 0;
    if (waitpid(a, &st, 0) != a || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return 1;

    pid_t b = fork();
    if (b < 0)
        return 1;
    if (b == 0) {
        for (;;)
            pause();
    }
    usleep(200000);
    kill(b, SIGKILL);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    if (waitid(P_PID, (id_t)b, &si, WEXITED) != 0 || si.si_pid != b || si.si_code != CLD_KILLED)
        return 1;

    pthread_t t;
    pthread_barrier_init(&started, NULL, 2);
    pthread_barrier_init(&pinned, NULL, 2);
    if (pthread_create(&t, NULL, thread_main, NULL))
        return 1;
    pthread_barrier_wait(&started);
    CPU_ZERO(&s);
    CPU_SET(hi, &s);
    if (pthread_setaffinity_np(t, sizeof s, &s) != 0)
        return 1;
    pthread_barrier_wait(&pinned);
    void* r;
    pthread_join(t, &r);
    if (r != NULL)
        return 1;

    if (waitpid(-1, &st, WNOHANG) != -1) /* no child left: ECHILD */
        return 1;
    pid_t d = fork();
    if (d < 0)
        return 1;
    if (d == 0) {
        for (;;)
            pause();
    }
    kill(d, SIGSTOP);
    if (waitpid(d, &st, WUNTRACED) != d || !WIFSTOPPED(st)) /* stopped, not reaped: no wait op */
        return 1;
    kill(d, SIGKILL);
    if (waitpid(d, &st, 0) != d || !WIFSIGNALED(st))
        return 1;
    region[5 * PAGE] = 'm';
    return 0;
}
