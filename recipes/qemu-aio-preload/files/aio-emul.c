/*
 * aio-emul.c - LD_PRELOAD emulation of Linux AIO syscalls for qemu-user.
 *
 * Why this exists: qemu-user (7.2 in bookworm, 10.0 in trixie) does not
 * implement io_setup/io_submit/io_getevents/io_destroy; they fail with
 * ENOSYS.  raft (and dqlite, which bundles raft since 1.17) needs them to
 * start a node: "probe Async I/O: io_setup: function not implemented".
 * raft does not use libaio; it calls the raw syscalls through glibc's
 * variadic syscall() (src/raft/syscall.c: syscall(__NR_io_setup, ...)).
 * So this library interposes syscall() itself: AIO numbers are emulated,
 * every other number is forwarded unchanged to the real syscall().
 *
 * Emulation is synchronous: io_submit performs the read/write/fsync at once
 * (outside any lock), queues the completion event and, when the iocb has
 * IOCB_FLAG_RESFD, adds 1 to its eventfd (after the event is queued, as the
 * kernel does).  io_getevents returns queued events, waiting on a condition
 * variable for min_nr events or the timeout.  io_destroy wakes waiters and
 * frees the context.  One global mutex guards all contexts.
 *
 * rw_flags: RWF_NOWAIT and RWF_HIPRI are accepted and ignored (the I/O simply
 * completes; raft's probe then sees res == size and picks its async path);
 * RWF_DSYNC/RWF_SYNC are done as fdatasync/fsync after the write; RWF_APPEND
 * uses pwritev2 and falls back to writing at the current end of file.
 * Unknown flags fail the submission with EOPNOTSUPP like the kernel does.
 *
 * Mode: AIO_EMUL=auto (default) tries the real io_setup first and, when the
 * kernel answers anything but ENOSYS, passes all AIO calls through (so the
 * library is harmless on real hardware); AIO_EMUL=force always emulates;
 * AIO_EMUL=off always passes through.
 *
 * Deliberately NOT exported: io_setup/io_submit/... as plain functions.
 * raft defines functions with those names (returning -1/errno) and libaio
 * defines them with another convention (returning -errno); exporting ours
 * would hijack one of them.
 *
 * Build (target compiler): cc -shared -fPIC -O2 -o libaio-emul.so aio-emul.c -ldl -lpthread
 * Use: qemu-arm -L <sysroot> -E LD_PRELOAD=/path/libaio-emul.so prog
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifndef RWF_HIPRI
#define RWF_HIPRI 0x00000001
#endif
#ifndef RWF_DSYNC
#define RWF_DSYNC 0x00000002
#endif
#ifndef RWF_SYNC
#define RWF_SYNC 0x00000004
#endif
#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif
#ifndef RWF_APPEND
#define RWF_APPEND 0x00000010
#endif
#define EMUL_RWF_SUPPORTED (RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND)

typedef long (*syscall_fn)(long, ...);

/* Kernel timespec layouts.  io_getevents and io_pgetevents take the
 * "long" layout (old_timespec32 on 32-bit, __kernel_timespec on 64-bit);
 * io_pgetevents_time64 (32-bit only) takes two 64-bit fields. */
struct ts_long {
	long tv_sec;
	long tv_nsec;
};
struct ts_64 {
	int64_t tv_sec;
	int64_t tv_nsec;
};
struct aio_sigset_k {
	const void *sigmask;
	size_t sigsetsize;
};

struct emul_ctx {
	struct emul_ctx *next;
	aio_context_t id;
	long cap;           /* nr_events given to io_setup */
	long head, count;   /* ring of completed, uncollected events */
	long inflight;      /* slots reserved by io_submit doing I/O */
	int refs;           /* lookups in progress (incl. the list's own) */
	int dead;           /* io_destroy called */
	pthread_cond_t cond;
	struct io_event *ring;
};

enum { MODE_UNKNOWN = 0, MODE_EMULATE, MODE_PASSTHROUGH };

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct emul_ctx *g_list;
static aio_context_t g_next_id = 0x41494f00; /* "AIO\0": any nonzero value */
static int g_mode = MODE_UNKNOWN;              /* guarded by g_lock */
static syscall_fn g_real;

static syscall_fn real_syscall(void)
{
	syscall_fn f = __atomic_load_n(&g_real, __ATOMIC_ACQUIRE);
	if (f == NULL) {
		f = (syscall_fn)dlsym(RTLD_NEXT, "syscall");
		if (f == NULL)
			abort();
		__atomic_store_n(&g_real, f, __ATOMIC_RELEASE);
	}
	return f;
}

static int env_mode(void)
{
	const char *m = getenv("AIO_EMUL");
	if (m != NULL && strcmp(m, "force") == 0)
		return MODE_EMULATE;
	if (m != NULL && strcmp(m, "off") == 0)
		return MODE_PASSTHROUGH;
	return MODE_UNKNOWN;
}

static int current_mode(void)
{
	int m;
	pthread_mutex_lock(&g_lock);
	m = g_mode;
	pthread_mutex_unlock(&g_lock);
	return m;
}

/* Look a context up and take a reference; caller holds g_lock. */
static struct emul_ctx *ctx_get_locked(aio_context_t id)
{
	struct emul_ctx *c;
	for (c = g_list; c != NULL; c = c->next) {
		if (c->id == id && !c->dead) {
			c->refs++;
			return c;
		}
	}
	return NULL;
}

/* Drop a reference; caller holds g_lock. */
static void ctx_put_locked(struct emul_ctx *c)
{
	c->refs--;
	if (c->dead)
		pthread_cond_broadcast(&c->cond); /* io_destroy waits for refs */
}

static long emul_io_setup(unsigned nr_events, aio_context_t *ctxp)
{
	struct emul_ctx *c;
	pthread_condattr_t attr;

	if (ctxp == NULL)
		return -EFAULT;
	if (*ctxp != 0 || nr_events == 0 || nr_events > 0x10000000U)
		return -EINVAL;
	c = calloc(1, sizeof *c);
	if (c == NULL)
		return -ENOMEM;
	c->ring = calloc(nr_events, sizeof *c->ring);
	if (c->ring == NULL) {
		free(c);
		return -ENOMEM;
	}
	c->cap = (long)nr_events;
	c->refs = 1;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&c->cond, &attr);
	pthread_condattr_destroy(&attr);

	pthread_mutex_lock(&g_lock);
	c->id = g_next_id++;
	c->next = g_list;
	g_list = c;
	pthread_mutex_unlock(&g_lock);
	*ctxp = c->id;
	return 0;
}

static long emul_io_destroy(aio_context_t id)
{
	struct emul_ctx **pp, *c;

	pthread_mutex_lock(&g_lock);
	for (pp = &g_list; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->id == id && !(*pp)->dead)
			break;
	c = *pp;
	if (c == NULL) {
		pthread_mutex_unlock(&g_lock);
		return -EINVAL;
	}
	c->dead = 1;
	*pp = c->next; /* unlink: new lookups fail with EINVAL */
	pthread_cond_broadcast(&c->cond);
	while (c->refs > 1) /* wait for in-flight submits and waiters */
		pthread_cond_wait(&c->cond, &g_lock);
	pthread_mutex_unlock(&g_lock);
	pthread_cond_destroy(&c->cond);
	free(c->ring);
	free(c);
	return 0;
}

static ssize_t full_iov_len(const struct iovec *iov, int n)
{
	size_t total = 0;
	for (int i = 0; i < n; i++) {
		total += iov[i].iov_len;
		if (total > (size_t)SSIZE_MAX)
			return -1;
	}
	return (ssize_t)total;
}

/* Perform one iocb; returns the value for io_event.res (bytes or -errno). */
static long do_iocb(const struct iocb *cb)
{
	int fd = (int)cb->aio_fildes;
	off64_t off = (off64_t)cb->aio_offset;
	void *buf = (void *)(uintptr_t)cb->aio_buf;
	unsigned flags = (unsigned)cb->aio_rw_flags;
	struct iovec one, *iov;
	int iovcnt;
	ssize_t r;

	switch (cb->aio_lio_opcode) {
	case IOCB_CMD_FSYNC:
		return fsync(fd) == 0 ? 0 : -errno;
	case IOCB_CMD_FDSYNC:
		return fdatasync(fd) == 0 ? 0 : -errno;
	case IOCB_CMD_PREAD:
	case IOCB_CMD_PWRITE:
		one.iov_base = buf;
		one.iov_len = (size_t)cb->aio_nbytes;
		iov = &one;
		iovcnt = 1;
		break;
	default: /* PREADV / PWRITEV (validated at submit) */
		iov = (struct iovec *)buf;
		iovcnt = (int)cb->aio_nbytes;
		if (full_iov_len(iov, iovcnt) < 0)
			return -EINVAL;
		break;
	}

	if (cb->aio_lio_opcode == IOCB_CMD_PREAD ||
	    cb->aio_lio_opcode == IOCB_CMD_PREADV) {
		do
			r = preadv64(fd, iov, iovcnt, off);
		while (r < 0 && errno == EINTR);
		return r < 0 ? -errno : (long)r;
	}

	if (flags & RWF_APPEND) {
		do
			r = pwritev64v2(fd, iov, iovcnt, -1, RWF_APPEND);
		while (r < 0 && errno == EINTR);
		if (r < 0 && (errno == EOPNOTSUPP || errno == ENOSYS ||
			      errno == EINVAL)) {
			struct stat64 st;
			if (fstat64(fd, &st) != 0)
				return -errno;
			do
				r = pwritev64(fd, iov, iovcnt, st.st_size);
			while (r < 0 && errno == EINTR);
		}
	} else {
		do
			r = pwritev64(fd, iov, iovcnt, off);
		while (r < 0 && errno == EINTR);
	}
	if (r < 0)
		return -errno;
	if ((flags & RWF_SYNC) && fsync(fd) != 0)
		return -errno;
	if ((flags & RWF_DSYNC) && !(flags & RWF_SYNC) && fdatasync(fd) != 0)
		return -errno;
	return (long)r;
}

/* Checks the kernel makes before accepting an iocb (0 or -errno). */
static long check_iocb(const struct iocb *cb)
{
	if (cb->aio_reserved2 != 0)
		return -EINVAL;
	switch (cb->aio_lio_opcode) {
	case IOCB_CMD_PREAD:
	case IOCB_CMD_PWRITE:
		if (cb->aio_nbytes > (uint64_t)SSIZE_MAX)
			return -EINVAL;
		break;
	case IOCB_CMD_PREADV:
	case IOCB_CMD_PWRITEV:
		if (cb->aio_nbytes > IOV_MAX)
			return -EINVAL;
		break;
	case IOCB_CMD_FSYNC:
	case IOCB_CMD_FDSYNC:
		if (cb->aio_buf || cb->aio_offset || cb->aio_nbytes ||
		    cb->aio_rw_flags)
			return -EINVAL;
		break;
	default: /* IOCB_CMD_POLL, IOCB_CMD_NOOP and unknown ones */
		return -EINVAL;
	}
	if ((unsigned)cb->aio_rw_flags & ~(unsigned)EMUL_RWF_SUPPORTED)
		return -EOPNOTSUPP;
	if (fcntl((int)cb->aio_fildes, F_GETFD) < 0)
		return -EBADF;
	if ((cb->aio_flags & IOCB_FLAG_RESFD) &&
	    fcntl((int)cb->aio_resfd, F_GETFD) < 0)
		return -EBADF;
	return 0;
}

static long emul_io_submit(aio_context_t id, long nr, struct iocb **iocbpp)
{
	struct emul_ctx *c;
	long i, rv;

	if (nr < 0)
		return -EINVAL;
	pthread_mutex_lock(&g_lock);
	c = ctx_get_locked(id);
	pthread_mutex_unlock(&g_lock);
	if (c == NULL)
		return -EINVAL;
	if (nr > c->cap)
		nr = c->cap;
	if (nr > 0 && iocbpp == NULL) {
		rv = -EFAULT;
		goto out;
	}

	for (i = 0; i < nr; i++) {
		struct iocb *cb = iocbpp[i];
		struct io_event ev;

		rv = cb == NULL ? -EFAULT : check_iocb(cb);
		if (rv != 0)
			break;

		pthread_mutex_lock(&g_lock);
		if (c->count + c->inflight >= c->cap) {
			pthread_mutex_unlock(&g_lock);
			rv = -EAGAIN;
			break;
		}
		c->inflight++;
		pthread_mutex_unlock(&g_lock);

		cb->aio_key = 0; /* KIOCB_KEY, as the kernel writes it back */
		ev.data = cb->aio_data;
		ev.obj = (uint64_t)(uintptr_t)cb;
		ev.res = do_iocb(cb);
		ev.res2 = 0;

		pthread_mutex_lock(&g_lock);
		c->ring[(c->head + c->count) % c->cap] = ev;
		c->count++;
		c->inflight--;
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&g_lock);

		if (cb->aio_flags & IOCB_FLAG_RESFD) {
			uint64_t one = 1;
			ssize_t w;
			do
				w = write((int)cb->aio_resfd, &one, sizeof one);
			while (w < 0 && errno == EINTR);
		}
	}
	/* Like the kernel: the number submitted, or the first error if none. */
	rv = i > 0 ? i : (nr == 0 ? 0 : rv);
out:
	pthread_mutex_lock(&g_lock);
	ctx_put_locked(c);
	pthread_mutex_unlock(&g_lock);
	return rv;
}

/* Wait for events.  timeout: NULL = forever; else relative. */
static long emul_io_getevents(aio_context_t id, long min_nr, long nr,
			      struct io_event *events, const struct timespec *timeout,
			      const struct aio_sigset_k *usig)
{
	struct emul_ctx *c;
	struct timespec deadline;
	sigset_t newmask, oldmask;
	int masked = 0;
	long n = 0;

	if (min_nr < 0 || nr < 0 || min_nr > nr)
		return -EINVAL;
	if (timeout != NULL) {
		if (timeout->tv_sec < 0 || timeout->tv_nsec < 0 ||
		    timeout->tv_nsec >= 1000000000L)
			return -EINVAL;
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += timeout->tv_sec;
		deadline.tv_nsec += timeout->tv_nsec;
		if (deadline.tv_nsec >= 1000000000L) {
			deadline.tv_sec++;
			deadline.tv_nsec -= 1000000000L;
		}
	}
	if (nr > 0 && events == NULL)
		return -EFAULT;
	if (usig != NULL && usig->sigmask != NULL) {
		size_t sz = usig->sigsetsize < sizeof newmask ? usig->sigsetsize
							      : sizeof newmask;
		sigemptyset(&newmask);
		memcpy(&newmask, usig->sigmask, sz);
		pthread_sigmask(SIG_SETMASK, &newmask, &oldmask);
		masked = 1;
	}

	pthread_mutex_lock(&g_lock);
	c = ctx_get_locked(id);
	if (c == NULL) {
		pthread_mutex_unlock(&g_lock);
		n = -EINVAL;
		goto out;
	}
	while (c->count < min_nr && !c->dead) {
		if (timeout == NULL) {
			pthread_cond_wait(&c->cond, &g_lock);
		} else if (pthread_cond_timedwait(&c->cond, &g_lock,
						  &deadline) == ETIMEDOUT) {
			break;
		}
	}
	if (c->dead) {
		n = -EINVAL;
	} else {
		while (n < nr && c->count > 0) {
			events[n++] = c->ring[c->head];
			c->head = (c->head + 1) % c->cap;
			c->count--;
		}
	}
	ctx_put_locked(c);
	pthread_mutex_unlock(&g_lock);
out:
	if (masked)
		pthread_sigmask(SIG_SETMASK, &oldmask, NULL);
	return n;
}

static long emul_io_cancel(aio_context_t id)
{
	/* Bad context, or (since everything completed at submit time) an
	 * iocb that is no longer in flight: the kernel says EINVAL to both. */
	(void)id;
	return -EINVAL;
}

static int is_aio(long nr)
{
	switch (nr) {
	case __NR_io_setup:
	case __NR_io_destroy:
	case __NR_io_submit:
	case __NR_io_cancel:
#ifdef __NR_io_getevents
	case __NR_io_getevents:
#endif
#ifdef __NR_io_pgetevents
	case __NR_io_pgetevents:
#endif
#if defined(__NR_io_pgetevents_time64) && \
    (!defined(__NR_io_pgetevents) || __NR_io_pgetevents_time64 != __NR_io_pgetevents)
	case __NR_io_pgetevents_time64:
#endif
		return 1;
	default:
		return 0;
	}
}

static long ts_from_long(const struct ts_long *in, struct timespec *out)
{
	if (in == NULL)
		return 0;
	out->tv_sec = (time_t)in->tv_sec;
	out->tv_nsec = in->tv_nsec;
	return 1;
}

#if defined(__NR_io_pgetevents_time64) && \
    (!defined(__NR_io_pgetevents) || __NR_io_pgetevents_time64 != __NR_io_pgetevents)
static long ts_from_64(const struct ts_64 *in, struct timespec *out)
{
	if (in == NULL)
		return 0;
	out->tv_sec = (time_t)in->tv_sec;
	out->tv_nsec = (long)in->tv_nsec;
	return 1;
}
#endif

static long emulate(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	struct timespec ts;
	(void)a6;
	switch (nr) {
	case __NR_io_setup:
		return emul_io_setup((unsigned)a1, (aio_context_t *)a2);
	case __NR_io_destroy:
		return emul_io_destroy((aio_context_t)a1);
	case __NR_io_submit:
		return emul_io_submit((aio_context_t)a1, a2, (struct iocb **)a3);
	case __NR_io_cancel:
		return emul_io_cancel((aio_context_t)a1);
#ifdef __NR_io_getevents
	case __NR_io_getevents:
		return emul_io_getevents((aio_context_t)a1, a2, a3, (struct io_event *)a4,
					 ts_from_long((const struct ts_long *)a5, &ts) ? &ts : NULL,
					 NULL);
#endif
#ifdef __NR_io_pgetevents
	case __NR_io_pgetevents:
		return emul_io_getevents((aio_context_t)a1, a2, a3, (struct io_event *)a4,
					 ts_from_long((const struct ts_long *)a5, &ts) ? &ts : NULL,
					 (const struct aio_sigset_k *)a6);
#endif
#if defined(__NR_io_pgetevents_time64) && \
    (!defined(__NR_io_pgetevents) || __NR_io_pgetevents_time64 != __NR_io_pgetevents)
	case __NR_io_pgetevents_time64:
		return emul_io_getevents((aio_context_t)a1, a2, a3, (struct io_event *)a4,
					 ts_from_64((const struct ts_64 *)a5, &ts) ? &ts : NULL,
					 (const struct aio_sigset_k *)a6);
#endif
	}
	return -ENOSYS;
}

/* Decide between emulation and pass-through at the first io_setup. */
static long aio_dispatch(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	int mode = current_mode();
	long r;

	if (mode == MODE_UNKNOWN) {
		mode = env_mode();
		if (mode == MODE_UNKNOWN) {
			/* Before the first io_setup no context of ours can
			 * exist: let the kernel answer whatever this is. */
			r = real_syscall()(nr, a1, a2, a3, a4, a5, a6);
			if (nr != __NR_io_setup || r == 0 || errno != ENOSYS) {
				if (nr == __NR_io_setup) {
					pthread_mutex_lock(&g_lock);
					g_mode = MODE_PASSTHROUGH;
					pthread_mutex_unlock(&g_lock);
				}
				return r < 0 ? -errno : r;
			}
			mode = MODE_EMULATE; /* io_setup said ENOSYS */
		}
		pthread_mutex_lock(&g_lock);
		if (g_mode == MODE_UNKNOWN)
			g_mode = mode;
		mode = g_mode;
		pthread_mutex_unlock(&g_lock);
	}
	if (mode == MODE_EMULATE)
		return emulate(nr, a1, a2, a3, a4, a5, a6);
	r = real_syscall()(nr, a1, a2, a3, a4, a5, a6);
	return r < 0 ? -errno : r;
}

/*
 * The interposed syscall().  Arguments are read as six longs and passed on
 * unchanged: on arm EABI a 64-bit argument occupies an even register pair,
 * and reading/re-passing word by word keeps exactly that layout (glibc's own
 * syscall() does the same with registers).
 */
long syscall(long number, ...)
{
	va_list ap;
	long a1, a2, a3, a4, a5, a6, r;

	va_start(ap, number);
	a1 = va_arg(ap, long);
	a2 = va_arg(ap, long);
	a3 = va_arg(ap, long);
	a4 = va_arg(ap, long);
	a5 = va_arg(ap, long);
	a6 = va_arg(ap, long);
	va_end(ap);

	if (!is_aio(number))
		return real_syscall()(number, a1, a2, a3, a4, a5, a6);

	r = aio_dispatch(number, a1, a2, a3, a4, a5, a6);
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}
