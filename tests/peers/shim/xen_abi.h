/*
 * The few pieces of the Xen 4.17 tools ABI the shim fills in, mirrored here
 * so that building the shim needs no libxen-dev headers. Each name is Xen's
 * with an ABI_ prefix, so that abi_check.c can hold both side by side.
 *
 * Sources: xenctrl.h (xc_dominfo_t, xc_error), public/domctl.h (struct
 * xen_domctl_getdomaininfo, XEN_DOMINF_*), public/arch-x86/xen.h (struct
 * xen_arch_domainconfig), public/sched.h (SHUTDOWN_crash), public/xen.h
 * (DOMID_FIRST_RESERVED), public/grant_table.h (GNTTAB_RESERVED_XENSTORE),
 * xenevtchn.h (XENEVTCHN_NO_CLOEXEC). Only x86_64 is mirrored: that is what
 * Debian's xen-utils-4.17 is built for here.
 *
 * abi_check.c compares every layout and value below with the real headers
 * (`peers abi-check`, run once by `peers setup`).
 */
#ifndef PEERS_XEN_ABI_H
#define PEERS_XEN_ABI_H

#include <stdint.h>

/* No domain id at or above this one names a real domain. */
#define ABI_DOMID_FIRST_RESERVED 0x7FF0U

/* The shutdown reason a crashed domain reports. */
#define ABI_SHUTDOWN_crash 3

/* The grant reference the toolstack reserves for the xenstore ring page. */
#define ABI_GNTTAB_RESERVED_XENSTORE 1

/* xenevtchn_open() flag: leave close-on-exec off. */
#define ABI_XENEVTCHN_NO_CLOEXEC (1U << 0)

/* struct xen_domctl_getdomaininfo.flags. */
#define ABI_XEN_DOMINF_dying (1U << 0)
#define ABI_XEN_DOMINF_shutdown (1U << 2)
#define ABI_XEN_DOMINF_running (1U << 5)
#define ABI_XEN_DOMINF_shutdownmask 255U
#define ABI_XEN_DOMINF_shutdownshift 16

/* Length of xc_error.message. */
#define ABI_XC_MAX_ERROR_MSG_LEN 1024

/* struct xen_arch_domainconfig (x86). */
struct abi_arch_domainconfig {
	uint32_t emulation_flags;
	uint32_t misc_flags;
};

/* xc_dominfo_t: what xc_domain_getinfo() fills (C xenstored reads domid,
 * dying, crashed and shutdown). */
struct abi_dominfo {
	uint32_t domid;
	uint32_t ssidref;
	unsigned int dying : 1, crashed : 1, shutdown : 1, paused : 1,
		blocked : 1, running : 1, hvm : 1, debugged : 1, xenstore : 1,
		hap : 1;
	unsigned int shutdown_reason;
	unsigned long nr_pages;
	unsigned long nr_outstanding_pages;
	unsigned long nr_shared_pages;
	unsigned long nr_paged_pages;
	unsigned long shared_info_frame;
	uint64_t cpu_time;
	unsigned long max_memkb;
	unsigned int nr_online_vcpus;
	unsigned int max_vcpu_id;
	uint8_t handle[16];
	unsigned int cpupool;
	uint8_t gpaddr_bits;
	struct abi_arch_domainconfig arch_config;
};

/* xc_domaininfo_t = struct xen_domctl_getdomaininfo: what
 * xc_domain_getinfolist() fills (oxenstored reads domain and flags, and
 * copies the rest into an OCaml record). */
struct abi_domaininfo {
	uint16_t domain;
	uint16_t pad1;
	uint32_t flags;
	uint64_t tot_pages;
	uint64_t max_pages;
	uint64_t outstanding_pages;
	uint64_t shr_pages;
	uint64_t paged_pages;
	uint64_t shared_info_frame;
	uint64_t cpu_time;
	uint32_t nr_online_vcpus;
	uint32_t max_vcpu_id;
	uint32_t ssidref;
	uint8_t handle[16];
	uint32_t cpupool;
	uint8_t gpaddr_bits;
	uint8_t pad2[7];
	struct abi_arch_domainconfig arch_config;
};

/* xc_error: what xc_get_last_error() points to. */
struct abi_xc_error {
	int code;
	char message[ABI_XC_MAX_ERROR_MSG_LEN];
};

#endif
