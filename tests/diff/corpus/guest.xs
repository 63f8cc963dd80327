=== introduce-and-read
open a sock
open g1 guest 1 port=7
a WATCH: @introduceDomain\0intro\0
a INTRODUCE: 1\0 4660\0 7\0
g1 ring
a events
g1 GET_DOMAIN_PATH: 1\0
g1 WRITE: data/x\0hello
g1 READ: data/x\0
g1 READ: /local/domain/1/data/x\0
g1 GET_PERMS: data/x\0
g1 READ: /tool\0
g1 WRITE: /local/domain/0/evil\0x
g1 DIRECTORY: /local/domain/1\0
a IS_DOMAIN_INTRODUCED: 1\0
a RELEASE: 1\0
a IS_DOMAIN_INTRODUCED: 1\0
# Released: the ring is no longer served, so no request for the end.
close g1
