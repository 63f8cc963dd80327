# Permissions: SET_PERMS from dom0 and owners, then access from guests.

=== guest-access-matrix
open a sock
guest a g1 1
guest a g2 2
a WRITE: /pm/none\0n
a WRITE: /pm/read\0r
a WRITE: /pm/write\0w
a WRITE: /pm/both\0b
a SET_PERMS: /pm/read\0n0\0r1\0
a SET_PERMS: /pm/write\0n0\0w1\0
a SET_PERMS: /pm/both\0n0\0b1\0
a SET_PERMS: /pm/none\0n0\0
g1 READ: /pm/none\0
g1 READ: /pm/read\0
g1 READ: /pm/write\0
g1 READ: /pm/both\0
g1 WRITE: /pm/none\0x
g1 WRITE: /pm/read\0x
g1 WRITE: /pm/write\0x
g1 WRITE: /pm/both\0x
g1 GET_PERMS: /pm/read\0
g1 GET_PERMS: /pm/write\0
g1 DIRECTORY: /pm\0
g1 WRITE: /pm/both/child\0c
g1 GET_PERMS: /pm/both/child\0
g1 WRITE: /pm/write/child\0c
g1 GET_PERMS: /pm/write/child\0
g1 RM: /pm/read\0
g1 RM: /pm/write\0
g1 RM: /pm/both/child\0
g2 READ: /pm/read\0
g2 READ: /pm/both\0
g2 WRITE: /pm/both\0y
g2 READ: /pm/missing\0
g2 READ: /pm/read/missing\0
g2 READ: /local/domain/1\0
g2 DIRECTORY: /local/domain\0
g2 READ: /local/domain/2\0
a READ: /pm/write\0
a READ: /pm/both\0

=== default-perm-letter
open a sock
guest a g1 1
guest a g2 2
a WRITE: /dl/r\0v
a SET_PERMS: /dl/r\0r0\0
a WRITE: /dl/w\0v
a SET_PERMS: /dl/w\0w0\0
a WRITE: /dl/b\0v
a SET_PERMS: /dl/b\0b0\0n2\0
g1 READ: /dl/r\0
g1 WRITE: /dl/r\0x
g1 READ: /dl/w\0
g1 WRITE: /dl/w\0x
g1 READ: /dl/b\0
g1 WRITE: /dl/b\0x
g2 READ: /dl/b\0
g2 WRITE: /dl/b\0x

=== owner-changes
open a sock
guest a g1 1
guest a g2 2
g1 WRITE: own\0v
g1 GET_PERMS: own\0
g1 SET_PERMS: own\0n1\0r2\0
g1 GET_PERMS: own\0
g2 READ: /local/domain/1/own\0
g1 SET_PERMS: own\0n2\0
g1 SET_PERMS: own\0r1\0w2\0
g1 GET_PERMS: own\0
g2 WRITE: /local/domain/1/own\0by2
g2 SET_PERMS: /local/domain/1/own\0n1\0
g1 SET_PERMS: own\0n0\0
a SET_PERMS: /local/domain/1/own\0n2\0
g1 GET_PERMS: own\0
g1 READ: own\0
g2 READ: /local/domain/1/own\0
g2 GET_PERMS: /local/domain/1/own\0
g2 SET_PERMS: /local/domain/1/own\0b2\0
a GET_PERMS: /local/domain/1/own\0
g1 SET_PERMS: \0n1\0
g1 SET_PERMS: /local/domain/1\0n1\0r2\0
g1 GET_PERMS: /local/domain/1\0

=== perms-inherit-and-rm
open a sock
guest a g1 1
a WRITE: /in/a\0v
a SET_PERMS: /in\0n0\0w1\0
a SET_PERMS: /in/a\0n0\0r1\0
g1 WRITE: /in/new/deep/node\0v
g1 GET_PERMS: /in/new\0
g1 GET_PERMS: /in/new/deep/node\0
a GET_PERMS: /in/new\0
g1 MKDIR: /in/made\0
g1 GET_PERMS: /in/made\0
g1 RM: /in/a\0
g1 RM: /in/new\0
g1 READ: /in/new/deep/node\0
g1 RM: /in/nonexistent\0
g1 RM: /in/nonexistent/deeper\0
g1 MKDIR: /in/a\0
a RM: /in/a\0
g1 RM: /in/a\0

=== set-target
open a sock
guest a g1 1
guest a g2 2
g2 WRITE: secret\0s
g1 READ: /local/domain/2/secret\0
a SET_TARGET: 1\02\0
g1 READ: /local/domain/2/secret\0
g1 WRITE: /local/domain/2/secret\0t
g1 GET_PERMS: /local/domain/2/secret\0
g1 SET_PERMS: /local/domain/2/secret\0n2\0r1\0
g1 SET_PERMS: /local/domain/2/secret\0n1\0
g2 READ: /local/domain/1\0
a SET_TARGET: 1\099\0
a SET_TARGET: 99\02\0
a SET_TARGET: 2\02\0
g1 INTRODUCE: 5\01\01\0

=== guest-quota-exempt-dom0-node-size
open a sock
guest a g1 1
a WRITE: /big\0\{v*3000}
g1 WRITE: v\0\{v*2000}
g1 WRITE: v\0\{v*2100}
g1 WRITE: v\0\{v*3000}
g1 READ: v\0
g1 SET_PERMS: v\0n1\0r0\0r2\0r3\0r4\0
g1 SET_PERMS: v\0n1\0r0\0r2\0r3\0r4\0r5\0
g1 GET_PERMS: v\0
g1 WRITE: small\0s
g1 SET_PERMS: small\0n1\0r0\0r2\0r3\0r4\0
g1 SET_PERMS: small\0n1\0r0\0r2\0r3\0r4\0r5\0
g1 GET_PERMS: small\0
