/* Bench helper (bench/pywheels-vs-emulated.sh): without binfmt_misc, a
 * program running under qemu-user cannot start another target program
 * (the kernel does not know the format). Preloaded into every emulated
 * process, this runs target executables through the same qemu, as
 * binfmt_misc does for cibuildwheel's containers. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static int is_target_elf(const char *path)
{
    unsigned char h[20];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, h, sizeof h);
    close(fd);
    return n == (ssize_t)sizeof h && memcmp(h, "\177ELF", 4) == 0 && h[18] == 40 && h[19] == 0;
}

/* argv for qemu: QEMU -L ROOT -0 ARGV0 PATH ARGS... (malloc'd; NULL if not a target program). */
static char **wrap(const char *path, char *const argv[])
{
    const char *qemu = getenv("EMU_QEMU"), *root = getenv("EMU_ROOT");
    if (!qemu || !root || !is_target_elf(path))
        return NULL;
    size_t n = 0;
    while (argv[n])
        n++;
    char **out = calloc(n + 7, sizeof *out);
    if (!out)
        return NULL;
    size_t i = 0;
    out[i++] = (char *)qemu;
    out[i++] = "-L";
    out[i++] = (char *)root;
    out[i++] = "-0";
    out[i++] = n ? argv[0] : (char *)path;
    out[i++] = (char *)path;
    for (size_t k = 1; k < n; k++)
        out[i++] = argv[k];
    return out;
}

int execve(const char *path, char *const argv[], char *const envp[])
{
    int (*real)(const char *, char *const[], char *const[]) = dlsym(RTLD_NEXT, "execve");
    char **w = wrap(path, argv);
    if (w)
        return real(w[0], w, envp);
    return real(path, argv, envp);
}

int execv(const char *path, char *const argv[])
{
    return execve(path, argv, environ);
}

static int search(const char *file, char *buf)
{
    if (strchr(file, '/')) {
        strncpy(buf, file, PATH_MAX - 1);
        buf[PATH_MAX - 1] = 0;
        return 0;
    }
    const char *p = getenv("PATH");
    if (!p)
        p = "/usr/bin:/bin";
    while (*p) {
        const char *e = strchr(p, ':');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len + strlen(file) + 2 < PATH_MAX) {
            memcpy(buf, p, len);
            buf[len] = '/';
            strcpy(buf + len + 1, file);
            if (access(buf, X_OK) == 0)
                return 0;
        }
        p = e ? e + 1 : p + len;
    }
    errno = ENOENT;
    return -1;
}

int execvp(const char *file, char *const argv[])
{
    char buf[PATH_MAX];
    if (search(file, buf) < 0)
        return -1;
    return execve(buf, argv, environ);
}

int execvpe(const char *file, char *const argv[], char *const envp[])
{
    char buf[PATH_MAX];
    if (search(file, buf) < 0)
        return -1;
    return execve(buf, argv, envp);
}

int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                const posix_spawnattr_t *at, char *const argv[], char *const envp[])
{
    int (*real)(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
                char *const[], char *const[]) = dlsym(RTLD_NEXT, "posix_spawn");
    char **w = wrap(path, argv);
    if (w)
        return real(pid, w[0], fa, at, w, envp);
    return real(pid, path, fa, at, argv, envp);
}

int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                 const posix_spawnattr_t *at, char *const argv[], char *const envp[])
{
    char buf[PATH_MAX];
    if (search(file, buf) < 0)
        return errno;
    return posix_spawn(pid, buf, fa, at, argv, envp);
}
