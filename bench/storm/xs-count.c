/*
 * xs-count.so: an LD_PRELOAD shim that counts the xenstore messages a
 * process (here `xl`) exchanges with xenstore, on the client's side, so the
 * counts are the same kind of thing whichever server answers (our stub
 * through /dev/xen/xenbus, or C xenstored through its Unix socket).
 *
 * It wraps read, write, writev, sendmsg and close. A file descriptor is a
 * xenstore connection when /proc/self/fd/N names /dev/xen/xenbus, or it is
 * a Unix socket whose peer is a path ending in "xenstored/socket". Each such
 * descriptor gets a stream parser per direction (libxenstore writes a
 * message's header and body in one or several calls, and reads them in
 * exact pieces, so nothing is assumed about how the stream is cut), which
 * counts:
 *
 *   req        messages sent (every request type)
 *   t_<TYPE>   messages sent, by type (READ, WRITE, ...)
 *   commit     XS_TRANSACTION_END with "T" (commits tried)
 *   abort      XS_TRANSACTION_END with "F"
 *   eagain     replies XS_ERROR "EAGAIN" (libxl retries the transaction)
 *   err        other XS_ERROR replies
 *   event      XS_WATCH_EVENT messages received
 *   wait_us    time from each request's last byte sent to its reply's last
 *              byte received, summed: how long the process waited for
 *              xenstore (libxenstore has one request in flight per
 *              connection, so each reply answers the last request sent)
 *
 * Each EAGAIN is also written at once as a line "xs-eagain pid=P path=X",
 * X being the first path the refused transaction changed (WRITE, MKDIR, RM
 * or SET_PERMS), so the storm can say which transactions conflict.
 *
 * The counts are appended as one line "xs-count pid=P k=v ..." to the file
 * named by XS_COUNT_FILE (O_APPEND, one write) when the process closes a
 * xenstore descriptor and when it exits; a forked child starts from zero.
 * The wrappers call the real functions (dlsym RTLD_NEXT), so a read stays
 * the cancellation point libxenstore's reader thread relies on. A
 * descriptor is recognised again whenever its file (device and inode)
 * changes, so a number reused after a close the shim did not see is not
 * mistaken for the file it named before.
 *
 * Build: gcc -shared -fPIC -O2 -o xs-count.so xs-count.c
 * Facts from Xen's public io/xs_wire.h: the header is four little-endian
 * uint32 (type, req_id, tx_id, len); type numbers as in enum xsd_sockmsg_type.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <sys/un.h>
#include <unistd.h>

#define MAXFD 1024
#define NTYPES 32
#define XS_TRANSACTION_END 7
#define XS_WRITE 11
#define XS_MKDIR 12
#define XS_RM 13
#define XS_SET_PERMS 14
#define XS_WATCH_EVENT 15
#define XS_ERROR 16

static const char *const type_names[NTYPES] = {
    "CONTROL", "DIRECTORY", "READ", "GET_PERMS", "WATCH", "UNWATCH",
    "TRANSACTION_START", "TRANSACTION_END", "INTRODUCE", "RELEASE",
    "GET_DOMAIN_PATH", "WRITE", "MKDIR", "RM", "SET_PERMS", "WATCH_EVENT",
    "ERROR", "IS_DOMAIN_INTRODUCED", "RESUME", "SET_TARGET", "RESET_WATCHES",
    "DIRECTORY_PART", "T22", "T23", "T24", "T25", "T26", "T27", "T28", "T29",
    "T30", "T31",
};

/* One direction of one connection: where the parser is in the stream. */
struct parser {
    unsigned char hdr[16];
    unsigned got;      /* header bytes seen of the current message */
    uint32_t type;
    uint32_t left;     /* body bytes still to come */
    char body[96];     /* the body's first bytes */
    unsigned body_got;
};

struct conn {
    int kind; /* 0 unknown, 1 xenstore, 2 other */
    uint64_t sent_ns; /* when the request in flight was sent, 0 if none */
    char tx_path[96]; /* the open transaction's first changed path */
    char end_path[96]; /* that of the transaction whose end is in flight */
    dev_t dev;
    ino_t ino;
    struct parser out, in;
};

static struct conn conns[MAXFD];
static pid_t owner;

struct counts {
    unsigned long req, commit, abort_, eagain, err, event, wait_us;
    unsigned long type[NTYPES];
};
static struct counts c;

static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_sendmsg)(int, const struct msghdr *, int);
static int (*real_close)(int);

__attribute__((constructor)) static void init(void)
{
    real_read = (ssize_t(*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
    real_write = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    real_writev = (ssize_t(*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
    real_sendmsg = (ssize_t(*)(int, const struct msghdr *, int))dlsym(RTLD_NEXT, "sendmsg");
    real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
}

/* A forked child starts counting from zero (its parent reports its own). */
static void own(void)
{
    pid_t p = (pid_t)syscall(SYS_getpid);
    if (p != owner) {
        memset(&c, 0, sizeof(c));
        owner = p;
    }
}

static int ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* Whether fd is a connection to xenstore (decided once per open file). */
static int is_xs(int fd)
{
    struct stat st;
    if (fd < 0 || fd >= MAXFD || fstat(fd, &st) != 0)
        return 0;
    if (conns[fd].kind == 0 || conns[fd].dev != st.st_dev || conns[fd].ino != st.st_ino) {
        char link[64], target[128];
        int kind = 2;
        long n;
        strcpy(link, "/proc/self/fd/");
        /* fd < 1024: at most four digits. */
        {
            char d[8];
            int i = 0, v = fd;
            do { d[i++] = (char)('0' + v % 10); v /= 10; } while (v);
            size_t l = strlen(link);
            while (i)
                link[l++] = d[--i];
            link[l] = 0;
        }
        n = syscall(SYS_readlink, link, target, sizeof(target) - 1);
        if (n > 0) {
            target[n] = 0;
            if (strcmp(target, "/dev/xen/xenbus") == 0)
                kind = 1;
            else if (strncmp(target, "socket:", 7) == 0) {
                struct sockaddr_un a;
                socklen_t len = sizeof(a);
                memset(&a, 0, sizeof(a));
                if (syscall(SYS_getpeername, fd, &a, &len) == 0 && a.sun_family == AF_UNIX &&
                    len > sizeof(sa_family_t)) {
                    size_t pl = strnlen(a.sun_path, len - sizeof(sa_family_t));
                    if (ends_with(a.sun_path, pl, "xenstored/socket"))
                        kind = 1;
                }
            }
        }
        memset(&conns[fd], 0, sizeof(conns[fd]));
        conns[fd].kind = kind;
        conns[fd].dev = st.st_dev;
        conns[fd].ino = st.st_ino;
    }
    return conns[fd].kind == 1;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_line(const char *line, size_t l)
{
    const char *file = getenv("XS_COUNT_FILE");
    int fd;
    if (!file)
        return;
    fd = (int)syscall(SYS_open, file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
        syscall(SYS_write, fd, line, l);
        syscall(SYS_close, fd);
    }
}

/* The path a message body starts with (NUL-terminated or cut), printable. */
static void body_path(char *dst, size_t n, const struct parser *p)
{
    size_t i, len = p->body_got < n - 1 ? p->body_got : n - 1;
    for (i = 0; i < len && p->body[i]; i++)
        dst[i] = (p->body[i] > ' ' && p->body[i] < 127) ? p->body[i] : '?';
    dst[i] = 0;
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* A whole message went by on connection `cn` in direction `out` (1: sent,
 * 0: received). */
static void message(struct conn *cn, int out, const struct parser *p)
{
    if (!out && p->type != XS_WATCH_EVENT && cn->sent_ns) {
        c.wait_us += (unsigned long)((now_ns() - cn->sent_ns) / 1000);
        cn->sent_ns = 0;
    }
    if (out) {
        uint32_t tx = le32(p->hdr + 8);
        cn->sent_ns = now_ns();
        if (tx != 0 && !cn->tx_path[0] &&
            (p->type == XS_WRITE || p->type == XS_MKDIR || p->type == XS_RM || p->type == XS_SET_PERMS))
            body_path(cn->tx_path, sizeof(cn->tx_path), p);
        if (p->type == XS_TRANSACTION_END) {
            memcpy(cn->end_path, cn->tx_path, sizeof(cn->end_path));
            cn->tx_path[0] = 0;
        }
        c.req++;
        if (p->type < NTYPES)
            c.type[p->type]++;
        if (p->type == XS_TRANSACTION_END) {
            if (p->body_got > 0 && p->body[0] == 'T')
                c.commit++;
            else
                c.abort_++;
        }
    } else if (p->type == XS_ERROR) {
        if (p->body_got >= 6 && memcmp(p->body, "EAGAIN", 6) == 0) {
            char line[160];
            int l = snprintf(line, sizeof(line), "xs-eagain pid=%d path=%s\n", (int)owner,
                             cn->end_path[0] ? cn->end_path : "-");
            c.eagain++;
            if (l > 0)
                put_line(line, (size_t)l < sizeof(line) ? (size_t)l : sizeof(line) - 1);
        }
        else
            c.err++;
    } else if (p->type == XS_WATCH_EVENT) {
        c.event++;
    }
}

static void feed(struct conn *cn, int out, const unsigned char *b, size_t n)
{
    struct parser *p = out ? &cn->out : &cn->in;
    while (n > 0) {
        if (p->got < 16) {
            size_t k = 16 - p->got;
            if (k > n)
                k = n;
            memcpy(p->hdr + p->got, b, k);
            p->got += k;
            b += k;
            n -= k;
            if (p->got < 16)
                return;
            p->type = le32(p->hdr);
            p->left = le32(p->hdr + 12);
            p->body_got = 0;
        } else {
            size_t k = p->left < n ? p->left : n;
            size_t room = sizeof(p->body) - p->body_got;
            memcpy(p->body + p->body_got, b, k < room ? k : room);
            p->body_got += k < room ? k : room;
            p->left -= k;
            b += k;
            n -= k;
        }
        if (p->got == 16 && p->left == 0) {
            message(cn, out, p);
            p->got = 0;
        }
    }
}

static void flush(void)
{
    char line[1536];
    size_t l = 0;
    int i;
    own();
    if (c.req == 0)
        return;
#define PUT(...) l += (size_t)snprintf(line + l, sizeof(line) - l, __VA_ARGS__)
    PUT("xs-count pid=%d req=%lu commit=%lu abort=%lu eagain=%lu err=%lu event=%lu wait_us=%lu",
        (int)owner, c.req, c.commit, c.abort_, c.eagain, c.err, c.event, c.wait_us);
    for (i = 0; i < NTYPES; i++)
        if (c.type[i])
            PUT(" t_%s=%lu", type_names[i], c.type[i]);
    PUT("\n");
    if (l >= sizeof(line))
        l = sizeof(line) - 1;
    put_line(line, l);
    memset(&c, 0, sizeof(c));
}

__attribute__((destructor)) static void at_exit(void) { flush(); }

ssize_t read(int fd, void *buf, size_t n)
{
    ssize_t r = real_read(fd, buf, n);
    if (r > 0 && is_xs(fd)) {
        own();
        feed(&conns[fd], 0, buf, (size_t)r);
    }
    return r;
}

ssize_t write(int fd, const void *buf, size_t n)
{
    ssize_t r = real_write(fd, buf, n);
    if (r > 0 && is_xs(fd)) {
        own();
        feed(&conns[fd], 1, buf, (size_t)r);
    }
    return r;
}

/* The first `done` bytes of an iovec array went out. */
static void feed_iov(int fd, const struct iovec *iov, int nr, size_t done)
{
    int i;
    own();
    for (i = 0; i < nr && done > 0; i++) {
        size_t k = iov[i].iov_len < done ? iov[i].iov_len : done;
        feed(&conns[fd], 1, iov[i].iov_base, k);
        done -= k;
    }
}

ssize_t writev(int fd, const struct iovec *iov, int nr)
{
    ssize_t r = real_writev(fd, iov, nr);
    if (r > 0 && is_xs(fd))
        feed_iov(fd, iov, nr, (size_t)r);
    return r;
}

ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
    ssize_t r = real_sendmsg(fd, m, flags);
    if (r > 0 && is_xs(fd))
        feed_iov(fd, m->msg_iov, (int)m->msg_iovlen, (size_t)r);
    return r;
}

int close(int fd)
{
    if (fd >= 0 && fd < MAXFD) {
        if (conns[fd].kind == 1)
            flush();
        conns[fd].kind = 0;
    }
    return real_close(fd);
}
