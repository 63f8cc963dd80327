# Quotas, exercised from guests (the privileged domain is exempt).

=== guest-node-quota
open a sock
guest a g1 1
repeat 100 g1 WRITE: d1/n${i}\0
repeat 100 g1 WRITE: d2/n${i}\0
repeat 100 g1 WRITE: d3/n${i}\0
repeat 100 g1 WRITE: d4/n${i}\0
repeat 100 g1 WRITE: d5/n${i}\0
repeat 100 g1 WRITE: d6/n${i}\0
repeat 100 g1 WRITE: d7/n${i}\0
repeat 100 g1 WRITE: d8/n${i}\0
repeat 100 g1 WRITE: d9/n${i}\0
repeat 100 g1 WRITE: d10/n${i}\0
g1 WRITE: d1/n1\0overwrite-is-fine
g1 MKDIR: d11\0
g1 RM: d10/n100\0
g1 WRITE: d11\0
g1 WRITE: d12\0
a WRITE: /local/domain/1/by-dom0\0
a GET_PERMS: /local/domain/1/by-dom0\0
a SET_PERMS: /local/domain/1/by-dom0\0n1\0
g1 RM: d1\0
g1 WRITE: d12/a/b/c\0
g1 DIRECTORY: d12/a/b\0

=== guest-children-node-size
open a sock
guest a g1 1
repeat 120 g1 WRITE: dir/child-with-a-longish-name-${i}\0
g1 DIRECTORY: dir\0
g1 RM: dir\0

=== guest-outstanding-requests
open a sock
guest a g1 1
repeat 30 g1 WRITE noreply: o${i}\0v
g1 READ: o30\0
g1 DIRECTORY: /local/domain/1\0

=== guest-transaction-nodes
open a sock
guest a g1 1
repeat 50 g1 WRITE: t/n${i}\0
g1 TRANSACTION_START save=t: \0
repeat 50 g1 READ tx=t: t/n${i}\0
g1 TRANSACTION_END tx=t: T\0

=== dom0-exempt
open a sock
repeat 150 a WATCH: /q\0t${i}\0
a WRITE: /q/big\0\{x*3000}
a SET_PERMS: /q/big\0n0\0r1\0r2\0r3\0r4\0r5\0r6\0r7\0r8\0r9\0
repeat 12 a TRANSACTION_START: \0
