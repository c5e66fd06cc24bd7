/*
 * aio-test.c - check Linux AIO the way raft/dqlite use it.
 *
 * Why this exists: to prove that aio-emul.c (the LD_PRELOAD library that
 * emulates io_setup/io_submit/io_getevents/io_destroy under qemu-user) does
 * what raft needs.  Like raft (src/raft/syscall.c) it calls the raw syscalls
 * through syscall(), never libaio.  Under plain qemu-user it stops at
 * io_setup with ENOSYS (exit 2); with the preload (or on a real kernel) every
 * check passes (exit 0).  Any failed check exits 1.
 *
 * Covered: PWRITE with IOCB_FLAG_RESFD + eventfd, PWRITEV, PREAD, PREADV,
 * FDSYNC, FSYNC, RWF_DSYNC, raft's RWF_NOWAIT probe (on an O_DIRECT fd when
 * the file system allows it), per-iocb errors (EBADF in io_event.res is not
 * used by the kernel: a bad fd fails io_submit), the timeout path of
 * io_getevents, a waiter woken by a submit from another thread, bad
 * arguments (EINVAL) and pass-through of other syscalls via syscall().
 *
 * Usage: aio-test [dir]   (temporary files go to dir, default ".")
 *
 * SPDX-License-Identifier: Apache-2.0
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifndef RWF_DSYNC
#define RWF_DSYNC 0x00000002
#endif
#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif

static int failures;

#define CHECK(cond, ...)                                                   \
	do {                                                               \
		if (cond) {                                                \
			printf("ok   ");                                   \
		} else {                                                   \
			printf("FAIL ");                                   \
			failures++;                                        \
		}                                                          \
		printf(__VA_ARGS__);                                       \
		printf("\n");                                              \
	} while (0)

static long io_setup_(unsigned n, aio_context_t *ctx)
{
	return syscall(__NR_io_setup, n, ctx);
}
static long io_destroy_(aio_context_t ctx)
{
	return syscall(__NR_io_destroy, ctx);
}
static long io_submit_(aio_context_t ctx, long n, struct iocb **iocbs)
{
	return syscall(__NR_io_submit, ctx, n, iocbs);
}
/* raft passes NULL or a struct timespec; a NULL timeout is the common
 * case.  On 32-bit the kernel's io_getevents takes a 32-bit timespec, so
 * pass the kernel layout ("long" fields) explicitly. */
struct kts {
	long tv_sec;
	long tv_nsec;
};
static long io_getevents_(aio_context_t ctx, long min_nr, long nr,
			  struct io_event *ev, struct kts *timeout)
{
#ifdef __NR_io_getevents
	return syscall(__NR_io_getevents, ctx, min_nr, nr, ev, timeout);
#else
	return syscall(__NR_io_pgetevents, ctx, min_nr, nr, ev, timeout, NULL);
#endif
}

static void prep(struct iocb *cb, int op, int fd, void *buf, uint64_t n,
		 int64_t off, uint64_t data)
{
	memset(cb, 0, sizeof *cb);
	cb->aio_lio_opcode = (uint16_t)op;
	cb->aio_fildes = (uint32_t)fd;
	cb->aio_buf = (uint64_t)(uintptr_t)buf;
	cb->aio_nbytes = n;
	cb->aio_offset = off;
	cb->aio_data = data;
}

struct late_submit {
	aio_context_t ctx;
	int fd;
	char buf[8];
	struct iocb cb;
};

static void *late_submitter(void *arg)
{
	struct late_submit *ls = arg;
	struct iocb *p = &ls->cb;
	struct timespec d = {0, 200 * 1000 * 1000};
	nanosleep(&d, NULL);
	prep(&ls->cb, IOCB_CMD_PWRITE, ls->fd, ls->buf, 4, 100, 77);
	if (io_submit_(ls->ctx, 1, &p) != 1)
		perror("late io_submit");
	return NULL;
}

/* raft's probeAsyncIO: one PWRITE with RWF_NOWAIT on an O_DIRECT fd. */
static void raft_probe(const char *dir)
{
	char path[4096];
	aio_context_t ctx = 0;
	struct iocb cb, *p = &cb;
	struct io_event ev;
	void *buf;
	size_t size = 4096;
	long r;
	int fd;

	snprintf(path, sizeof path, "%s/aio-test.direct.%d", dir, (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		CHECK(0, "open %s: %s", path, strerror(errno));
		return;
	}
	unlink(path);
	if (posix_fallocate(fd, 0, (off_t)size * 4) != 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_DIRECT) != 0) {
		printf("skip raft probe: no O_DIRECT/fallocate here (%s); dqlite "
		       "then skips probeAsyncIO too\n", strerror(errno));
		close(fd);
		return;
	}
	if (posix_memalign(&buf, size, size) != 0)
		abort();
	memset(buf, 0, size);
	CHECK(io_setup_(1, &ctx) == 0, "probe: io_setup(1)");
	prep(&cb, IOCB_CMD_PWRITE, fd, buf, size, 0, 0);
	cb.aio_rw_flags = RWF_NOWAIT;
	r = io_submit_(ctx, 1, &p);
	if (r < 0 && (errno == EOPNOTSUPP || errno == EINVAL)) {
		printf("probe: io_submit RWF_NOWAIT -> %s: raft would use the "
		       "thread pool (async=false)\n", strerror(errno));
	} else {
		CHECK(r == 1, "probe: io_submit(PWRITE, RWF_NOWAIT, O_DIRECT) = %ld", r);
		r = io_getevents_(ctx, 1, 1, &ev, NULL);
		CHECK(r == 1 && ev.res == (long long)size,
		      "probe: io_getevents = %ld, res = %lld (raft wants res == %zu "
		      "for async=true)", r, (long long)ev.res, size);
	}
	CHECK(io_destroy_(ctx) == 0, "probe: io_destroy");
	free(buf);
	close(fd);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : ".";
	char path[4096];
	aio_context_t ctx = 0, bad = 0;
	struct iocb cbs[6], *ptrs[6];
	struct io_event ev[8];
	char rbuf[32], rv1[6], rv2[6];
	struct iovec wiov[2], riov[2];
	uint64_t count = 0;
	long r;
	int fd, efd;

	printf("aio-test: sizeof(long)=%zu sizeof(struct iocb)=%zu "
	       "__NR_io_setup=%d\n", sizeof(long), sizeof(struct iocb),
	       (int)__NR_io_setup);

	r = io_setup_(8, &ctx);
	if (r != 0) {
		printf("io_setup: %s\n", strerror(errno));
		return errno == ENOSYS ? 2 : 1;
	}
	CHECK(ctx != 0, "io_setup(8) -> ctx %#lx", (unsigned long)ctx);
	CHECK(io_setup_(8, &ctx) == -1 && errno == EINVAL,
	      "io_setup with *ctxp != 0 -> EINVAL");

	snprintf(path, sizeof path, "%s/aio-test.%d", dir, (int)getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0) {
		perror(path);
		return 1;
	}
	unlink(path);
	efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	CHECK(efd >= 0, "eventfd");

	/* 1: PWRITE + RESFD, PWRITEV, FDSYNC in one io_submit */
	prep(&cbs[0], IOCB_CMD_PWRITE, fd, "hello ", 6, 0, 1001);
	cbs[0].aio_flags = IOCB_FLAG_RESFD;
	cbs[0].aio_resfd = (uint32_t)efd;
	wiov[0].iov_base = "world";
	wiov[0].iov_len = 5;
	wiov[1].iov_base = "!\n";
	wiov[1].iov_len = 2;
	prep(&cbs[1], IOCB_CMD_PWRITEV, fd, wiov, 2, 6, 1002);
	cbs[1].aio_flags = IOCB_FLAG_RESFD;
	cbs[1].aio_resfd = (uint32_t)efd;
	cbs[1].aio_rw_flags = RWF_DSYNC;
	prep(&cbs[2], IOCB_CMD_FDSYNC, fd, NULL, 0, 0, 1003);
	for (int i = 0; i < 3; i++)
		ptrs[i] = &cbs[i];
	r = io_submit_(ctx, 3, ptrs);
	CHECK(r == 3, "io_submit(PWRITE+RESFD, PWRITEV+RESFD+RWF_DSYNC, FDSYNC) = %ld", r);
	/* A real kernel completes asynchronously and in any order: wait for
	 * all three, then match events by aio_data. */
	r = io_getevents_(ctx, 3, 8, ev, NULL);
	CHECK(r == 3, "io_getevents(min 3, max 8) = %ld", r);
	for (long i = 0; i < r && i < 3; i++) {
		long k = (long)ev[i].data - 1001;
		long long want = k == 0 ? 6 : k == 1 ? 7 : 0;
		CHECK(k >= 0 && k < 3 && ev[i].obj == (uint64_t)(uintptr_t)&cbs[k] &&
		      ev[i].res == want, "event data=%llu res=%lld (want %lld)",
		      (unsigned long long)ev[i].data, (long long)ev[i].res, want);
	}
	/* Events are posted before the eventfd is signalled. */
	CHECK(read(efd, &count, sizeof count) == 8 && count == 2,
	      "eventfd counter = %llu (want 2: two iocbs had IOCB_FLAG_RESFD)",
	      (unsigned long long)count);

	/* 2: PREAD and PREADV back */
	memset(rbuf, 0, sizeof rbuf);
	prep(&cbs[3], IOCB_CMD_PREAD, fd, rbuf, sizeof rbuf, 0, 2001);
	riov[0].iov_base = rv1;
	riov[0].iov_len = 6;
	riov[1].iov_base = rv2;
	riov[1].iov_len = 5;
	prep(&cbs[4], IOCB_CMD_PREADV, fd, riov, 2, 0, 2002);
	prep(&cbs[5], IOCB_CMD_FSYNC, fd, NULL, 0, 0, 2003);
	ptrs[0] = &cbs[3];
	ptrs[1] = &cbs[4];
	ptrs[2] = &cbs[5];
	r = io_submit_(ctx, 3, ptrs);
	CHECK(r == 3, "io_submit(PREAD, PREADV, FSYNC) = %ld", r);
	r = io_getevents_(ctx, 3, 3, ev, NULL);
	{
		long long res[3] = {-1, -1, -1};
		for (long i = 0; i < r && i < 3; i++)
			if (ev[i].data >= 2001 && ev[i].data <= 2003)
				res[ev[i].data - 2001] = ev[i].res;
		CHECK(r == 3 && res[0] == 13 && res[1] == 11 && res[2] == 0,
		      "io_getevents(3,3) = %ld, res %lld/%lld/%lld (want 13/11/0)",
		      r, res[0], res[1], res[2]);
	}
	CHECK(memcmp(rbuf, "hello world!\n", 13) == 0 &&
	      memcmp(rv1, "hello ", 6) == 0 && memcmp(rv2, "world", 5) == 0,
	      "data read back: \"%.12s\"", rbuf);

	/* 3: timeout path, empty queue */
	{
		struct kts t = {0, 50 * 1000 * 1000};
		r = io_getevents_(ctx, 1, 8, ev, &t);
		CHECK(r == 0, "io_getevents with 50 ms timeout on empty queue = %ld", r);
	}

	/* 4: a waiter blocked in io_getevents is woken by another thread */
	{
		static struct late_submit ls;
		pthread_t th;
		ls.ctx = ctx;
		ls.fd = fd;
		memcpy(ls.buf, "late", 4);
		pthread_create(&th, NULL, late_submitter, &ls);
		r = io_getevents_(ctx, 1, 1, ev, NULL);
		pthread_join(th, NULL);
		CHECK(r == 1 && ev[0].data == 77 && ev[0].res == 4,
		      "blocked io_getevents woken by a submit from another thread");
	}

	/* 5: errors */
	prep(&cbs[0], IOCB_CMD_PWRITE, 9999, "x", 1, 0, 0);
	ptrs[0] = &cbs[0];
	CHECK(io_submit_(ctx, 1, ptrs) == -1 && errno == EBADF,
	      "io_submit with a bad fd -> EBADF");
	prep(&cbs[0], 42, fd, "x", 1, 0, 0);
	CHECK(io_submit_(ctx, 1, ptrs) == -1 && errno == EINVAL,
	      "io_submit with an unknown opcode -> EINVAL");
	bad = ctx + 12345;
	CHECK(io_submit_(bad, 1, ptrs) == -1 && errno == EINVAL,
	      "io_submit on a bad context -> EINVAL");
	CHECK(io_getevents_(ctx, 2, 1, ev, NULL) == -1 && errno == EINVAL,
	      "io_getevents min_nr > nr -> EINVAL");

	/* 6: other syscalls still pass through syscall() */
	CHECK(syscall(SYS_getpid) == getpid(), "syscall(SYS_getpid) passes through");
	{
		void *m;
#ifdef SYS_mmap2
		m = (void *)syscall(SYS_mmap2, NULL, 4096, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
#else
		m = (void *)syscall(SYS_mmap, NULL, 4096, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
#endif
		CHECK(m != MAP_FAILED && m != NULL, "6-argument mmap through syscall()");
		if (m != MAP_FAILED)
			munmap(m, 4096);
	}

	CHECK(io_destroy_(ctx) == 0, "io_destroy");
	CHECK(io_destroy_(ctx) == -1 && errno == EINVAL, "io_destroy twice -> EINVAL");
	close(efd);
	close(fd);

	raft_probe(dir);

	printf("%s: %d failure(s)\n", failures ? "FAILED" : "PASSED", failures);
	return failures ? 1 : 0;
}
