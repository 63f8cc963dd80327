/*
 * Internal interfaces of the peers shim (LD_PRELOAD), which lets Debian's
 * C xenstored 4.17 and oxenstored 4.17 run on plain Linux. See
 * tests/peers/README.md for what it fakes and for the simring convention.
 *
 *   simring.c   the simring directory: paths, ring pages, domain markers
 *   evtchn.c    libxenevtchn over datagram sockets (simring) or nothing
 *   xenctrl.c   libxenctrl and libxengnttab: domain info, page mappings
 *   libc.c      open/bind/unlink/mkdir/setrlimit: /proc/xen files and
 *               oxenstored's hard-coded paths and rlimit
 */
#ifndef PEERS_SHIM_H
#define PEERS_SHIM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The size of a ring page (struct xenstore_domain_interface fills it). */
#define PAGE_BYTES 4096

/* Logs one line to stderr when XSSHIM_DEBUG is set. */
void shim_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The real open(2), bypassing our interposer. */
int shim_real_open(const char *path, int flags, mode_t mode);

/* $SIMRING_DIR, or NULL in socket-only mode. */
const char *sim_dir(void);

/* Writes "$SIMRING_DIR/<name>-<domid>" (or ".../<name>" when domid < 0)
 * into buf; -1 when it does not fit. */
int sim_path(char *buf, size_t size, const char *name, long domid);

/* Maps ring-<domid> shared, creating it (zero-filled, one page) when
 * missing; NULL on failure. Never truncates an existing page. */
void *sim_map_ring(uint32_t domid);

/* Opens dom0's page ring-0 afresh (created or emptied, then one zeroed
 * page); the fd, or -1. */
int sim_open_dom0_ring(void);

/* A domain as the marker files describe it. */
struct sim_domain {
	int exists;
	int dying;
	int shutdown;
	int reason;	/* shutdown reason, when shutdown */
};

/* Fills *d for domid: from the markers in simring mode; without
 * SIMRING_DIR every domid below DOMID_FIRST_RESERVED exists and runs. */
void sim_domain_state(uint32_t domid, struct sim_domain *d);

#endif
