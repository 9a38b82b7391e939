/* polyrun's compatibility layer for building PHP for wasm32-wasi against Debian's wasi-libc.
 * Force-included into every PHP source file at `make` time (not at configure time: there it
 * would make configure's function checks succeed for functions that do not exist).
 *
 * WASI has no processes, users, sockets, name resolution, syslog, file modes or locks. This
 * header declares what PHP's sources call anyway; ../compat.c implements each one as a
 * failure (ENOSYS / "not found"), so PHP reports an ordinary error at run time. */
#ifndef POLYRUN_COMPAT_H
#define POLYRUN_COMPAT_H

/* wasi-libc's sockaddr_un has no sun_path; PHP's unix-socket code wants one. */
#define __wasilibc___struct_sockaddr_un_h
#include <stddef.h>
#include <__typedef_sa_family_t.h>
struct sockaddr_un {
    sa_family_t sun_family;
    char sun_path[108];
};

#include <sys/types.h>
#include <sys/socket.h>
#include <stdio.h>
#include <pwd.h>
#include <grp.h>
#include <syslog.h>
#include <ucontext.h>

#ifndef PF_UNIX
#define PF_UNIX 1
#endif
#ifndef AF_UNIX
#define AF_UNIX PF_UNIX
#endif
#ifndef MSG_OOB
#define MSG_OOB 0x0001
#endif
#ifndef SO_ERROR
#define SO_ERROR 4
#endif
#ifndef SOMAXCONN
#define SOMAXCONN 128
#endif
#ifndef SOL_IP
#define SOL_IP 0
#endif
#ifndef POLLPRI
#define POLLPRI 0x002
#endif
#ifndef NI_NAMEREQD
#define NI_NAMEREQD 0x08
#endif
#ifndef F_GETLK
#define F_GETLK 5
#define F_SETLK 6
#define F_SETLKW 7
#endif
#ifndef F_RDLCK
#define F_RDLCK 0
#define F_WRLCK 1
#define F_UNLCK 2
#endif

int socket(int domain, int type, int protocol);
int socketpair(int domain, int type, int protocol, int sv[2]);
int bind(int fd, const struct sockaddr *addr, socklen_t len);
int connect(int fd, const struct sockaddr *addr, socklen_t len);
int listen(int fd, int backlog);
int setsockopt(int fd, int level, int name, const void *value, socklen_t len);
int getsockname(int fd, struct sockaddr *addr, socklen_t *len);
int getpeername(int fd, struct sockaddr *addr, socklen_t *len);
ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr,
               socklen_t addrlen);
ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr,
                 socklen_t *addrlen);

int dup(int fd);
ssize_t getrandom(void *buf, size_t len, unsigned flags);
FILE *popen(const char *command, const char *mode);
int pclose(FILE *stream);
int chown(const char *path, uid_t owner, gid_t group);
int lchown(const char *path, uid_t owner, gid_t group);
int fchown(int fd, uid_t owner, gid_t group);
int chmod(const char *path, mode_t mode);
int fchmod(int fd, mode_t mode);
mode_t umask(mode_t mask);
uid_t getuid(void);
uid_t geteuid(void);
gid_t getgid(void);
gid_t getegid(void);
int getgroups(int size, gid_t list[]);
char *mktemp(char *template_);
int getdtablesize(void);

/* Fibers need stack switching, which WebAssembly does not have: these always fail. */
#define uc_stack polyrun_uc.stack
#define uc_link polyrun_uc.link
int getcontext(ucontext_t *ucp);
void makecontext(ucontext_t *ucp, void (*func)(void), int argc, ...);
int swapcontext(ucontext_t *oucp, const ucontext_t *ucp);

#endif
