/* test_qsgd_file.c — atomic file writing (qsgd_file.h): a complete write replaces the target
 * and leaves nothing beside it; a failed write (a temporary that is a symlink to /dev/full,
 * the file size limit with SIGXFSZ ignored) leaves the target untouched and no temporary, or
 * the temporary kept with QSGD_FILE_KEEP; a failed rename; unique temporaries; mkdir -p. */
#define _GNU_SOURCE
#include <CUnit/Basic.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qsgd_file.h"

static char dir[256];

/* A fresh empty directory for one test. */
static void fresh(const char *name, char *path, size_t len) {
    snprintf(path, len, "%s/%s", dir, name);
    CU_ASSERT_EQUAL_FATAL(qsgd_mkdir_p(path), 0);
}

static int count_entries(const char *d) {
    DIR *h = opendir(d);
    if (!h)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(h)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(h);
    return n;
}

static void put(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
}

/* The content of path ("" if it cannot be read) in buf. */
static const char *slurp(const char *path, char *buf, size_t len) {
    buf[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return buf;
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_complete(void) {
    char d[300], path[400], tmp[500], err[600], buf[64];
    fresh("complete", d, sizeof d);
    snprintf(path, sizeof path, "%s/out.tsv", d);
    put(path, "old\n");
    FILE *f = qsgd_file_open(path, NULL, tmp, sizeof tmp, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char want[450];
    snprintf(want, sizeof want, "%s.partial.%ld.0", path, (long)getpid());
    CU_ASSERT_STRING_EQUAL(tmp, want);
    /* a second writer of the same target gets another temporary */
    char tmp2[500];
    FILE *g = qsgd_file_open(path, NULL, tmp2, sizeof tmp2, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    CU_ASSERT_STRING_NOT_EQUAL(tmp, tmp2);
    qsgd_file_abandon(g, tmp2, 0);
    CU_ASSERT_EQUAL(access(tmp2, F_OK), -1);

    int errnum = 0;
    CU_ASSERT_EQUAL(qsgd_file_check(fprintf(f, "a\tb\n1\t2\n"), &errnum), 0);
    CU_ASSERT_STRING_EQUAL(slurp(path, buf, sizeof buf), "old\n"); /* not yet replaced */
    CU_ASSERT_EQUAL(qsgd_file_commit(f, &errnum, tmp, path, QSGD_FILE_SYNC, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(slurp(path, buf, sizeof buf), "a\tb\n1\t2\n");
    CU_ASSERT_EQUAL(count_entries(d), 1);

    /* a fixed suffix (the trainer's PATH.partial) and the whole-file helper */
    f = qsgd_file_open(path, ".partial", tmp, sizeof tmp, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    snprintf(want, sizeof want, "%s.partial", path);
    CU_ASSERT_STRING_EQUAL(tmp, want);
    CU_ASSERT_EQUAL(qsgd_file_commit(f, &errnum, tmp, path, 0, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(slurp(path, buf, sizeof buf), "");
    CU_ASSERT_EQUAL(qsgd_file_write(path, "xyz", 3, err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL(slurp(path, buf, sizeof buf), "xyz");
    CU_ASSERT_EQUAL(count_entries(d), 1);
    /* too long a name is refused before anything is created */
    char small[8];
    errno = 0;
    CU_ASSERT_PTR_NULL(qsgd_file_open(path, NULL, small, sizeof small, err, sizeof err));
    CU_ASSERT_EQUAL(errno, ENAMETOOLONG);
    CU_ASSERT_EQUAL(count_entries(d), 1);
}

/* The temporary is a symlink to /dev/full: every flush fails with ENOSPC. */
static void test_full_disk(void) {
    if (access("/dev/full", W_OK) != 0) {
        fprintf(stderr, "(no /dev/full: skipped) ");
        return;
    }
    char d[300], path[400], tmp[500], link[500], err[600], buf[64];
    fresh("full", d, sizeof d);
    snprintf(path, sizeof path, "%s/status", d);
    snprintf(link, sizeof link, "%s.partial", path);
    put(path, "complete\n");
    CU_ASSERT_EQUAL_FATAL(symlink("/dev/full", link), 0);
    FILE *f = qsgd_file_open(path, ".partial", tmp, sizeof tmp, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    int errnum = 0;
    qsgd_file_check(fprintf(f, "failed (io): x\n"), &errnum);
    CU_ASSERT_EQUAL(qsgd_file_flush(f, &errnum), -1);
    CU_ASSERT_EQUAL(errnum, ENOSPC);
    CU_ASSERT_EQUAL(qsgd_file_commit(f, &errnum, tmp, path, 0, err, sizeof err), -1);
    char want[700];
    snprintf(want, sizeof want, "cannot write %s: %s", link, strerror(ENOSPC));
    CU_ASSERT_STRING_EQUAL(err, want);
    CU_ASSERT_STRING_EQUAL(slurp(path, buf, sizeof buf), "complete\n"); /* untouched */
    CU_ASSERT_EQUAL(access(link, F_OK), -1);                            /* removed */
    CU_ASSERT_EQUAL(count_entries(d), 1);

    /* kept on request (a result table kept as .partial), never renamed */
    CU_ASSERT_EQUAL_FATAL(symlink("/dev/full", link), 0);
    f = qsgd_file_open(path, ".partial", tmp, sizeof tmp, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    errnum = 0;
    qsgd_file_check(fprintf(f, "x\n"), &errnum);
    CU_ASSERT_EQUAL(qsgd_file_commit(f, &errnum, tmp, path, QSGD_FILE_KEEP, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, want);
    CU_ASSERT_STRING_EQUAL(slurp(path, buf, sizeof buf), "complete\n");
    struct stat st;
    CU_ASSERT_EQUAL(lstat(link, &st), 0);
    CU_ASSERT_EQUAL(count_entries(d), 2);
}

/* In a child: the file size limit at 100 bytes, SIGXFSZ ignored, so writes past it fail with
 * EFBIG; exit 0 if the target kept its old content and nothing else is left. */
static void test_size_limit(void) {
    char d[300], path[400];
    fresh("fsize", d, sizeof d);
    snprintf(path, sizeof path, "%s/big.tsv", d);
    put(path, "old\n");
    fflush(NULL);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {100, 100};
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            _exit(10);
        char tmp[500], err[600], buf[64], want[700];
        FILE *f = qsgd_file_open(path, NULL, tmp, sizeof tmp, err, sizeof err);
        if (!f)
            _exit(11);
        int errnum = 0;
        for (int i = 0; i < 100; i++)
            qsgd_file_check(fprintf(f, "%d\t%d\n", i, i * i), &errnum);
        if (qsgd_file_commit(f, &errnum, tmp, path, 0, err, sizeof err) != -1)
            _exit(12);
        snprintf(want, sizeof want, "cannot write %s: %s", tmp, strerror(EFBIG));
        if (strcmp(err, want) != 0) {
            fprintf(stderr, "got '%s', want '%s'\n", err, want);
            _exit(13);
        }
        if (strcmp(slurp(path, buf, sizeof buf), "old\n") != 0)
            _exit(14);
        if (access(tmp, F_OK) == 0 || count_entries(d) != 1)
            _exit(15);
        /* the whole-file helper alike */
        char big[400];
        memset(big, 'x', sizeof big);
        if (qsgd_file_write(path, big, sizeof big, err, sizeof err) != -1 ||
            strstr(err, "cannot write ") != err)
            _exit(16);
        if (strcmp(slurp(path, buf, sizeof buf), "old\n") != 0 || count_entries(d) != 1)
            _exit(17);
        _exit(0);
    }
    int st;
    CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
    CU_ASSERT(WIFEXITED(st));
    CU_ASSERT_EQUAL(WEXITSTATUS(st), 0);
}

/* A rename onto a directory fails: the message names both, the temporary goes (or stays). */
static void test_rename_fails(void) {
    char d[300], path[400], tmp[500], err[600], want[1200];
    fresh("rename", d, sizeof d);
    snprintf(path, sizeof path, "%s/sub", d);
    fresh("rename/sub/inner", tmp, sizeof tmp); /* path is a non-empty directory */
    FILE *f = qsgd_file_open(path, ".partial", tmp, sizeof tmp, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    int errnum = 0;
    qsgd_file_check(fputs("x\n", f), &errnum);
    CU_ASSERT_EQUAL(qsgd_file_commit(f, &errnum, tmp, path, QSGD_FILE_KEEP, err, sizeof err), -1);
    CU_ASSERT_EQUAL(strncmp(err, "cannot rename ", 14), 0);
    snprintf(want, sizeof want, "cannot rename %s to %s: ", tmp, path);
    CU_ASSERT_EQUAL(strncmp(err, want, strlen(want)), 0);
    CU_ASSERT_EQUAL(access(tmp, F_OK), 0); /* kept */
    CU_ASSERT_EQUAL(qsgd_file_rename(tmp, path, 0, err, sizeof err), -1);
    CU_ASSERT_EQUAL(access(tmp, F_OK), -1); /* removed */
    CU_ASSERT_EQUAL(count_entries(d), 1);
    /* a temporary that cannot be created: the message names it */
    char nodir[400];
    snprintf(nodir, sizeof nodir, "%s/missing/x", d);
    CU_ASSERT_PTR_NULL(qsgd_file_open(nodir, NULL, tmp, sizeof tmp, err, sizeof err));
    snprintf(want, sizeof want, "cannot write %s.partial.%ld.0: %s", nodir, (long)getpid(),
             strerror(ENOENT));
    CU_ASSERT_STRING_EQUAL(err, want);
}

static void test_mkdir_p(void) {
    char p[400], f[450];
    snprintf(p, sizeof p, "%s/a/b//c/", dir);
    CU_ASSERT_EQUAL(qsgd_mkdir_p(p), 0);
    CU_ASSERT_EQUAL(qsgd_mkdir_p(p), 0); /* existing: fine */
    struct stat st;
    snprintf(p, sizeof p, "%s/a/b/c", dir);
    CU_ASSERT(stat(p, &st) == 0 && S_ISDIR(st.st_mode));
    snprintf(f, sizeof f, "%s/file", p);
    put(f, "x");
    errno = 0;
    CU_ASSERT_EQUAL(qsgd_mkdir_p(f), -1);
    CU_ASSERT_EQUAL(errno, ENOTDIR);
    snprintf(f, sizeof f, "%s/file/below", p);
    CU_ASSERT_EQUAL(qsgd_mkdir_p(f), -1);
    CU_ASSERT_EQUAL(errno, ENOTDIR);
    CU_ASSERT_EQUAL(qsgd_mkdir_p(""), -1);
}

int main(void) {
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/test_qsgd_file.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    if (CU_initialize_registry() != CUE_SUCCESS)
        return CU_get_error();
    CU_pSuite s = CU_add_suite("qsgd_file", NULL, NULL);
    CU_add_test(s, "complete write, unique temporaries, fixed suffix", test_complete);
    CU_add_test(s, "full disk: target untouched, temporary removed or kept", test_full_disk);
    CU_add_test(s, "file size limit: target untouched, no temporary", test_size_limit);
    CU_add_test(s, "failed rename and create", test_rename_fails);
    CU_add_test(s, "mkdir -p", test_mkdir_p);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures();
    CU_cleanup_registry();
    if (!failed) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "warning: could not remove %s\n", dir);
    }
    return failed ? 1 : 0;
}
