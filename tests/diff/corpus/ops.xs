# Every message type (0-26, including the unused 20 and types past the end)
# with a plausible payload, first from a privileged socket, then from a guest.

=== all-types-socket
open a sock
a WRITE: /d/a\0va
a WRITE: /d/b\0vb
a CONTROL: print\0hello\0
a DIRECTORY: /d\0
a READ: /d/a\0
a GET_PERMS: /d/a\0
a WATCH: /d\0wt\0
a UNWATCH: /d\0wt\0
a TRANSACTION_START save=t: \0
a TRANSACTION_END tx=t: F\0
a INTRODUCE: 5\0 1\0 9\0
a RELEASE: 5\0
a GET_DOMAIN_PATH: 5\0
a WRITE: /d/c\0vc
a MKDIR: /d/e\0
a RM: /d/e\0
a SET_PERMS: /d/a\0n0\0r5\0
a 15: /d\0tok\0
a 16: EINVAL\0
a IS_DOMAIN_INTRODUCED: 0\0
a RESUME: 0\0
a SET_TARGET: 7\0 0\0
a 20: /d\0
a RESET_WATCHES: \0
a DIRECTORY_PART: /d\00\0
a GET_FEATURE: 0\0
a SET_FEATURE: 0\0 0\0
a GET_QUOTA: \0
a SET_QUOTA: nodes\0 2000\0
a 27: /d\0
a 128: \0
a 0xffffffff: \0
a READ: /d/a\0

=== all-types-guest
open a sock
guest a g1 1 port=7
g1 WRITE: /local/domain/1/a\0va
g1 CONTROL: print\0hello\0
g1 DIRECTORY: /local/domain/1\0
g1 READ: a\0
g1 GET_PERMS: a\0
g1 WATCH: a\0wt\0
g1 UNWATCH: a\0wt\0
g1 TRANSACTION_START save=t: \0
g1 TRANSACTION_END tx=t: F\0
g1 INTRODUCE: 5\0 1\0 9\0
g1 RELEASE: 5\0
g1 GET_DOMAIN_PATH: 5\0
g1 MKDIR: e\0
g1 RM: e\0
g1 SET_PERMS: a\0n1\0r0\0
g1 15: a\0tok\0
g1 16: EINVAL\0
g1 IS_DOMAIN_INTRODUCED: 1\0
g1 RESUME: 1\0
g1 SET_TARGET: 1\0 0\0
g1 20: a\0
g1 RESET_WATCHES: \0
g1 DIRECTORY_PART: /local/domain/1\00\0
g1 GET_FEATURE: 1\0
g1 SET_FEATURE: 1\0 0\0
g1 GET_QUOTA: 1\0
g1 SET_QUOTA: 1\0nodes\0 2000\0
g1 27: a\0
g1 0xffffffff: \0
g1 READ: a\0

=== empty-payloads
open a sock
a CONTROL:
a DIRECTORY:
a READ:
a GET_PERMS:
a WATCH:
a UNWATCH:
a TRANSACTION_START:
a TRANSACTION_END:
a INTRODUCE:
a RELEASE:
a GET_DOMAIN_PATH:
a WRITE:
a MKDIR:
a RM:
a SET_PERMS:
a IS_DOMAIN_INTRODUCED:
a RESUME:
a SET_TARGET:
a RESET_WATCHES:
a DIRECTORY_PART:
a GET_FEATURE:
a SET_FEATURE:
a GET_QUOTA:
a SET_QUOTA:

=== req-id-and-header-echo
open a sock
a WRITE rid=0: /r\0v
a READ rid=0xfffffffe: /r\0
a READ rid=7: /r\0
a READ rid=7: /r\0
a READ tx=0: /r\0

=== directory-part
open a sock
a WRITE: /dp/alpha\0
a WRITE: /dp/beta\0
a WRITE: /dp/\{c*200}\0
a DIRECTORY_PART: /dp\00\0
a DIRECTORY_PART: /dp\05\0
a DIRECTORY_PART: /dp\011\0
a DIRECTORY_PART: /dp\0500\0
a DIRECTORY_PART: /dp\0-1\0
a DIRECTORY_PART: /dp\0x\0
a DIRECTORY_PART: /dp\0
a DIRECTORY_PART: /nonexistent\00\0
a WRITE: /dp/gamma\0
a DIRECTORY_PART: /dp\00\0
a DIRECTORY_PART: /dp/alpha\00\0

=== big-directory-e2big
open a sock
a WRITE: /big/\{a*1000}1\0
a WRITE: /big/\{a*1000}2\0
a WRITE: /big/\{a*1000}3\0
a WRITE: /big/\{a*1000}4\0
a WRITE: /big/\{a*1000}5\0
a DIRECTORY: /big\0
a DIRECTORY_PART: /big\00\0
a DIRECTORY_PART: /big\02004\0
a RM: /big\0
