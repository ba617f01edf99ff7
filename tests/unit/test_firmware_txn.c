#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>

#include "cluster_lock.h"
#include "firmware_txn.h"
#include "testhooks.h"

static const char *const names[] = {"bootcode.bin", "fixup.dat", "fixup_x.dat", "start.elf",
                                    "start_x.elf"};
#define NSET (sizeof(names) / sizeof(names[0]))

struct snap {
        char hex[NSET][SHA256_HEX_SIZE];
};

static void write_random(const char *dir, const char *name, size_t len)
{
        char *cmd;

        assert_true(asprintf(&cmd, "head -c %zu /dev/urandom > '%s/%s'", len, dir, name) > 0);
        assert_int_equal(system(cmd), 0);
        free(cmd);
}

static char *subdir(const char *dir, const char *name)
{
        char *p;

        assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
        mkdir(p, 0755);
        return p;
}

/* A TFTP root with the old set, and NEW: a Pi's folder with another version of every file. */
static char *make_root(char **new)
{
        char *dir = test_tmpdir();

        for (size_t i = 0; i < NSET; i++)
                write_random(dir, names[i], 1000 + 3000 * i);
        *new = subdir(dir, "511e57f7");
        for (size_t i = 0; i < NSET; i++)
                write_random(*new, names[i], 2000 + 3000 * i);
        return dir;
}

static void snapshot(const char *dir, struct snap *s)
{
        for (size_t i = 0; i < NSET; i++) {
                char *p;

                assert_true(asprintf(&p, "%s/%s", dir, names[i]) > 0);
                assert_int_equal(sha256_file(p, s->hex[i]), 0);
                free(p);
        }
}

static bool snap_eq(const struct snap *a, const struct snap *b)
{
        for (size_t i = 0; i < NSET; i++)
                if (strcmp(a->hex[i], b->hex[i]) != 0)
                        return false;
        return true;
}

/* Names in DIR that are a transaction's leftovers: staged files, the journal, its temp. */
static int leftovers(const char *dir)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        int n = 0;

        assert_non_null(d);
        while ((de = readdir(d)))
                if (strncmp(de->d_name, FIRMWARE_TXN_STAGED_PREFIX,
                            strlen(FIRMWARE_TXN_STAGED_PREFIX)) == 0 ||
                    strncmp(de->d_name, FIRMWARE_TXN_JOURNAL, strlen(FIRMWARE_TXN_JOURNAL)) == 0)
                        n++;
        closedir(d);
        return n;
}

static bool exists(const char *dir, const char *name)
{
        char *p;
        bool r;

        assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
        r = access(p, F_OK) == 0;
        free(p);
        return r;
}

static int install(const char *dir, const char *src, struct cluster_lock *lock, char *err,
                   size_t size)
{
        struct firmware_set set;

        assert_int_equal(firmware_set_scan(src, &set), 0);
        return firmware_txn_install(&(struct firmware_txn_request){.shared_dir = dir,
                                                                   .source_dir = src,
                                                                   .set = &set,
                                                                   .op = "promote",
                                                                   .serial = "before-promote",
                                                                   .lock = lock},
                                    err, size);
}

/* Runs install in a child with NETROOT_FAULT_FIRMWARE=POINT; returns its wait status. */
static int install_killed_at(const char *dir, const char *src, const char *point)
{
        pid_t pid = fork();
        int st;

        assert_true(pid >= 0);
        if (pid == 0) {
                char err[512];

                setenv("NETROOT_FAULT_FIRMWARE", point, 1);
                _exit(install(dir, src, NULL, err, sizeof(err)) < 0 ? 1 : 0);
        }
        assert_int_equal(waitpid(pid, &st, 0), pid);
        return st;
}

static void test_install(void **state)
{
        char *src, *dir = make_root(&src), err[512], undo[4096];
        struct snap old, new, now;
        struct firmware_set set, m;

        (void)state;
        snapshot(dir, &old);
        snapshot(src, &new);
        assert_int_equal(firmware_set_scan(src, &set), 0);
        assert_int_equal(
            firmware_txn_install(&(struct firmware_txn_request){.shared_dir = dir,
                                                                .source_dir = src,
                                                                .set = &set,
                                                                .op = "promote",
                                                                .serial = "before-promote",
                                                                .undo_used = undo,
                                                                .undo_used_size = sizeof(undo)},
                                 err, sizeof(err)),
            0);
        snapshot(dir, &now);
        assert_true(snap_eq(&now, &new));
        assert_int_equal(leftovers(dir), 0);
        /* the previous set was backed up first and is named */
        assert_non_null(strstr(undo, "/.netroot-backup/"));
        assert_non_null(strstr(undo, "-before-promote"));
        assert_int_equal(firmware_set_read_manifest(undo, &m, err, sizeof(err)), 0);
        assert_int_equal(m.n, NSET);
        for (size_t i = 0; i < NSET; i++)
                assert_string_equal(m.files[i].sha256, old.hex[i]);
        /* again: nothing to do */
        assert_int_equal(install(dir, src, NULL, err, sizeof(err)), 1);
        /* and back, from that backup: a backup of the live set matching it already exists? no:
         * one is made; restoring twice is idempotent */
        assert_int_equal(firmware_txn_restore(dir, undo, "rollback", NULL, err, sizeof(err)), 0);
        snapshot(dir, &now);
        assert_true(snap_eq(&now, &old));
        assert_int_equal(firmware_txn_restore(dir, undo, "rollback", NULL, err, sizeof(err)), 1);
        assert_int_equal(firmware_txn_pending(dir, NULL, err, sizeof(err)), 0);
        assert_int_equal(leftovers(dir), 0);
        free(src);
        test_rmtree(dir);
        free(dir);
}

/* Killed at every point of the switch: the state is a mix at worst, and the next run leaves one
 * whole set (old before the journal, new from the journal on), nothing else. */
static void test_kill_points(void **state)
{
        static const char *const points[] = {"staged",   "journal",  "rename-1", "rename-2",
                                             "rename-3", "rename-4", "rename-5", "switched"};
        char *src, *dir = make_root(&src), err[512];
        struct snap old, new, now;

        (void)state;
        if (!TESTHOOKS_ENABLED)
                skip();
        snapshot(dir, &old);
        snapshot(src, &new);
        for (size_t k = 0; k < sizeof(points) / sizeof(points[0]); k++) {
                struct firmware_txn_info info;
                int st = install_killed_at(dir, src, points[k]), r;
                bool decided = k > 0;

                assert_true(WIFSIGNALED(st));
                assert_int_equal(WTERMSIG(st), SIGKILL);
                snapshot(dir, &now);
                for (size_t i = 0; i < NSET; i++)
                        assert_true(strcmp(now.hex[i], old.hex[i]) == 0 ||
                                    strcmp(now.hex[i], new.hex[i]) == 0);
                assert_int_equal(firmware_txn_pending(dir, &info, err, sizeof(err)), decided);
                if (decided) {
                        assert_string_equal(info.op, "promote");
                        assert_string_equal(info.state, "switch");
                        assert_int_equal(info.files, NSET);
                        assert_string_equal(info.source, "511e57f7");
                        assert_non_null(strstr(info.undo, ".netroot-backup/"));
                }
                r = firmware_txn_recover(dir, NULL, err, sizeof(err));
                assert_int_equal(r, decided ? FIRMWARE_TXN_FINISHED : 0);
                snapshot(dir, &now);
                assert_true(snap_eq(&now, decided ? &new : &old));
                assert_int_equal(leftovers(dir), 0);
                /* back to the old set for the next point */
                if (decided) {
                        char *p;

                        for (size_t i = 0; i < NSET; i++) {
                                assert_true(asprintf(&p,
                                                     "cp '%s/.netroot-backup/'*-before-promote/%s "
                                                     "'%s/%s' && rm -rf '%s/.netroot-backup'",
                                                     dir, names[i], dir, names[i], dir) > 0);
                                if (i + 1 < NSET) /* remove the backups after the last copy */
                                        *strstr(p, " && rm") = '\0';
                                assert_int_equal(system(p), 0);
                                free(p);
                        }
                }
                snapshot(dir, &now);
                assert_true(snap_eq(&now, &old));
        }
        free(src);
        test_rmtree(dir);
        free(dir);
}

/* A staged file lost after the journal was written (a disk, a human): the switch cannot be
 * finished, so it is undone from the backup of the previous set, also when that undo is itself
 * cut short. */
static void test_undo(void **state)
{
        char *src, *dir = make_root(&src), *p, err[512];
        struct snap old, now;
        int st;

        (void)state;
        if (!TESTHOOKS_ENABLED)
                skip();
        snapshot(dir, &old);
        st = install_killed_at(dir, src, "rename-2");
        assert_true(WIFSIGNALED(st));
        /* the last file to be renamed (bootcode.bin) is still staged: damage it */
        assert_true(asprintf(&p, "%s/" FIRMWARE_TXN_STAGED_PREFIX "bootcode.bin", dir) > 0);
        assert_int_equal(truncate(p, 10), 0);
        free(p);
        /* the undo killed right after deciding it */
        {
                pid_t pid = fork();

                assert_true(pid >= 0);
                if (pid == 0) {
                        setenv("NETROOT_FAULT_FIRMWARE", "undo-journal", 1);
                        _exit(firmware_txn_recover(dir, NULL, err, sizeof(err)) < 0 ? 1 : 0);
                }
                assert_int_equal(waitpid(pid, &st, 0), pid);
                assert_true(WIFSIGNALED(st));
        }
        {
                struct firmware_txn_info info;

                assert_int_equal(firmware_txn_pending(dir, &info, err, sizeof(err)), 1);
                assert_string_equal(info.state, "undo");
        }
        assert_int_equal(firmware_txn_recover(dir, NULL, err, sizeof(err)), FIRMWARE_TXN_UNDONE);
        snapshot(dir, &now);
        assert_true(snap_eq(&now, &old));
        assert_int_equal(leftovers(dir), 0);

        /* A file the new set adds is removed by the undo. */
        write_random(src, "start4.elf", 500);
        write_random(src, "fixup4.dat", 50);
        st = install_killed_at(dir, src, "journal");
        assert_true(WIFSIGNALED(st));
        assert_true(asprintf(&p, "%s/" FIRMWARE_TXN_STAGED_PREFIX "start.elf", dir) > 0);
        assert_int_equal(unlink(p), 0);
        free(p);
        assert_int_equal(firmware_txn_recover(dir, NULL, err, sizeof(err)), FIRMWARE_TXN_UNDONE);
        snapshot(dir, &now);
        assert_true(snap_eq(&now, &old));
        assert_false(exists(dir, "start4.elf"));
        assert_false(exists(dir, "fixup4.dat"));
        assert_int_equal(leftovers(dir), 0);

        /* Neither possible: the staged file and the backup both gone. The journal stays. */
        st = install_killed_at(dir, src, "journal");
        assert_true(WIFSIGNALED(st));
        assert_true(asprintf(&p,
                             "rm '%s/" FIRMWARE_TXN_STAGED_PREFIX "start.elf' '%s/start.elf' && "
                             "rm -rf '%s/.netroot-backup'",
                             dir, dir, dir) > 0);
        assert_int_equal(system(p), 0);
        free(p);
        assert_true(firmware_txn_recover(dir, NULL, err, sizeof(err)) < 0);
        assert_non_null(strstr(err, "neither finished"));
        assert_non_null(strstr(err, "start.elf"));
        assert_int_equal(firmware_txn_pending(dir, NULL, err, sizeof(err)), 1);
        /* a backup step refuses to back up such a set */
        {
                char bdir[4096];

                assert_true(firmware_set_backup_err(dir, "511e57f7", bdir, sizeof(bdir), NULL, err,
                                                    sizeof(err)) < 0);
                assert_non_null(strstr(err, "neither finished"));
        }
        free(src);
        test_rmtree(dir);
        free(dir);
}

static void test_pairs_refused(void **state)
{
        char *src, *dir = make_root(&src), *p, err[512];
        struct snap old, now;

        (void)state;
        snapshot(dir, &old);
        /* a start*.elf without its fixup*.dat */
        assert_true(asprintf(&p, "%s/fixup_x.dat", src) > 0);
        assert_int_equal(unlink(p), 0);
        free(p);
        assert_int_equal(install(dir, src, NULL, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "start_x.elf"));
        assert_non_null(strstr(err, "fixup_x.dat"));
        /* a fixup*.dat whose start*.elf would stay the old one */
        assert_true(asprintf(&p, "%s/start_x.elf", src) > 0);
        assert_int_equal(unlink(p), 0);
        free(p);
        assert_true(asprintf(&p, "%s/start.elf", src) > 0);
        assert_int_equal(unlink(p), 0);
        free(p);
        assert_int_equal(install(dir, src, NULL, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "fixup.dat"));
        assert_non_null(strstr(err, "start.elf"));
        snapshot(dir, &now);
        assert_true(snap_eq(&now, &old));
        assert_false(exists(dir, ".netroot-backup"));
        assert_int_equal(leftovers(dir), 0);
        free(src);
        test_rmtree(dir);
        free(dir);
}

static void test_bad_journal(void **state)
{
        char *dir = test_tmpdir(), err[512];
        char *p;

        (void)state;
        p = test_write(dir, FIRMWARE_TXN_JOURNAL,
                       "version=1\nstate=switch\nundo=\nfile=start.elf\n");
        assert_int_equal(firmware_txn_recover(dir, NULL, err, sizeof(err)), -EBADMSG);
        assert_non_null(strstr(err, FIRMWARE_TXN_JOURNAL ":4:"));
        free(p);
        p = test_write(dir, FIRMWARE_TXN_JOURNAL,
                       "version=1\nstate=switch\nundo=../../etc\nfile=start.elf "
                       "0000000000000000000000000000000000000000000000000000000000000000 -\n");
        assert_int_equal(firmware_txn_recover(dir, NULL, err, sizeof(err)), -EBADMSG);
        assert_non_null(strstr(err, ":3: undo must name a folder in .netroot-backup/"));
        free(p);
        p = test_write(dir, FIRMWARE_TXN_JOURNAL,
                       "version=1\nstate=switch\nundo=\nfile=../passwd "
                       "0000000000000000000000000000000000000000000000000000000000000000 -\n");
        assert_int_equal(firmware_txn_recover(dir, NULL, err, sizeof(err)), -EBADMSG);
        assert_non_null(strstr(err, ":4:"));
        assert_int_equal(firmware_txn_pending(dir, NULL, err, sizeof(err)), -EBADMSG);
        unlink(p);
        /* a symlink at the journal's name is refused, never followed */
        assert_int_equal(symlink("/etc/hostname", p), 0);
        assert_int_equal(firmware_txn_recover(dir, NULL, err, sizeof(err)), -ELOOP);
        free(p);
        test_rmtree(dir);
        free(dir);
}

/* The lock lost between staging and the journal (a holder stopped past its TTL): nothing is
 * switched, nothing left behind. */
static void test_lock_lost(void **state)
{
        char *src, *dir = make_root(&src), err[512], undo[4096], bdir[4096];
        struct cluster_lock l = {0};
        struct snap new, live;
        struct firmware_set set;
        char *cmd;

        (void)state;
        snapshot(src, &new);
        assert_int_equal(cluster_lock_acquire(&l, dir, "511e57f7", 600, 0, NULL), 0);
        assert_int_equal(firmware_set_scan(src, &set), 0);
        assert_int_equal(
            firmware_txn_install(&(struct firmware_txn_request){.shared_dir = dir,
                                                                .source_dir = src,
                                                                .set = &set,
                                                                .op = "promote",
                                                                .serial = "before-promote",
                                                                .lock = &l,
                                                                .undo_used = undo,
                                                                .undo_used_size = sizeof(undo)},
                                 err, sizeof(err)),
            0);
        /* a backup of the new set exists: the restore below needs none and goes to the switch */
        assert_int_equal(firmware_set_backup_locked(dir, "511e57f7", &l, bdir, sizeof(bdir), NULL,
                                                    err, sizeof(err)),
                         0);
        /* another holder's file at the lock path now */
        assert_true(
            asprintf(&cmd, "cp '%s' '%s.x' && mv '%s.x' '%s'", l.path, l.path, l.path, l.path) > 0);
        assert_int_equal(system(cmd), 0);
        free(cmd);
        assert_int_equal(firmware_txn_restore(dir, undo, "rollback", &l, err, sizeof(err)),
                         -ESTALE);
        assert_non_null(strstr(err, "lost the cluster lock"));
        assert_non_null(strstr(err, "nothing was switched"));
        snapshot(dir, &live);
        assert_true(snap_eq(&live, &new));
        assert_int_equal(leftovers(dir), 0);
        /* and a backup taken without the lock is discarded */
        assert_int_equal(firmware_set_backup_locked(dir, "511e57f7", &l, bdir, sizeof(bdir), NULL,
                                                    err, sizeof(err)),
                         -ESTALE);
        assert_non_null(strstr(err, "lost the cluster lock"));
        assert_int_equal(cluster_lock_release(&l), -ESTALE);
        free(src);
        test_rmtree(dir);
        free(dir);
}

/* The next upgrade's backup step finds the journal and finishes the switch before it backs up:
 * the backup is one whole set, never the mix a half-done switch leaves. */
static void test_backup_finishes_first(void **state)
{
        char *src, *dir = make_root(&src), err[512], bdir[4096];
        struct snap new, now;
        struct firmware_set m;
        int st;

        (void)state;
        if (!TESTHOOKS_ENABLED)
                skip();
        snapshot(src, &new);
        st = install_killed_at(dir, src, "rename-2");
        assert_true(WIFSIGNALED(st));
        assert_int_equal(
            firmware_set_backup_err(dir, "511e57f7", bdir, sizeof(bdir), NULL, err, sizeof(err)),
            0);
        snapshot(dir, &now);
        assert_true(snap_eq(&now, &new));
        assert_int_equal(firmware_set_read_manifest(bdir, &m, err, sizeof(err)), 0);
        for (size_t i = 0; i < NSET; i++)
                assert_string_equal(m.files[i].sha256, new.hex[i]);
        assert_int_equal(leftovers(dir), 0);
        free(src);
        test_rmtree(dir);
        free(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_install),
            cmocka_unit_test(test_kill_points),
            cmocka_unit_test(test_undo),
            cmocka_unit_test(test_pairs_refused),
            cmocka_unit_test(test_bad_journal),
            cmocka_unit_test(test_lock_lost),
            cmocka_unit_test(test_backup_finishes_first),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
