/* polyrun: the runtime half of setjmp/longjmp for code compiled with clang's
 * `-mllvm -wasm-enable-sjlj`. The compiler turns each setjmp() into __wasm_setjmp (record where
 * to come back), each longjmp() into __wasm_longjmp (throw a WebAssembly exception tagged
 * __c_longjmp), and checks with __wasm_setjmp_test which setjmp of the current function
 * invocation a caught longjmp belongs to. Debian's wasi-libc does not ship this runtime. */
#include <setjmp.h>
#include <stdint.h>

/* The exception tag, carrying a pointer to {env, val}. */
__asm__(".globl __c_longjmp\n.tagtype __c_longjmp i32\n__c_longjmp:\n");

void __wasm_setjmp(void *env, uint32_t label, void *func_invocation_id) {
    __polyrun_jmp_buf_impl *jb = env;
    jb->func_invocation_id = func_invocation_id;
    jb->label = label;
}

uint32_t __wasm_setjmp_test(void *env, void *func_invocation_id) {
    __polyrun_jmp_buf_impl *jb = env;
    return jb->func_invocation_id == func_invocation_id ? jb->label : 0;
}

void __wasm_longjmp(void *env, int val) {
    __polyrun_jmp_buf_impl *jb = env;
    jb->arg.env = env;
    jb->arg.val = val == 0 ? 1 : val;
    __builtin_wasm_throw(1, &jb->arg);
}
