/* polyrun: PHP's configure wants <ucontext.h>. Fibers need stack switching, which WebAssembly
 * does not have: the type exists, getcontext()/swapcontext() fail (../compat.c). */
#ifndef POLYRUN_UCONTEXT_H
#define POLYRUN_UCONTEXT_H
#include <stddef.h>
typedef struct ucontext_t {
    struct {
        struct {
            void *ss_sp;
            size_t ss_size;
            int ss_flags;
        } stack;
        struct ucontext_t *link;
    } polyrun_uc;
} ucontext_t;
#endif
