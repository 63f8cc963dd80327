# Framing and ring-protocol violations: oversize payloads, partial and
# garbage headers, bad ring indices.

=== socket-oversize-payload
open a sock
open b sock
a raw: \I{11}\I{1}\I{0}\I{4097}/x\0
a READ: /\0
b READ: /tool\0

=== socket-partial-then-complete
open a sock
a raw: \I{2}\I{5}
a raw: \I{0}\I{6}
a raw: /to
a raw: ol\0
a READ rid=6: /tool\0
a READ: /tool\0

=== guest-oversize-payload
open a sock
guest a g1 1
g1 raw: \I{2}\I{1}\I{0}\I{5000}/x\0
g1 wait error!=0
g1 ring
g1 READ: /\0
a IS_DOMAIN_INTRODUCED: 1\0
a WRITE: /local/domain/1/still\0here
a READ: /local/domain/1/still\0

=== guest-payload-exactly-max
open a sock
guest a g1 1
g1 WATCH: v\0\{t*4093}\0
g1 events
g1 WRITE: v\0\{x*4094}
g1 ring

=== guest-bad-ring-index
open a sock
guest a g1 1
g1 READ: /local/domain/1\0
g1 set req_prod=0x7000
# Any wake-up makes a daemon look at every ring (C does each loop round),
# and it then finds the bad index: the write is that wake-up.
a WRITE: /local/domain/1/poke\0
g1 wait error!=0
g1 ring
a IS_DOMAIN_INTRODUCED: 1\0
close g1

=== guest-wraparound
open a sock
open g1 guest 1 port=3
a MKDIR: /local/domain/1\0
a SET_PERMS: /local/domain/1\0n1\0
g1 set req_cons=0xfffffff0 req_prod=0xfffffff0 rsp_cons=0xfffffff0 rsp_prod=0xfffffff0
a INTRODUCE: 1\04660\03\0
g1 WRITE: wrap\0\{w*1500}
g1 READ: wrap\0
g1 READ: wrap\0
g1 ring
