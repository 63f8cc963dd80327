/*
 * The simring directory on the daemon's side: ring pages (convention
 * section 1) and domain-state markers (section 3). The event channels
 * (section 2) are in evtchn.c.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shim.h"
#include "xen_abi.h"

void shim_log(const char *fmt, ...)
{
	static int enabled = -1;
	va_list ap;

	if (enabled < 0)
		enabled = getenv("XSSHIM_DEBUG") != NULL;
	if (!enabled)
		return;
	va_start(ap, fmt);
	fputs("[peers-shim] ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

const char *sim_dir(void)
{
	const char *dir = getenv("SIMRING_DIR");

	return dir && *dir ? dir : NULL;
}

int sim_path(char *buf, size_t size, const char *name, long domid)
{
	int n;

	if (domid < 0)
		n = snprintf(buf, size, "%s/%s", sim_dir(), name);
	else
		n = snprintf(buf, size, "%s/%s-%ld", sim_dir(), name, domid);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* Makes fd at least one page long (new bytes read as zero). */
static int grow_to_page(int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -1;
	if (st.st_size < PAGE_BYTES && ftruncate(fd, PAGE_BYTES) < 0)
		return -1;
	return 0;
}

void *sim_map_ring(uint32_t domid)
{
	char path[4096];
	void *page;
	int fd;

	if (sim_path(path, sizeof(path), "ring", domid) < 0)
		return NULL;
	fd = shim_real_open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return NULL;
	if (grow_to_page(fd) < 0) {
		close(fd);
		return NULL;
	}
	page = mmap(NULL, PAGE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	shim_log("mapped %s", path);
	return page == MAP_FAILED ? NULL : page;
}

int sim_open_dom0_ring(void)
{
	char path[4096];
	int fd;

	mkdir(sim_dir(), 0755);
	if (sim_path(path, sizeof(path), "ring", 0) < 0)
		return -1;
	/* O_TRUNC then growing again: a fresh page of zeroes. */
	fd = shim_real_open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0 && grow_to_page(fd) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Whether the marker <name>-<domid> exists. */
static int marker(const char *name, uint32_t domid)
{
	char path[4096];

	return sim_path(path, sizeof(path), name, domid) == 0 &&
	       access(path, F_OK) == 0;
}

/* The decimal shutdown reason in shutdown-<domid>; empty means 0. */
static int shutdown_reason(uint32_t domid)
{
	char path[4096], text[16] = "";
	ssize_t n;
	int fd;

	if (sim_path(path, sizeof(path), "shutdown", domid) < 0)
		return 0;
	fd = shim_real_open(path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	text[n > 0 ? n : 0] = '\0';
	return atoi(text);
}

void sim_domain_state(uint32_t domid, struct sim_domain *d)
{
	memset(d, 0, sizeof(*d));
	if (domid >= ABI_DOMID_FIRST_RESERVED)
		return;
	d->exists = 1;
	if (!sim_dir())
		return;
	if (domid != 0 && marker("gone", domid)) {
		d->exists = 0;
		return;
	}
	d->dying = marker("dying", domid);
	d->shutdown = marker("shutdown", domid);
	if (d->shutdown)
		d->reason = shutdown_reason(domid);
}
