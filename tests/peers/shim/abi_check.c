/*
 * Checks xen_abi.h against the real Xen 4.17 headers (libxen-dev), which
 * `peers abi-check` unpacks into the cache: every mirrored struct must have
 * the same size and field offsets, the xc_dominfo_t bit-fields the same
 * bits, and the constants the same values. Prints one line and exits 0 when
 * everything matches.
 *
 * Build: cc -I<libxen-dev>/usr/include abi_check.c -o abi_check
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <xenctrl.h>
#include <xenevtchn.h>
#include <xen/grant_table.h>
#include <xen/sched.h>

#include "xen_abi.h"

#define SAME_SIZE(mine, theirs) \
	_Static_assert(sizeof(mine) == sizeof(theirs), #mine " size")
#define SAME_FIELD(mine, theirs, field)                                  \
	_Static_assert(offsetof(mine, field) == offsetof(theirs, field), \
		       #mine "." #field " offset")
#define SAME_VALUE(a, b) _Static_assert((a) == (b), #a)

SAME_SIZE(struct abi_arch_domainconfig, struct xen_arch_domainconfig);
SAME_FIELD(struct abi_arch_domainconfig, struct xen_arch_domainconfig, emulation_flags);
SAME_FIELD(struct abi_arch_domainconfig, struct xen_arch_domainconfig, misc_flags);

SAME_SIZE(struct abi_dominfo, xc_dominfo_t);
SAME_FIELD(struct abi_dominfo, xc_dominfo_t, domid);
SAME_FIELD(struct abi_dominfo, xc_dominfo_t, ssidref);
SAME_FIELD(struct abi_dominfo, xc_dominfo_t, shutdown_reason);
SAME_FIELD(struct abi_dominfo, xc_dominfo_t, nr_pages);
SAME_FIELD(struct abi_dominfo, xc_dominfo_t, cpu_time);
SAME_FIELD(struct abi_dominfo, xc_dominfo_t, max_memkb);
SAME_FIELD(struct abi_dominfo, xc_dominfo_t, handle);
SAME_FIELD(struct abi_dominfo, xc_dominfo_t, cpupool);
SAME_FIELD(struct abi_dominfo, xc_dominfo_t, gpaddr_bits);
SAME_FIELD(struct abi_dominfo, xc_dominfo_t, arch_config);

SAME_SIZE(struct abi_domaininfo, xc_domaininfo_t);
SAME_FIELD(struct abi_domaininfo, xc_domaininfo_t, domain);
SAME_FIELD(struct abi_domaininfo, xc_domaininfo_t, flags);
SAME_FIELD(struct abi_domaininfo, xc_domaininfo_t, tot_pages);
SAME_FIELD(struct abi_domaininfo, xc_domaininfo_t, cpu_time);
SAME_FIELD(struct abi_domaininfo, xc_domaininfo_t, nr_online_vcpus);
SAME_FIELD(struct abi_domaininfo, xc_domaininfo_t, ssidref);
SAME_FIELD(struct abi_domaininfo, xc_domaininfo_t, handle);
SAME_FIELD(struct abi_domaininfo, xc_domaininfo_t, cpupool);
SAME_FIELD(struct abi_domaininfo, xc_domaininfo_t, gpaddr_bits);
SAME_FIELD(struct abi_domaininfo, xc_domaininfo_t, arch_config);

SAME_SIZE(struct abi_xc_error, xc_error);
SAME_FIELD(struct abi_xc_error, xc_error, message);

SAME_VALUE(ABI_DOMID_FIRST_RESERVED, DOMID_FIRST_RESERVED);
SAME_VALUE(ABI_SHUTDOWN_crash, SHUTDOWN_crash);
SAME_VALUE(ABI_GNTTAB_RESERVED_XENSTORE, GNTTAB_RESERVED_XENSTORE);
SAME_VALUE(ABI_XENEVTCHN_NO_CLOEXEC, XENEVTCHN_NO_CLOEXEC);
SAME_VALUE(ABI_XEN_DOMINF_dying, XEN_DOMINF_dying);
SAME_VALUE(ABI_XEN_DOMINF_shutdown, XEN_DOMINF_shutdown);
SAME_VALUE(ABI_XEN_DOMINF_running, XEN_DOMINF_running);
SAME_VALUE(ABI_XEN_DOMINF_shutdownmask, XEN_DOMINF_shutdownmask);
SAME_VALUE(ABI_XEN_DOMINF_shutdownshift, XEN_DOMINF_shutdownshift);
SAME_VALUE(ABI_XC_MAX_ERROR_MSG_LEN, XC_MAX_ERROR_MSG_LEN);

/* Sets one bit-field in the real struct and expects the same bytes as
 * setting it in ours; offsetof cannot name bit-fields. */
#define SAME_BIT(field)                                                   \
	do {                                                              \
		xc_dominfo_t theirs;                                      \
		struct abi_dominfo mine;                                  \
		memset(&theirs, 0, sizeof(theirs));                       \
		memset(&mine, 0, sizeof(mine));                           \
		theirs.field = 1;                                         \
		mine.field = 1;                                           \
		if (memcmp(&theirs, &mine, sizeof(mine))) {               \
			printf("abi-check: xc_dominfo_t." #field          \
			       " is another bit\n");                      \
			return 1;                                         \
		}                                                         \
	} while (0)

int main(void)
{
	SAME_BIT(dying);
	SAME_BIT(crashed);
	SAME_BIT(shutdown);
	SAME_BIT(running);
	SAME_BIT(hap);
	printf("abi-check: xen_abi.h matches the Xen 4.17 headers\n");
	return 0;
}
