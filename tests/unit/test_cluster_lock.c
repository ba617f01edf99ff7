#include "testutil.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "cluster_lock.h"

static double now_sec(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Writes a lock file by hand, as another Pi would have: ACQUIRED and EXPIRES by that Pi's
 * clock, MTIME what the NAS stamped on it (its last write or heartbeat, by the NAS's clock). */
static void plant_lock_at(const char *dir, const char *serial, const char *host, long pid,
                          time_t acquired, time_t expires, time_t mtime)
{
        struct timespec t[2] = {{mtime, 0}, {mtime, 0}};
        char *content, *path;

        assert_true(asprintf(&content, "serial=%s\nhost=%s\npid=%ld\nacquired=%lld\nexpires=%lld\n",
                             serial, host, pid, (long long)acquired, (long long)expires) > 0);
        path = test_write(dir, CLUSTER_LOCK_NAME, content);
        assert_int_equal(utimensat(AT_FDCWD, path, t, AT_SYMLINK_NOFOLLOW), 0);
        free(path);
        free(content);
}

/* A holder whose clock agrees with the NAS's: it wrote the file when it took the lock. */
static void plant_lock(const char *dir, const char *serial, const char *host, long pid,
                       time_t acquired, time_t expires)
{
        plant_lock_at(dir, serial, host, pid, acquired, expires, acquired);
}

static int count_entries(const char *dir)
{
        char *cmd;
        FILE *p;
        int n = -1;

        assert_true(asprintf(&cmd, "ls -A '%s' | wc -l", dir) > 0);
        p = popen(cmd, "r");
        assert_non_null(p);
        assert_int_equal(fscanf(p, "%d", &n), 1);
        pclose(p);
        free(cmd);
        return n;
}

static void test_acquire_release(void **state)
{
        char *dir = test_tmpdir(), *buf, host[64] = "";
        struct cluster_lock l = {0}, other = {0};
        struct cluster_lock_holder h;

        (void)state;
        gethostname(host, sizeof(host) - 1);
        assert_int_equal(cluster_lock_read(dir, &h), -ENOENT);
        assert_int_equal(cluster_lock_acquire(&l, dir, "511e57f7", 600, 0, NULL), 0);
        assert_true(l.held);
        assert_int_equal(cluster_lock_read(dir, &h), 0);
        assert_string_equal(h.serial, "511e57f7");
        assert_string_equal(h.host, host);
        assert_int_equal(h.pid, getpid());
        assert_int_equal(h.expires - h.acquired, 600);
        assert_true(labs((long)(h.acquired - time(NULL))) <= 2);
        /* The file is a few key=value lines. */
        assert_true(asprintf(&buf, "%s/" CLUSTER_LOCK_NAME, dir) > 0);
        assert_string_equal(buf, l.path);
        free(buf);
        {
                FILE *f = fopen(l.path, "r");
                char line[128];
                unsigned n = 0;
                assert_non_null(f);
                while (fgets(line, sizeof(line), f)) {
                        assert_non_null(strchr(line, '='));
                        n++;
                }
                fclose(f);
                assert_int_equal(n, 5);
        }
        /* Held: a second acquirer gets -EBUSY and learns who holds it, also after waiting. */
        memset(&h, 0, sizeof(h));
        assert_int_equal(cluster_lock_acquire(&other, dir, "deadbeef", 600, 0, &h), -EBUSY);
        assert_string_equal(h.serial, "511e57f7");
        assert_int_equal(h.pid, getpid());
        double t0 = now_sec();
        assert_int_equal(cluster_lock_acquire(&other, dir, "deadbeef", 600, 1, NULL), -EBUSY);
        double waited = now_sec() - t0;
        assert_true(waited >= 0.95 && waited < 1.6);
        assert_false(other.held);
        /* Taking a held lock again is a caller bug. */
        assert_int_equal(cluster_lock_acquire(&l, dir, "511e57f7", 600, 0, NULL), -EALREADY);

        assert_int_equal(cluster_lock_release(&l), 0);
        assert_false(l.held);
        assert_int_equal(cluster_lock_read(dir, &h), -ENOENT);
        assert_int_equal(cluster_lock_release(&l), -EINVAL);
        assert_int_equal(count_entries(dir), 0);
        /* Bad serials never reach the file. */
        assert_int_equal(cluster_lock_acquire(&l, dir, "", 600, 0, NULL), -EINVAL);
        assert_int_equal(cluster_lock_acquire(&l, dir, "a\nexpires=0", 600, 0, NULL), -EINVAL);
        assert_int_equal(cluster_lock_acquire(&l, dir, "511e57f7", 0, 0, NULL), -EINVAL);
        test_rmtree(dir);
        free(dir);
}

/* A waiter gets the lock within about one poll interval of its release. */
static void test_wait_for_release(void **state)
{
        char *dir = test_tmpdir();
        struct cluster_lock l = {0};
        pid_t child;
        int st;

        (void)state;
        assert_int_equal(cluster_lock_acquire(&l, dir, "aaaa0001", 600, 0, NULL), 0);
        child = fork();
        assert_true(child >= 0);
        if (child == 0) {
                struct cluster_lock c = {0};
                double t0 = now_sec();
                int r = cluster_lock_acquire(&c, dir, "aaaa0002", 600, 10, NULL);
                double t = now_sec() - t0;
                /* released after 0.5 s by the parent; polls every 0.2 s */
                _exit(r == 0 && t >= 0.45 && t < 1.0 && cluster_lock_release(&c) == 0 ? 0 : 1);
        }
        usleep(500000);
        assert_int_equal(cluster_lock_release(&l), 0);
        assert_int_equal(waitpid(child, &st, 0), child);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
        test_rmtree(dir);
        free(dir);
}

#define WORKERS 6
#define ROUNDS  4

/* Never two holders: each holder writes "enter" and "leave" around its critical section; the
 * log must alternate strictly, each leave from the same process as the enter before it. */
static void test_concurrent(void **state)
{
        char *dir = test_tmpdir(), *logpath, line[64], who[32];
        pid_t kids[WORKERS];
        int go[2];
        FILE *f;
        unsigned enters = 0, lines = 0;
        long inside = 0;

        (void)state;
        assert_true(asprintf(&logpath, "%s/log", dir) > 0);
        assert_int_equal(pipe(go), 0);
        for (int i = 0; i < WORKERS; i++) {
                kids[i] = fork();
                assert_true(kids[i] >= 0);
                if (kids[i] == 0) {
                        char serial[16], c;
                        int fd, bad = 0;

                        close(go[1]);
                        /* start together */
                        if (read(go[0], &c, 1) < 0)
                                _exit(2);
                        snprintf(serial, sizeof(serial), "cafe%04d", i);
                        for (int r = 0; r < ROUNDS; r++) {
                                struct cluster_lock l = {0};
                                char msg[64];
                                int n;

                                if (cluster_lock_acquire(&l, dir, serial, 60, 60, NULL) != 0)
                                        _exit(3);
                                fd = open(logpath, O_WRONLY | O_APPEND | O_CREAT, 0644);
                                n = snprintf(msg, sizeof(msg), "enter %d\n", (int)getpid());
                                bad |= write(fd, msg, (size_t)n) != n;
                                usleep(20000);
                                n = snprintf(msg, sizeof(msg), "leave %d\n", (int)getpid());
                                bad |= write(fd, msg, (size_t)n) != n;
                                close(fd);
                                if (cluster_lock_release(&l) != 0)
                                        _exit(4);
                        }
                        _exit(bad ? 5 : 0);
                }
        }
        close(go[0]);
        close(go[1]); /* EOF releases every worker at once */
        for (int i = 0; i < WORKERS; i++) {
                int st;
                assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
                assert_true(WIFEXITED(st));
                assert_int_equal(WEXITSTATUS(st), 0);
        }
        f = fopen(logpath, "r");
        assert_non_null(f);
        while (fgets(line, sizeof(line), f)) {
                long pid;

                assert_int_equal(sscanf(line, "%31s %ld", who, &pid), 2);
                if (lines++ % 2 == 0) {
                        assert_string_equal(who, "enter");
                        inside = pid;
                        enters++;
                } else {
                        assert_string_equal(who, "leave");
                        assert_int_equal(pid, inside);
                }
        }
        fclose(f);
        assert_int_equal(enters, WORKERS * ROUNDS);
        assert_int_equal(lines, 2 * WORKERS * ROUNDS);
        free(logpath);
        assert_int_equal(cluster_lock_read(dir, NULL), -ENOENT);
        test_rmtree(dir);
        free(dir);
}

static void test_stale_taken_over(void **state)
{
        char *dir = test_tmpdir();
        struct cluster_lock l = {0};
        struct cluster_lock_holder h;
        time_t now = time(NULL);

        (void)state;
        plant_lock(dir, "0badc0de", "pi-gone", 4242, now - 700, now - 100);
        assert_int_equal(cluster_lock_read(dir, &h), 0);
        assert_string_equal(h.host, "pi-gone");
        assert_int_equal(cluster_lock_acquire(&l, dir, "511e57f7", 600, 0, NULL), 0);
        assert_int_equal(cluster_lock_read(dir, &h), 0);
        assert_string_equal(h.serial, "511e57f7");
        /* the stale file was renamed aside and removed: only our lock is left */
        assert_int_equal(count_entries(dir), 1);
        assert_int_equal(cluster_lock_release(&l), 0);
        test_rmtree(dir);
        free(dir);
}

/* A lock whose pid is dead here is NOT taken before it expires (the pid may be another host's),
 * and is taken once it has. */
static void test_dead_pid_waits_for_expiry(void **state)
{
        char *dir = test_tmpdir();
        struct cluster_lock l = {0};
        struct cluster_lock_holder h;
        char host[64] = "";
        pid_t dead = fork();
        time_t now;

        (void)state;
        assert_true(dead >= 0);
        if (dead == 0)
                _exit(0);
        assert_int_equal(waitpid(dead, NULL, 0), dead);
        assert_int_equal(kill(dead, 0), -1);
        gethostname(host, sizeof(host) - 1);
        now = time(NULL);
        /* same host even, so a pid check would be tempting: expiry alone decides */
        plant_lock(dir, "0badc0de", host, dead, now, now + 2);
        assert_int_equal(cluster_lock_acquire(&l, dir, "511e57f7", 600, 0, &h), -EBUSY);
        assert_int_equal(h.pid, dead);
        assert_int_equal(h.expires, now + 2);
        double t0 = now_sec();
        assert_int_equal(cluster_lock_acquire(&l, dir, "511e57f7", 600, 10, &h), 0);
        double t = now_sec() - t0;
        print_message("dead-pid lock expiring in 2 s taken after %.2f s\n", t);
        /* "expires < now" holds from now+3 on (whole seconds) */
        assert_true(time(NULL) > now + 2);
        assert_true(t < 4.0);
        assert_int_equal(cluster_lock_release(&l), 0);
        test_rmtree(dir);
        free(dir);
}

static void test_symlink_refused(void **state)
{
        char *dir = test_tmpdir(), *victim, *link;
        struct cluster_lock l = {0};
        struct stat st;

        (void)state;
        victim = test_write(dir, "victim", "precious\n");
        assert_true(asprintf(&link, "%s/" CLUSTER_LOCK_NAME, dir) > 0);
        assert_int_equal(symlink(victim, link), 0);
        assert_int_equal(cluster_lock_acquire(&l, dir, "511e57f7", 600, 0, NULL), -ELOOP);
        assert_int_equal(cluster_lock_read(dir, NULL), -ELOOP);
        assert_false(l.held);
        /* dangling too */
        unlink(victim);
        assert_int_equal(cluster_lock_acquire(&l, dir, "511e57f7", 600, 0, NULL), -ELOOP);
        assert_int_equal(stat(victim, &st), -1);
        assert_int_equal(lstat(link, &st), 0);
        assert_true(S_ISLNK(st.st_mode));
        free(victim);
        free(link);
        test_rmtree(dir);
        free(dir);
}

static void test_unparsable(void **state)
{
        char *dir = test_tmpdir(), *path;
        struct cluster_lock l = {0};
        struct cluster_lock_holder h;
        struct timespec old[2];

        (void)state;
        /* torn write: a fresh unparsable file is somebody between create and write */
        path = test_write(dir, CLUSTER_LOCK_NAME, "serial=511e");
        assert_int_equal(cluster_lock_read(dir, &h), -EBADMSG);
        assert_int_equal(cluster_lock_acquire(&l, dir, "511e57f7", 60, 0, &h), -EBUSY);
        assert_string_equal(h.serial, "");
        /* older than the TTL by mtime: stale */
        clock_gettime(CLOCK_REALTIME, &old[0]);
        old[0].tv_sec -= 120;
        old[1] = old[0];
        assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
        assert_int_equal(cluster_lock_acquire(&l, dir, "511e57f7", 600, 0, NULL), -EBUSY);
        assert_int_equal(cluster_lock_acquire(&l, dir, "511e57f7", 60, 0, NULL), 0);
        assert_int_equal(cluster_lock_release(&l), 0);
        free(path);
        /* garbage, an empty file and bad numbers are unparsable alike */
        path = test_write(dir, CLUSTER_LOCK_NAME, "");
        assert_int_equal(cluster_lock_read(dir, NULL), -EBADMSG);
        free(path);
        path =
            test_write(dir, CLUSTER_LOCK_NAME, "serial=a\nhost=b\npid=x1\nacquired=1\nexpires=2\n");
        assert_int_equal(cluster_lock_read(dir, NULL), -EBADMSG);
        free(path);
        path = test_write(dir, CLUSTER_LOCK_NAME, "\x01\x02 binary junk");
        assert_int_equal(cluster_lock_read(dir, NULL), -EBADMSG);
        free(path);
        test_rmtree(dir);
        free(dir);
}

/* Release removes only a lock that still names us. */
static void test_release_foreign(void **state)
{
        char *dir = test_tmpdir();
        struct cluster_lock l = {0};
        struct cluster_lock_holder h;
        time_t now;

        (void)state;
        assert_int_equal(cluster_lock_acquire(&l, dir, "511e57f7", 600, 0, NULL), 0);
        /* someone took it over (as after our expiry) */
        now = time(NULL);
        plant_lock(dir, "0badc0de", "pi-other", 77, now, now + 600);
        assert_int_equal(cluster_lock_release(&l), -ESTALE);
        assert_false(l.held);
        assert_int_equal(cluster_lock_read(dir, &h), 0);
        assert_string_equal(h.host, "pi-other");
        /* ours expired but still there: removed */
        unlink(l.path);
        assert_int_equal(cluster_lock_acquire(&l, dir, "511e57f7", 1, 0, NULL), 0);
        sleep(2);
        assert_int_equal(cluster_lock_release(&l), 0);
        assert_int_equal(cluster_lock_read(dir, NULL), -ENOENT);
        assert_int_equal(count_entries(dir), 0);
        test_rmtree(dir);
        free(dir);
}

/* Many contenders for one stale lock at the same moment: exactly one wins, every round. */
static void test_stale_race(void **state)
{
        char *dir = test_tmpdir();

        (void)state;
        for (int round = 0; round < 10; round++) {
                pid_t kids[WORKERS];
                int go[2], done[2], wins = 0;
                time_t now = time(NULL);
                struct cluster_lock_holder h;

                plant_lock(dir, "0badc0de", "pi-gone", 4242, now - 700, now - 100);
                assert_int_equal(pipe(go), 0);
                assert_int_equal(pipe(done), 0);
                for (int i = 0; i < WORKERS; i++) {
                        kids[i] = fork();
                        assert_true(kids[i] >= 0);
                        if (kids[i] == 0) {
                                struct cluster_lock l = {0};
                                char serial[16], c;
                                int r;

                                close(go[1]);
                                close(done[1]);
                                snprintf(serial, sizeof(serial), "race%04d", i);
                                if (read(go[0], &c, 1) < 0)
                                        _exit(2);
                                r = cluster_lock_acquire(&l, dir, serial, 600, 0, NULL);
                                /* hold until everybody has tried */
                                if (read(done[0], &c, 1) < 0)
                                        _exit(2);
                                _exit(r == 0 ? 10 : r == -EBUSY ? 11 : 12);
                        }
                }
                close(go[0]);
                close(done[0]);
                close(go[1]);
                /* Wait until every worker has tried: none may still be mid-acquire when the
                 * holders exit. A winner's file exists; the others return at once. */
                usleep(200000);
                close(done[1]);
                for (int i = 0; i < WORKERS; i++) {
                        int st;
                        assert_int_equal(waitpid(kids[i], &st, 0), kids[i]);
                        assert_true(WIFEXITED(st));
                        assert_true(WEXITSTATUS(st) == 10 || WEXITSTATUS(st) == 11);
                        wins += WEXITSTATUS(st) == 10;
                }
                assert_int_equal(wins, 1);
                assert_int_equal(cluster_lock_read(dir, &h), 0);
                assert_memory_equal(h.serial, "race", 4);
                /* nothing renamed aside is left behind */
                assert_int_equal(count_entries(dir), 1);
                {
                        char *p;
                        assert_true(asprintf(&p, "%s/" CLUSTER_LOCK_NAME, dir) > 0);
                        assert_int_equal(unlink(p), 0);
                        free(p);
                }
        }
        test_rmtree(dir);
        free(dir);
}

/* A Pi without an RTC runs on fake-hwclock until NTP: its acquired=/expires= may be far off.
 * The age of a lock is the NAS's: the lock file's mtime against a file written now. */
static void test_skewed_holder_behind(void **state)
{
        char *dir = test_tmpdir();
        struct cluster_lock l = {0};
        struct cluster_lock_holder h;
        time_t now = time(NULL);

        (void)state;
        /* A holder 15 min behind took the lock just now for 600 s: by our clock its expires=
         * passed 5 min ago. It is live: the NAS stamped the file a second ago. */
        plant_lock_at(dir, "0badc0de", "pi-slow", 77, now - 900, now - 300, now - 1);
        assert_int_equal(cluster_lock_acquire(&l, dir, "511e57f7", 600, 1, &h), -EBUSY);
        assert_string_equal(h.host, "pi-slow");
        assert_int_equal(h.ttl, 600);
        /* "until" is the NAS's: last heartbeat + TTL */
        assert_int_equal(h.stale_at, now - 1 + 600);
        assert_int_equal(cluster_lock_read(dir, &h), 0);
        assert_string_equal(h.host, "pi-slow");
        /* The same holder, silent for longer than its TTL by the NAS's clock: stale. */
        plant_lock_at(dir, "0badc0de", "pi-slow", 77, now - 900, now - 300, now - 601);
        assert_int_equal(cluster_lock_acquire(&l, dir, "511e57f7", 600, 0, &h), 0);
        assert_int_equal(cluster_lock_release(&l), 0);
        assert_int_equal(count_entries(dir), 0);
        test_rmtree(dir);
        free(dir);
}

static void test_skewed_holder_ahead(void **state)
{
        char *dir = test_tmpdir();
        struct cluster_lock l = {0};
        struct cluster_lock_holder h;
        time_t now = time(NULL);

        (void)state;
        /* A holder 15 min ahead that died 11 min ago: its expires= is still 14 min away by our
         * clock, yet the NAS has not seen a heartbeat for longer than the TTL. */
        plant_lock_at(dir, "0badc0de", "pi-fast", 77, now + 900 - 660, now + 900 - 60, now - 660);
        assert_int_equal(cluster_lock_acquire(&l, dir, "511e57f7", 600, 0, &h), 0);
        assert_int_equal(cluster_lock_read(dir, &h), 0);
        assert_string_equal(h.serial, "511e57f7");
        assert_int_equal(cluster_lock_release(&l), 0);
        /* and a live one 15 min ahead is left alone */
        plant_lock_at(dir, "0badc0de", "pi-fast", 77, now + 900, now + 1500, now);
        assert_int_equal(cluster_lock_acquire(&l, dir, "511e57f7", 600, 0, &h), -EBUSY);
        assert_string_equal(h.host, "pi-fast");
        test_rmtree(dir);
        free(dir);
}

/* cluster_lock_check refreshes the lock's mtime: a holder that keeps checking keeps it past its
 * TTL; one that stops loses it one TTL after its last check. */
static void test_heartbeat(void **state)
{
        char *dir = test_tmpdir();
        struct cluster_lock l = {0};
        pid_t child;
        int st;

        (void)state;
        assert_int_equal(cluster_lock_acquire(&l, dir, "aaaa0001", 2, 0, NULL), 0);
        child = fork();
        assert_true(child >= 0);
        if (child == 0) {
                struct cluster_lock c = {0};
                double t0 = now_sec();
                int r = cluster_lock_acquire(&c, dir, "aaaa0002", 60, 15, NULL);
                double t = now_sec() - t0;
                /* the parent heartbeats for 5 s (2.5 TTLs), then stops: taken 2-4 s later */
                _exit(r == 0 && t >= 6.0 && t < 9.5 ? 0 : 1);
        }
        for (int i = 0; i < 10; i++) {
                usleep(500000);
                assert_int_equal(cluster_lock_check(&l), 0);
        }
        assert_int_equal(waitpid(child, &st, 0), child);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
        /* taken over while we were silent: every check and the release say so */
        assert_int_equal(cluster_lock_check(&l), -ESTALE);
        assert_int_equal(cluster_lock_release(&l), -ESTALE);
        assert_false(l.held);
        assert_int_equal(cluster_lock_check(&l), -EINVAL);
        test_rmtree(dir);
        free(dir);
}

/* The lock file is ours only while it is the very inode we created and names us. */
static void test_check_detects_loss(void **state)
{
        char *dir = test_tmpdir(), *cmd;
        struct cluster_lock l = {0};
        struct timespec old[2];
        time_t now = time(NULL);

        (void)state;
        assert_int_equal(cluster_lock_acquire(&l, dir, "511e57f7", 600, 0, NULL), 0);
        assert_int_equal(cluster_lock_check(&l), 0);
        /* the same bytes in another inode (a takeover that wrote our lines back): not ours */
        assert_true(
            asprintf(&cmd, "cp '%s' '%s.x' && mv '%s.x' '%s'", l.path, l.path, l.path, l.path) > 0);
        assert_int_equal(system(cmd), 0);
        free(cmd);
        assert_int_equal(cluster_lock_check(&l), -ESTALE);
        assert_int_equal(cluster_lock_release(&l), -ESTALE);
        /* the stranger's file stays */
        assert_int_equal(cluster_lock_read(dir, NULL), 0);
        assert_int_equal(unlink(l.path), 0);

        /* taken over by another holder */
        assert_int_equal(cluster_lock_acquire(&l, dir, "511e57f7", 600, 0, NULL), 0);
        plant_lock(dir, "0badc0de", "pi-other", 77, now, now + 600);
        assert_int_equal(cluster_lock_check(&l), -ESTALE);
        assert_int_equal(unlink(l.path), 0);
        l.held = false;

        /* removed */
        assert_int_equal(cluster_lock_acquire(&l, dir, "511e57f7", 600, 0, NULL), 0);
        assert_int_equal(unlink(l.path), 0);
        assert_int_equal(cluster_lock_check(&l), -ESTALE);
        assert_int_equal(cluster_lock_release(&l), -ESTALE);

        /* still ours, but silent for longer than its TTL (the holder was stopped): someone may
         * be taking it over at this moment, so the holder must not go on writing */
        assert_int_equal(cluster_lock_acquire(&l, dir, "511e57f7", 5, 0, NULL), 0);
        clock_gettime(CLOCK_REALTIME, &old[0]);
        old[0].tv_sec -= 10;
        old[1] = old[0];
        assert_int_equal(utimensat(AT_FDCWD, l.path, old, 0), 0);
        assert_int_equal(cluster_lock_check(&l), -ESTALE);
        assert_int_equal(cluster_lock_release(&l), 0); /* still our file: removed */
        assert_int_equal(count_entries(dir), 0);
        test_rmtree(dir);
        free(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_acquire_release),
            cmocka_unit_test(test_wait_for_release),
            cmocka_unit_test(test_concurrent),
            cmocka_unit_test(test_stale_taken_over),
            cmocka_unit_test(test_dead_pid_waits_for_expiry),
            cmocka_unit_test(test_symlink_refused),
            cmocka_unit_test(test_unparsable),
            cmocka_unit_test(test_release_foreign),
            cmocka_unit_test(test_stale_race),
            cmocka_unit_test(test_skewed_holder_behind),
            cmocka_unit_test(test_skewed_holder_ahead),
            cmocka_unit_test(test_heartbeat),
            cmocka_unit_test(test_check_detects_loss),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
