/* Fault-injection shim for the storage tests (LD_PRELOAD; tests/storage/test_sqlite_faults.py).
 * OAUTHKIT_FAULT="<call>:<errno>" with <call> one of write (write/pwrite), fsync
 * (fsync/fdatasync) or open (opening for writing), and OAUTHKIT_FAULT_DIR=<absolute dir>:
 * that call fails with <errno> for files under <dir> only. Both are read on every call,
 * so a running process arms or disarms the fault by setting the variable. With
 * OAUTHKIT_FAULT_ARM_FILE=<path> set, the fault is armed only while <path> exists (to arm
 * it from outside, e.g. in a server); with OAUTHKIT_FAULT_ONCE=1 as well, the first
 * failure removes that file (one fault across all the processes of a server). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static int armed(const char *call) {
    const char *spec = getenv("OAUTHKIT_FAULT");
    const char *arm = getenv("OAUTHKIT_FAULT_ARM_FILE");
    size_t n = strlen(call);
    if (arm != NULL && access(arm, F_OK) != 0) return 0;
    if (spec == NULL || strncmp(spec, call, n) != 0 || spec[n] != ':') return 0;
    return atoi(spec + n + 1);
}

static int under_dir(const char *path) {
    const char *dir = getenv("OAUTHKIT_FAULT_DIR");
    size_t n;
    if (dir == NULL || path == NULL) return 0;
    n = strlen(dir);
    return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static int fd_under_dir(int fd) {
    char link[64], target[4096];
    ssize_t len;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    len = readlink(link, target, sizeof target - 1);
    if (len < 0) return 0;
    target[len] = '\0';
    return under_dir(target);
}

static int fire(int code) {
    const char *arm = getenv("OAUTHKIT_FAULT_ARM_FILE");
    const char *once = getenv("OAUTHKIT_FAULT_ONCE");
    if (arm != NULL && once != NULL && strcmp(once, "1") == 0 && unlink(arm) != 0)
        return 0; /* another process fired it first */
    errno = code;
    return 1;
}

static int fail_fd(const char *call, int fd) {
    int code = armed(call);
    return code && fd_under_dir(fd) && fire(code);
}

static int fail_open(const char *path, int flags) {
    int code = armed("open");
    return code && (flags & (O_WRONLY | O_RDWR | O_CREAT)) && under_dir(path) && fire(code);
}

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

ssize_t write(int fd, const void *buf, size_t count) {
    if (fail_fd("write", fd)) return -1;
    return REAL(write)(fd, buf, count);
}
ssize_t pwrite(int fd, const void *buf, size_t count, off_t off) {
    if (fail_fd("write", fd)) return -1;
    return REAL(pwrite)(fd, buf, count, off);
}
ssize_t pwrite64(int fd, const void *buf, size_t count, off64_t off) {
    if (fail_fd("write", fd)) return -1;
    return REAL(pwrite64)(fd, buf, count, off);
}
int fsync(int fd) {
    if (fail_fd("fsync", fd)) return -1;
    return REAL(fsync)(fd);
}
int fdatasync(int fd) {
    if (fail_fd("fsync", fd)) return -1;
    return REAL(fdatasync)(fd);
}

#define OPEN_BODY(call, ...)                                   \
    mode_t mode = 0;                                           \
    if (flags & (O_CREAT | O_TMPFILE)) {                       \
        va_list ap;                                            \
        va_start(ap, flags);                                   \
        mode = (mode_t)va_arg(ap, int);                        \
        va_end(ap);                                            \
    }                                                          \
    if (fail_open(path, flags)) return -1;                     \
    return REAL(call)(__VA_ARGS__, flags, mode);

int open(const char *path, int flags, ...) { OPEN_BODY(open, path) }
int open64(const char *path, int flags, ...) { OPEN_BODY(open64, path) }
int openat(int dirfd, const char *path, int flags, ...) { OPEN_BODY(openat, dirfd, path) }
int openat64(int dirfd, const char *path, int flags, ...) { OPEN_BODY(openat64, dirfd, path) }
