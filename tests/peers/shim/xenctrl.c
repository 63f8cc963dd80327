/*
 * libxenctrl and libxengnttab, as far as the two daemons use them: a dummy
 * interface handle, domain information from the simring markers, and guest
 * ring pages.
 *
 * C xenstored maps a guest's page with xengnttab_map_grant_ref(domid,
 * GNTTAB_RESERVED_XENSTORE) and asks about domains with
 * xc_domain_getinfo(); oxenstored maps with xc_map_foreign_range(domid,
 * gfn) and asks with xc_domain_getinfolist(). In simring mode both mappings
 * are ring-<domid> (the gfn is ignored); without SIMRING_DIR they are
 * private zeroed pages that nobody else sees.
 *
 * The handles' types are opaque to the callers, so the prototypes below use
 * void pointers; C symbol names carry no types.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "shim.h"
#include "xen_abi.h"

/* What xc_interface_open() hands out. Callers only pass it back to us. */
static char interface_handle[64];
static struct abi_xc_error last_error;

void *xc_interface_open(void *logger, void *dombuild_logger, unsigned flags)
{
	(void)logger;
	(void)dombuild_logger;
	(void)flags;
	return interface_handle;
}

int xc_interface_close(void *xch)
{
	(void)xch;
	return 0;
}

const struct abi_xc_error *xc_get_last_error(void *xch)
{
	(void)xch;
	return &last_error;
}

void xc_clear_last_error(void *xch)
{
	(void)xch;
}

/* One entry of xc_domain_getinfo(): 1 if first_domid exists, else 0 (the
 * real call would go on to the next domain; both daemons check the id). */
int xc_domain_getinfo(void *xch, uint32_t first_domid, unsigned int max_doms,
		      struct abi_dominfo *info)
{
	struct sim_domain d;

	(void)xch;
	sim_domain_state(first_domid, &d);
	shim_log("xc_domain_getinfo(%u): exists %d dying %d shutdown %d reason %d",
		 first_domid, d.exists, d.dying, d.shutdown, d.reason);
	if (max_doms == 0 || !d.exists) {
		errno = ESRCH;
		return 0;
	}
	memset(info, 0, sizeof(*info));
	info->domid = first_domid;
	info->dying = d.dying;
	/* libxenctrl reports a crash as crashed=1, shutdown=0. */
	if (d.shutdown && d.reason == ABI_SHUTDOWN_crash)
		info->crashed = 1;
	else if (d.shutdown)
		info->shutdown = 1;
	info->shutdown_reason = d.shutdown ? (unsigned int)d.reason : 0;
	info->running = !d.dying && !d.shutdown;
	return 1;
}

int xc_domain_getinfolist(void *xch, uint32_t first_domain,
			  unsigned int max_domains, struct abi_domaininfo *info)
{
	struct sim_domain d;
	uint32_t flags = 0;

	(void)xch;
	sim_domain_state(first_domain, &d);
	shim_log("xc_domain_getinfolist(%u): exists %d dying %d shutdown %d reason %d",
		 first_domain, d.exists, d.dying, d.shutdown, d.reason);
	if (max_domains == 0 || !d.exists) {
		errno = ESRCH;
		return 0;
	}
	if (d.dying)
		flags |= ABI_XEN_DOMINF_dying;
	if (d.shutdown)
		flags |= ABI_XEN_DOMINF_shutdown |
			 (((uint32_t)d.reason & ABI_XEN_DOMINF_shutdownmask)
			  << ABI_XEN_DOMINF_shutdownshift);
	if (!d.dying && !d.shutdown)
		flags |= ABI_XEN_DOMINF_running;
	memset(info, 0, sizeof(*info));
	info->domain = (uint16_t)first_domain;
	info->flags = flags;
	return 1;
}

/* A private zeroed mapping: the page of a guest nobody plays. */
static void *private_page(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void *xc_map_foreign_range(void *xch, uint32_t dom, int size, int prot,
			   unsigned long gfn)
{
	(void)xch;
	(void)prot;
	shim_log("xc_map_foreign_range(dom %u, gfn %#lx, %d bytes)", dom, gfn, size);
	if (sim_dir() && size <= PAGE_BYTES)
		return sim_map_ring(dom);
	return private_page(size > 0 ? (size_t)size : PAGE_BYTES);
}

/* libxengnttab: the handle is never looked into either. */
static char gnttab_handle[64];

void *xengnttab_open(void *logger, unsigned open_flags)
{
	(void)logger;
	(void)open_flags;
	return gnttab_handle;
}

int xengnttab_close(void *xgt)
{
	(void)xgt;
	return 0;
}

int xengnttab_set_max_grants(void *xgt, uint32_t count)
{
	(void)xgt;
	(void)count;
	return 0;
}

void *xengnttab_map_grant_ref(void *xgt, uint32_t domid, uint32_t ref, int prot)
{
	(void)xgt;
	(void)prot;
	shim_log("xengnttab_map_grant_ref(dom %u, ref %u)", domid, ref);
	if (sim_dir() && ref == ABI_GNTTAB_RESERVED_XENSTORE)
		return sim_map_ring(domid);
	return private_page(PAGE_BYTES);
}

int xengnttab_unmap(void *xgt, void *start, uint32_t count)
{
	(void)xgt;
	return munmap(start, (size_t)count * PAGE_BYTES);
}
