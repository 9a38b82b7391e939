/* polyrun's setjmp.h for PHP on wasm32-wasi. Debian's wasi-libc has none. Built with clang's
 * `-mllvm -wasm-enable-sjlj`, calls to setjmp/longjmp are lowered to WebAssembly exception
 * handling and the runtime in ../sjlj.c; the jmp_buf only has to be large enough for it. */
#ifndef POLYRUN_SETJMP_H
#define POLYRUN_SETJMP_H

typedef struct {
    void *func_invocation_id;
    unsigned int label;
    struct {
        void *env;
        int val;
    } arg;
} __polyrun_jmp_buf_impl;

typedef __polyrun_jmp_buf_impl jmp_buf[1];
typedef __polyrun_jmp_buf_impl sigjmp_buf[1];

int setjmp(jmp_buf env) __attribute__((returns_twice));
_Noreturn void longjmp(jmp_buf env, int val);

#define _setjmp setjmp
#define _longjmp longjmp
#define sigsetjmp(env, savesigs) setjmp(env)
#define siglongjmp(env, val) longjmp(env, val)

#endif
