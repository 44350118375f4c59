/*
 * Preloaded into linux.uml: lets a UML 6.1 kernel run on hosts whose XSAVE area is
 * larger than the one it knows (AVX-512, AMX).
 *
 * UML saves and restores each guest thread's FPU state with PTRACE_GETREGSET /
 * PTRACE_SETREGSET (NT_X86_XSTATE) into a fixed buffer of its own. The host kernel
 * truncates a short GETREGSET but refuses a SETREGSET whose size is not its full
 * XSAVE size (EFAULT), so the first guest process dies ("ptrace set fp regs failed,
 * errno = 14") and init with it. Here every UML buffer gets a full-size shadow, keyed
 * by the buffer's address (one per guest thread): a get fills the shadow and hands UML
 * its prefix; a set lays UML's prefix over the shadow and sets the whole area. The
 * parts UML does not know (AVX-512, AMX) thus stay with the thread they belong to.
 *
 * It also opens the tun device close-on-exec. A reboot of the UML kernel re-executes
 * linux.uml in the same process, and UML opens /dev/net/tun without O_CLOEXEC: the tap
 * the old kernel attached stays attached across that exec, the new kernel's TUNSETIFF
 * fails with EBUSY ("uml_tap: failed to select tap interface"), and the rebooted
 * machine boots without a network (measured on the lab: SSH never came back).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

typedef long (*ptrace_fn)(int, pid_t, void *, void *);

struct shadow {
    void *key;
    struct shadow *next;
    int filled;
    unsigned char area[];
};

#define BUCKETS 65536
static struct shadow *table[BUCKETS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static ptrace_fn real_ptrace;
static size_t full_size; /* the host's XSAVE size, learnt from the first get */

static struct shadow *find(void *key, int create)
{
    size_t b = ((uintptr_t)key >> 4) % BUCKETS;
    for (struct shadow *s = table[b]; s; s = s->next)
        if (s->key == key)
            return s;
    if (!create)
        return NULL;
    struct shadow *s = calloc(1, sizeof(*s) + full_size);
    if (!s)
        return NULL;
    s->key = key;
    s->next = table[b];
    table[b] = s;
    return s;
}

static int learn_size(pid_t pid)
{
    if (full_size)
        return 0;
    static unsigned char probe[1 << 17];
    struct iovec iov = {probe, sizeof(probe)};
    long r = real_ptrace(PTRACE_GETREGSET, pid, (void *)NT_X86_XSTATE, &iov);
    if (r != 0)
        return -1;
    full_size = iov.iov_len;
    return 0;
}

static long xstate(int req, pid_t pid, struct iovec *uml)
{
    if (learn_size(pid) != 0 || uml->iov_len >= full_size)
        return real_ptrace(req, pid, (void *)NT_X86_XSTATE, uml);
    struct shadow *s = find(uml->iov_base, 1);
    if (!s)
        return real_ptrace(req, pid, (void *)NT_X86_XSTATE, uml);
    struct iovec whole = {s->area, full_size};
    long r;
    if (req == PTRACE_GETREGSET) {
        r = real_ptrace(req, pid, (void *)NT_X86_XSTATE, &whole);
        if (r == 0) {
            memcpy(uml->iov_base, s->area, uml->iov_len);
            s->filled = 1;
        }
        return r;
    }
    if (!s->filled) {
        /* A buffer never read back: start from the thread's current state. */
        r = real_ptrace(PTRACE_GETREGSET, pid, (void *)NT_X86_XSTATE, &whole);
        if (r != 0)
            return r;
        s->filled = 1;
    }
    memcpy(s->area, uml->iov_base, uml->iov_len);
    return real_ptrace(req, pid, (void *)NT_X86_XSTATE, &whole);
}

long ptrace(enum __ptrace_request request, ...)
{
    va_list ap;
    va_start(ap, request);
    pid_t pid = va_arg(ap, pid_t);
    void *addr = va_arg(ap, void *);
    void *data = va_arg(ap, void *);
    va_end(ap);
    if (!real_ptrace)
        real_ptrace = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
    int req = (int)request;
    if ((req == PTRACE_GETREGSET || req == PTRACE_SETREGSET) && (uintptr_t)addr == NT_X86_XSTATE && data) {
        pthread_mutex_lock(&lock);
        long r = xstate(req, pid, (struct iovec *)data);
        pthread_mutex_unlock(&lock);
        return r;
    }
    return real_ptrace(req, pid, addr, data);
}

typedef int (*open_fn)(const char *, int, ...);

static int tun_flags(const char *path, int flags)
{
    return (path && strcmp(path, "/dev/net/tun") == 0) ? (flags | O_CLOEXEC) : flags;
}

static mode_t open_mode(int flags, va_list ap)
{
    return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? va_arg(ap, mode_t) : 0;
}

int open(const char *path, int flags, ...)
{
    static open_fn real_open;
    if (!real_open)
        real_open = (open_fn)dlsym(RTLD_NEXT, "open");
    va_list ap;
    va_start(ap, flags);
    mode_t mode = open_mode(flags, ap);
    va_end(ap);
    return real_open(path, tun_flags(path, flags), mode);
}

int open64(const char *path, int flags, ...)
{
    static open_fn real_open64;
    if (!real_open64)
        real_open64 = (open_fn)dlsym(RTLD_NEXT, "open64");
    va_list ap;
    va_start(ap, flags);
    mode_t mode = open_mode(flags, ap);
    va_end(ap);
    return real_open64(path, tun_flags(path, flags), mode);
}
