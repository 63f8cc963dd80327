/*
 * The libc calls the shim takes over.
 *
 * - open()/open64() of xsd_port and xsd_kva under /proc/xen/ or /dev/xen/:
 *   a memfd holding $XSSHIM_DOM0_PORT (default "1"), and dom0's ring page
 *   (ring-0 in simring mode, else a zeroed memfd page).
 * - oxenstored hard-codes /var/run/xenstored (its socket, and a "db" dump
 *   at exit): with XSSHIM_RUNDIR set, open/bind/unlink/mkdir of that
 *   directory or anything in it (also under /run/xenstored) go to
 *   $XSSHIM_RUNDIR instead. C xenstored follows XENSTORED_RUNDIR itself.
 * - setrlimit(RLIMIT_NOFILE): oxenstored raises the limit to
 *   /proc/sys/fs/nr_open and dies with EPERM without CAP_SYS_RESOURCE; the
 *   request is clamped to the current hard limit.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "shim.h"

/* The types of the libc functions taken over. */
typedef int open_fn(const char *, int, ...);
typedef int bind_fn(int, const struct sockaddr *, socklen_t);
typedef int unlink_fn(const char *);
typedef int mkdir_fn(const char *, mode_t);
typedef int setrlimit_fn(__rlimit_resource_t, const struct rlimit *);

/* Declares real_<name>, the next definition of name (libc's), looked up
 * on first use. */
#define REAL(type, name)                                      \
	static type *real_##name;                             \
	if (!real_##name)                                     \
		real_##name = (type *)dlsym(RTLD_NEXT, #name)

int shim_real_open(const char *path, int flags, mode_t mode)
{
	REAL(open_fn, open);
	return real_open(path, flags, mode);
}

/* What a dom0 file of the xenbus driver is, or 0 for any other path. */
enum xen_file { OTHER, XSD_PORT, XSD_KVA };

static enum xen_file xen_file(const char *path)
{
	if (!strcmp(path, "/proc/xen/xsd_port") || !strcmp(path, "/dev/xen/xsd_port"))
		return XSD_PORT;
	if (!strcmp(path, "/proc/xen/xsd_kva") || !strcmp(path, "/dev/xen/xsd_kva"))
		return XSD_KVA;
	return OTHER;
}

/* An fd standing in for one of the xenbus driver's files. */
static int open_xen_file(enum xen_file which)
{
	const char *port = getenv("XSSHIM_DOM0_PORT");
	int fd;

	if (which == XSD_KVA && sim_dir())
		return sim_open_dom0_ring();
	fd = memfd_create(which == XSD_PORT ? "xsd_port" : "xsd_kva", MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	if (which == XSD_PORT) {
		if (!port || !*port)
			port = "1";
		if (write(fd, port, strlen(port)) != (ssize_t)strlen(port) ||
		    lseek(fd, 0, SEEK_SET) < 0)
			goto fail;
	} else if (ftruncate(fd, PAGE_BYTES) < 0) {
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/* The redirected form of a path under the hard-coded run directory, in buf,
 * or path itself. */
static const char *redirect(const char *path, char *buf, size_t size)
{
	static const char *const dirs[] = { "/var/run/xenstored", "/run/xenstored" };
	const char *to = getenv("XSSHIM_RUNDIR");
	size_t i, n;
	int len;

	if (!path || !to || !*to)
		return path;
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		n = strlen(dirs[i]);
		if (strncmp(path, dirs[i], n) || (path[n] != '/' && path[n] != '\0'))
			continue;
		len = snprintf(buf, size, "%s%s", to, path + n);
		if (len < 0 || (size_t)len >= size)
			return path;
		shim_log("%s -> %s", path, buf);
		return buf;
	}
	return path;
}

/* open() and open64() share this: ap holds their variable arguments, where
 * the mode is only there with O_CREAT or O_TMPFILE. */
static int open_common(open_fn *real, const char *path, int flags, va_list ap)
{
	char buf[4096];
	enum xen_file which = path ? xen_file(path) : OTHER;
	mode_t mode = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE
			      ? va_arg(ap, mode_t) : 0;

	if (which != OTHER) {
		int fd = open_xen_file(which);

		shim_log("open(%s) -> fd %d", path, fd);
		return fd;
	}
	return real(redirect(path, buf, sizeof(buf)), flags, mode);
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	int fd;

	REAL(open_fn, open);
	va_start(ap, flags);
	fd = open_common(real_open, path, flags, ap);
	va_end(ap);
	return fd;
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	int fd;

	REAL(open_fn, open64);
	va_start(ap, flags);
	fd = open_common(real_open64, path, flags, ap);
	va_end(ap);
	return fd;
}

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct sockaddr_un moved = { .sun_family = AF_UNIX };
	const struct sockaddr_un *un = (const struct sockaddr_un *)addr;
	char buf[sizeof(moved.sun_path)];
	const char *to;

	REAL(bind_fn, bind);
	if (!addr || addr->sa_family != AF_UNIX || len <= offsetof(struct sockaddr_un, sun_path))
		return real_bind(fd, addr, len);
	to = redirect(un->sun_path, buf, sizeof(buf));
	if (to == un->sun_path)
		return real_bind(fd, addr, len);
	memcpy(moved.sun_path, to, strlen(to) + 1);
	return real_bind(fd, (const struct sockaddr *)&moved, sizeof(moved));
}

int unlink(const char *path)
{
	char buf[4096];

	REAL(unlink_fn, unlink);
	return real_unlink(redirect(path, buf, sizeof(buf)));
}

int mkdir(const char *path, mode_t mode)
{
	char buf[4096];

	REAL(mkdir_fn, mkdir);
	return real_mkdir(redirect(path, buf, sizeof(buf)), mode);
}

int setrlimit(__rlimit_resource_t resource, const struct rlimit *want)
{
	struct rlimit now, clamped;

	REAL(setrlimit_fn, setrlimit);
	if (resource != RLIMIT_NOFILE || getrlimit(RLIMIT_NOFILE, &now) < 0)
		return real_setrlimit(resource, want);
	clamped = *want;
	if (clamped.rlim_max > now.rlim_max)
		clamped.rlim_max = now.rlim_max;
	if (clamped.rlim_cur > clamped.rlim_max)
		clamped.rlim_cur = clamped.rlim_max;
	if (clamped.rlim_max != want->rlim_max)
		shim_log("setrlimit(NOFILE, %llu) clamped to %llu",
			 (unsigned long long)want->rlim_max,
			 (unsigned long long)clamped.rlim_max);
	return real_setrlimit(resource, &clamped);
}
