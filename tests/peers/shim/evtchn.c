/*
 * libxenevtchn over the simring event channels (convention section 2).
 *
 * A handle is a pipe, like /dev/xen/evtchn: xenevtchn_fd() is its read end
 * (the daemon polls it) and xenevtchn_pending() reads one 4-byte local port
 * from it. A port goes into the pipe at most once until the daemon has read
 * it back, which is the pending bit of a real channel: events coalesce and
 * none is lost.
 *
 * In simring mode the first xenevtchn_open() binds $SIMRING_DIR/evtchn-server
 * and starts a router thread. For each datagram it finds the local port:
 *   "notify <domid> <port>"  the interdomain channel bound to (domid, port),
 *                            else any channel bound to domid;
 *   "virq <n>"               the channel bound to VIRQ n;
 * and queues it, or drops the datagram when nothing matches.
 * xenevtchn_notify() on an interdomain port sends "notify <domid> <port>"
 * (the guest's end) to evtchn-<domid> without blocking; a send that fails
 * is dropped, as the convention allows.
 *
 * Without SIMRING_DIR nothing is ever written into the pipes: binding works,
 * no event ever fires (socket-only mode).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "shim.h"
#include "xen_abi.h"

/* Local ports 1 .. PORTS_MAX - 1 (a Linux evtchn device allows 4096). */
#define PORTS_MAX 4096

/* Longest datagram accepted; valid ones are about 20 bytes. */
#define DATAGRAM_MAX 128

struct xenevtchn_handle {
	int read_fd;
	int write_fd;
};

enum binding { UNBOUND, INTERDOMAIN, VIRQ };

struct port {
	enum binding binding;
	uint32_t domid;		/* INTERDOMAIN: the guest */
	uint32_t remote_port;	/* INTERDOMAIN: the guest's end */
	unsigned int virq;	/* VIRQ */
	int queued;		/* in the pipe, not yet read back */
	struct xenevtchn_handle *owner;
};

/* Guards ports[] and the pipes' contents. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct port ports[PORTS_MAX];

/* The router's socket (evtchn-server) and the unbound sending socket. */
static int server_fd = -1;
static int sender_fd = -1;

/* Queues port (lock held): one 4-byte write into its owner's pipe. */
static void queue_port(uint32_t port)
{
	struct port *p = &ports[port];

	if (p->binding == UNBOUND || p->queued || !p->owner)
		return;
	if (write(p->owner->write_fd, &port, sizeof(port)) == sizeof(port))
		p->queued = 1;
}

/* The local port a datagram is for (lock held), or 0. */
static uint32_t route(const char *msg)
{
	unsigned int a, b;
	uint32_t i;
	int used = 0;

	if (sscanf(msg, "notify %u %u%n", &a, &b, &used) == 2 && !msg[used]) {
		for (i = 1; i < PORTS_MAX; i++)
			if (ports[i].binding == INTERDOMAIN && ports[i].domid == a &&
			    ports[i].remote_port == b)
				return i;
		for (i = 1; i < PORTS_MAX; i++)
			if (ports[i].binding == INTERDOMAIN && ports[i].domid == a)
				return i;
	} else if (sscanf(msg, "virq %u%n", &a, &used) == 1 && !msg[used]) {
		for (i = 1; i < PORTS_MAX; i++)
			if (ports[i].binding == VIRQ && ports[i].virq == a)
				return i;
	}
	return 0;
}

static void *router(void *unused)
{
	char msg[DATAGRAM_MAX + 1];
	uint32_t port;
	ssize_t n;

	(void)unused;
	for (;;) {
		n = recv(server_fd, msg, DATAGRAM_MAX, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			shim_log("evtchn-server: %s", strerror(errno));
			return NULL;
		}
		/* A receiver ignores trailing NULs and white space. */
		while (n > 0 && (msg[n - 1] == '\0' || msg[n - 1] == ' ' ||
				 msg[n - 1] == '\n' || msg[n - 1] == '\t' ||
				 msg[n - 1] == '\r'))
			n--;
		msg[n] = '\0';
		pthread_mutex_lock(&lock);
		port = route(msg);
		if (port)
			queue_port(port);
		pthread_mutex_unlock(&lock);
		shim_log("evtchn-server: '%s' -> port %u", msg, port);
	}
}

/* Set once the router runs; start_failed when it could not start. */
static pthread_once_t router_once = PTHREAD_ONCE_INIT;
static int start_failed;

/* Binds evtchn-server (replacing a stale socket file) and starts the
 * router. Runs once, from the first xenevtchn_open(). */
static void start_router(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	pthread_t thread;

	mkdir(sim_dir(), 0755);
	if (sim_path(addr.sun_path, sizeof(addr.sun_path), "evtchn-server", -1) < 0) {
		shim_log("evtchn-server: path too long for sun_path");
		goto fail;
	}
	server_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	sender_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (server_fd < 0 || sender_fd < 0)
		goto fail;
	unlink(addr.sun_path);
	if (bind(server_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		shim_log("bind %s: %s", addr.sun_path, strerror(errno));
		goto fail;
	}
	if (pthread_create(&thread, NULL, router, NULL) != 0)
		goto fail;
	pthread_detach(thread);
	shim_log("event channels at %s", addr.sun_path);
	return;
fail:
	start_failed = 1;
}

void *xenevtchn_open(void *logger, unsigned flags)
{
	struct xenevtchn_handle *h;
	int fds[2];

	(void)logger;
	if (sim_dir()) {
		pthread_once(&router_once, start_router);
		if (start_failed) {
			errno = EIO;
			return NULL;
		}
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	/* Both ends non-blocking: the router must never stall on a pipe and
	 * xenevtchn_pending() must not block when nothing is pending. */
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
		free(h);
		return NULL;
	}
	if (flags & ABI_XENEVTCHN_NO_CLOEXEC)
		fcntl(fds[0], F_SETFD, 0);
	h->read_fd = fds[0];
	h->write_fd = fds[1];
	return h;
}

int xenevtchn_close(struct xenevtchn_handle *h)
{
	uint32_t i;

	if (!h)
		return 0;
	pthread_mutex_lock(&lock);
	for (i = 1; i < PORTS_MAX; i++)
		if (ports[i].owner == h)
			memset(&ports[i], 0, sizeof(ports[i]));
	pthread_mutex_unlock(&lock);
	close(h->read_fd);
	close(h->write_fd);
	free(h);
	return 0;
}

int xenevtchn_fd(struct xenevtchn_handle *h)
{
	return h->read_fd;
}

/* Takes a free local port for h (lock held); 0 when none is left. */
static uint32_t alloc_port(struct xenevtchn_handle *h, enum binding binding)
{
	uint32_t i;

	for (i = 1; i < PORTS_MAX; i++) {
		if (ports[i].binding == UNBOUND) {
			memset(&ports[i], 0, sizeof(ports[i]));
			ports[i].binding = binding;
			ports[i].owner = h;
			return i;
		}
	}
	return 0;
}

int xenevtchn_bind_interdomain(struct xenevtchn_handle *h, uint32_t domid,
			       uint32_t remote_port)
{
	uint32_t port;

	pthread_mutex_lock(&lock);
	port = alloc_port(h, INTERDOMAIN);
	if (port) {
		ports[port].domid = domid;
		ports[port].remote_port = remote_port;
	}
	pthread_mutex_unlock(&lock);
	shim_log("bind_interdomain(dom %u, port %u) -> %u", domid, remote_port, port);
	if (!port) {
		errno = ENOSPC;
		return -1;
	}
	return (int)port;
}

int xenevtchn_bind_virq(struct xenevtchn_handle *h, unsigned int virq)
{
	uint32_t port;

	pthread_mutex_lock(&lock);
	port = alloc_port(h, VIRQ);
	if (port)
		ports[port].virq = virq;
	pthread_mutex_unlock(&lock);
	shim_log("bind_virq(%u) -> %u", virq, port);
	if (!port) {
		errno = ENOSPC;
		return -1;
	}
	return (int)port;
}

int xenevtchn_unbind(struct xenevtchn_handle *h, uint32_t port)
{
	(void)h;
	if (port == 0 || port >= PORTS_MAX) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&lock);
	memset(&ports[port], 0, sizeof(ports[port]));
	pthread_mutex_unlock(&lock);
	shim_log("unbind(%u)", port);
	return 0;
}

int xenevtchn_notify(struct xenevtchn_handle *h, uint32_t port)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct port p;
	char msg[64];
	int n;

	(void)h;
	if (!sim_dir() || port == 0 || port >= PORTS_MAX)
		return 0;
	pthread_mutex_lock(&lock);
	p = ports[port];
	pthread_mutex_unlock(&lock);
	if (p.binding != INTERDOMAIN ||
	    sim_path(addr.sun_path, sizeof(addr.sun_path), "evtchn", p.domid) < 0)
		return 0;
	n = snprintf(msg, sizeof(msg), "notify %u %u", p.domid, p.remote_port);
	if (sendto(sender_fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL,
		   (struct sockaddr *)&addr, sizeof(addr)) < 0)
		shim_log("notify %s dropped: %s", addr.sun_path, strerror(errno));
	return 0;
}

int xenevtchn_pending(struct xenevtchn_handle *h)
{
	uint32_t port;
	ssize_t n;
	int err;

	/* Reading the port and clearing its queued flag under the lock: an
	 * event arriving meanwhile either finds the flag still set (and is
	 * covered by this read) or queues the port anew. */
	pthread_mutex_lock(&lock);
	n = read(h->read_fd, &port, sizeof(port));
	err = errno;
	if (n == sizeof(port) && port > 0 && port < PORTS_MAX)
		ports[port].queued = 0;
	pthread_mutex_unlock(&lock);
	if (n != sizeof(port)) {
		errno = n < 0 ? err : EIO;
		return -1;
	}
	shim_log("pending -> %u", port);
	return (int)port;
}

int xenevtchn_unmask(struct xenevtchn_handle *h, uint32_t port)
{
	(void)h;
	(void)port;
	return 0;
}
