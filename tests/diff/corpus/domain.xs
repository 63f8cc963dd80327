# Domain management: INTRODUCE, RELEASE, IS_DOMAIN_INTRODUCED,
# GET_DOMAIN_PATH, SET_TARGET, RESUME, special watches and domain death.

=== introduce-release-special-watches
open a sock
open g1 guest 1 port=7
a WATCH: @introduceDomain\0intro\0
a WATCH: @releaseDomain\0rel\0
a events
a INTRODUCE: 1\04660\07\0
a events
g1 ring
a IS_DOMAIN_INTRODUCED: 1\0
g1 GET_DOMAIN_PATH: 1\0
a INTRODUCE: 1\04660\07\0
a events
a INTRODUCE: 1\01234\08\0
a events
a RELEASE: 1\0
a events
a IS_DOMAIN_INTRODUCED: 1\0
a RELEASE: 1\0
a events
close g1

=== special-nodes-access
open a sock
guest a g1 1
a READ: @introduceDomain\0
a GET_PERMS: @introduceDomain\0
a GET_PERMS: @releaseDomain\0
a DIRECTORY: @releaseDomain\0
a WRITE: @releaseDomain\0x
a RM: @releaseDomain\0
g1 WATCH: @introduceDomain\0gi\0
g1 WATCH: @releaseDomain\0gr\0
g1 WATCH: @releaseDomain/1\0gr1\0
g1 WATCH: @other\0go\0
g1 GET_PERMS: @releaseDomain\0
g1 READ: @releaseDomain\0
a SET_PERMS: @releaseDomain\0n0\0r1\0
g1 WATCH: @releaseDomain\0gr\0
g1 events
a WATCH: @releaseDomain/1\0per-domain\0
a WATCH: @introduceDomain\0x\0extra\0
a WATCH: @introduceDomain\0tok\x002\0
a events

=== domain-death-releases
open a sock
guest a g1 1
guest a g2 2
a WATCH: @releaseDomain\0rel\0
a events
g1 WRITE: data\0d1
a WRITE: /local/domain/2/owned-by-1\0x
a SET_PERMS: /local/domain/2/owned-by-1\0n1\0
a WRITE: /shared/by1\0x
a SET_PERMS: /shared/by1\0n1\0
a WRITE: /shared/acl\0x
a SET_PERMS: /shared/acl\0n0\0r1\0w2\0
# Shut down: @releaseDomain fires (the domain stays introduced).
state 1 shutdown
virq
a wait event
a events
a IS_DOMAIN_INTRODUCED: 1\0
a READ: /local/domain/1/data\0
# Dying: @releaseDomain fires once more, after the domain's nodes are gone.
state 1 dying
virq
a wait event
a events
# Gone: the domain is already released; the VIRQ has no effect to wait for.
state 1 gone
virq
a events
a IS_DOMAIN_INTRODUCED: 1\0
a READ: /local/domain/1/data\0
a READ: /local/domain/2/owned-by-1\0
a READ: /shared/by1\0
a GET_PERMS: /shared/acl\0
a DIRECTORY: /local/domain\0
g2 READ: data\0
close g1

=== release-deletes-nodes
open a sock
guest a g1 1
g1 WRITE: data\0d1
a RELEASE: 1\0
a READ: /local/domain/1/data\0
a GET_PERMS: /local/domain/1/data\0
close g1

=== resume
open a sock
guest a g1 1
a RESUME: 1\0
state 1 shutdown
a RESUME: 1\0
state 1 running
a RESUME: 1\0
a RESUME: 9\0
g1 RESUME: 1\0

=== set-target-errors
open a sock
guest a g1 1
a SET_TARGET: 1\01\0
a SET_TARGET: 1\0
a SET_TARGET: 1\02\0extra\0
a SET_TARGET: 0\01\0
a SET_TARGET: 1\00\0
g1 READ: /local/domain/0\0

=== introduce-bad-ring-states
open a sock
open g3 guest 3 port=5
g3 set connection=1
# The INTRODUCE reply comes after the page has been set up.
a INTRODUCE: 3\04660\05\0
g3 ring
g3 WRITE: /local/domain/3/x\0v
a RELEASE: 3\0
close g3
