/* polyrun: implementations behind polyrun_compat.h. Everything that WASI cannot do fails the way
 * POSIX says it may (ENOSYS, "not found"), so PHP reports an ordinary warning or error. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <netdb.h>
#include "polyrun_compat.h"

#define FAIL(ret)       \
    do {                \
        errno = ENOSYS; \
        return ret;     \
    } while (0)

int h_errno;

int socket(int d, int t, int p) { FAIL(-1); }
int socketpair(int d, int t, int p, int sv[2]) { FAIL(-1); }
int bind(int fd, const struct sockaddr *a, socklen_t l) { FAIL(-1); }
int connect(int fd, const struct sockaddr *a, socklen_t l) { FAIL(-1); }
int listen(int fd, int b) { FAIL(-1); }
int setsockopt(int fd, int lv, int n, const void *v, socklen_t l) { FAIL(-1); }
int getsockname(int fd, struct sockaddr *a, socklen_t *l) { FAIL(-1); }
int getpeername(int fd, struct sockaddr *a, socklen_t *l) { FAIL(-1); }
ssize_t sendto(int fd, const void *b, size_t n, int f, const struct sockaddr *a, socklen_t l) {
    FAIL(-1);
}
ssize_t recvfrom(int fd, void *b, size_t n, int f, struct sockaddr *a, socklen_t *l) { FAIL(-1); }

struct hostent *gethostbyname(const char *n) { h_errno = HOST_NOT_FOUND; return NULL; }
struct hostent *gethostbyaddr(const void *a, socklen_t l, int t) {
    h_errno = HOST_NOT_FOUND;
    return NULL;
}
struct servent *getservbyname(const char *n, const char *p) { return NULL; }
struct servent *getservbyport(int port, const char *p) { return NULL; }
struct protoent *getprotobyname(const char *n) { return NULL; }
struct protoent *getprotobynumber(int p) { return NULL; }
int getaddrinfo(const char *n, const char *s, const struct addrinfo *h, struct addrinfo **r) {
    return EAI_FAIL;
}
void freeaddrinfo(struct addrinfo *r) {}
const char *gai_strerror(int e) { return "name resolution is not available in the sandbox"; }
int getnameinfo(const struct sockaddr *sa, socklen_t l, char *h, socklen_t hl, char *s,
                socklen_t sl, int f) {
    return EAI_FAIL;
}

/* WASI cannot duplicate a descriptor. PHP only dup()s to open php://stdin, php://stdout and
 * php://stderr (or php://fd/N) a second time, so dup() hands out the same descriptor and counts
 * it, and close() (wrapped at link time: -Wl,--wrap=close) only closes a descriptor once its
 * last holder closes it -- what a real dup() gives. */
#define POLYRUN_MAX_DUP_FD 64
static unsigned short polyrun_dups[POLYRUN_MAX_DUP_FD];
int dup(int fd) {
    if (fd < 0 || fd >= POLYRUN_MAX_DUP_FD || fcntl(fd, F_GETFD) < 0) {
        errno = EBADF;
        return -1;
    }
    polyrun_dups[fd]++;
    return fd;
}
int __real_close(int fd);
int __wrap_close(int fd) {
    if (fd >= 0 && fd < POLYRUN_MAX_DUP_FD && polyrun_dups[fd] > 0) {
        polyrun_dups[fd]--;
        return 0;
    }
    return __real_close(fd);
}

/* WASI has getentropy (at most 256 bytes a call), not getrandom: PHP's random_bytes(),
 * random_int() and seeding use this (build.sh lets random.c take its getrandom path). */
ssize_t getrandom(void *buf, size_t len, unsigned flags) {
    (void)flags;
    size_t n = len > 256 ? 256 : len;
    if (getentropy(buf, n) != 0) {
        return -1;
    }
    return (ssize_t)n;
}
FILE *popen(const char *c, const char *m) { FAIL(NULL); }
int pclose(FILE *f) { FAIL(-1); }
int chown(const char *p, uid_t o, gid_t g) { FAIL(-1); }
int lchown(const char *p, uid_t o, gid_t g) { FAIL(-1); }
int fchown(int fd, uid_t o, gid_t g) { FAIL(-1); }
int chmod(const char *p, mode_t m) { FAIL(-1); }
int fchmod(int fd, mode_t m) { FAIL(-1); }
mode_t umask(mode_t m) { return 022; }
uid_t getuid(void) { return 0; }
uid_t geteuid(void) { return 0; }
gid_t getgid(void) { return 0; }
gid_t getegid(void) { return 0; }
int getgroups(int n, gid_t l[]) { return 0; }
char *mktemp(char *t) {
    if (t && *t) *t = '\0';
    errno = ENOSYS;
    return t;
}
int getdtablesize(void) { return 1024; }
struct passwd *getpwnam(const char *n) { return NULL; }
struct passwd *getpwuid(uid_t u) { return NULL; }
struct group *getgrnam(const char *n) { return NULL; }
struct group *getgrgid(gid_t g) { return NULL; }
void openlog(const char *i, int o, int f) {}
void syslog(int p, const char *fmt, ...) {}
void closelog(void) {}

int getcontext(ucontext_t *u) { FAIL(-1); }
void makecontext(ucontext_t *u, void (*f)(void), int argc, ...) {}
int swapcontext(ucontext_t *o, const ucontext_t *u) { FAIL(-1); }

/* Anonymous mmap for Zend's allocator, which wants chunks aligned to their 2 MiB size. Memory
 * comes from malloc; a region is freed when it is unmapped whole (partial unmaps are ignored). */
#define CHUNK ((size_t)2 << 20)
struct region {
    void *addr;
    size_t len;
    struct region *next;
};
static struct region *regions;

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    if (!(flags & MAP_ANONYMOUS) || len == 0) {
        errno = ENOSYS;
        return MAP_FAILED;
    }
    size_t align = len >= CHUNK ? CHUNK : 4096;
    size_t size = (len + align - 1) / align * align;
    struct region *r = malloc(sizeof *r);
    void *p = r ? aligned_alloc(align, size) : NULL;
    if (!p) {
        free(r);
        errno = ENOMEM;
        return MAP_FAILED;
    }
    memset(p, 0, size);
    r->addr = p;
    r->len = len;
    r->next = regions;
    regions = r;
    return p;
}

int munmap(void *addr, size_t len) {
    for (struct region **pr = &regions; *pr; pr = &(*pr)->next) {
        struct region *r = *pr;
        if (r->addr == addr && len >= r->len) {
            *pr = r->next;
            free(r->addr);
            free(r);
            return 0;
        }
    }
    return 0;
}

/* Advice and protection change nothing for malloc'd memory. */
int madvise(void *addr, size_t len, int advice) { return 0; }
int mprotect(void *addr, size_t len, int prot) { return 0; }
