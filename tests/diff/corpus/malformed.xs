# Malformed payloads and bad arguments, from dom0 and from a guest.

=== missing-nuls
open a sock
a WRITE: /m\0v
a READ: /m
a DIRECTORY: /m
a GET_PERMS: /m
a MKDIR: /m2
a RM: /m2
a WRITE: /m3
a WATCH: /m\0tok
a WATCH: /m
a UNWATCH: /m\0tok
a SET_PERMS: /m\0n0
a SET_PERMS: /m
a GET_DOMAIN_PATH: 1
a IS_DOMAIN_INTRODUCED: 0
a INTRODUCE: 3\04660\07
a RELEASE: 3
a TRANSACTION_START: x
a TRANSACTION_END: T
a READ: /m\0\0
a READ: /m\0extra\0

=== bad-paths
open a sock
a WRITE: //x\0v
a WRITE: /x/\0v
a WRITE: /x//y\0v
a WRITE: /x y\0v
a WRITE: /x\x01y\0v
a WRITE: /x\xffy\0v
a WRITE: /x?y\0v
a WRITE: /x-y_z.@w\0v
a READ: /x-y_z.@w\0
a WRITE: @foo\0v
a WRITE: @\0v
a WRITE: rel\0v
a READ: rel\0
a READ: /local/domain/0/rel\0
a WRITE: /\0v
a READ: /\0
a RM: /\0
a MKDIR: /\0
a READ: /local/domain/\0
a WRITE: /local/domain/\0v
a GET_PERMS: /local/domain/\0
a WATCH: //\0tok\0
a WATCH: /x/\0tok\0
a WATCH: \0tok\0

=== overlong-paths
open a sock
a WRITE: /\{p*3071}\0v
a WRITE: /\{p*3072}\0v
a WRITE: /\{q*3000}/\{r*70}\0v
a WRITE: /\{q*3000}/\{r*71}\0v
a READ: /\{p*3071}\0
a READ: /\{p*4000}\0
a WRITE: \{s*2048}\0v
a WRITE: \{s*2032}\0v
a READ: \{s*2032}\0
a WATCH: /\{w*3072}\0tok\0
a WATCH: /\{w*3071}\0tok\0
a RM: /\{p*3071}\0

=== overlong-paths-guest
open a sock
guest a g1 1
g1 WRITE: \{s*2033}\0v
g1 WRITE: \{s*2034}\0v
g1 WRITE: /local/domain/1/\{s*2033}\0v
g1 WRITE: /local/domain/1/\{s*3056}\0v
g1 READ: \{s*2033}\0
g1 WATCH: \{s*2040}\0tok\0
g1 WATCH: /local/domain/1/\{s*3057}\0tok\0
g1 WATCH: /\{w*2100}\0tok\0

=== bad-perms-strings
open a sock
a WRITE: /p\0v
a SET_PERMS: /p\0\0
a SET_PERMS: /p\0
a SET_PERMS: /p\0x0\0
a SET_PERMS: /p\0r\0
a SET_PERMS: /p\0rabc\0
a SET_PERMS: /p\0r-1\0
a SET_PERMS: /p\0r65536\0
a SET_PERMS: /p\0r32752\0
a SET_PERMS: /p\0r32767\0
a SET_PERMS: /p\0n0\0r 1\0
a SET_PERMS: /p\0n0\0r1x\0
a SET_PERMS: /p\0n0\0R1\0
a SET_PERMS: /p\0b0\0w1\0r2\0n3\0
a GET_PERMS: /p\0
a SET_PERMS: /p\0w7\0
a GET_PERMS: /p\0
a SET_PERMS: /p\0n0\0r1\0r2\0r3\0r4\0r5\0r6\0r7\0
a GET_PERMS: /p\0
a SET_PERMS: /p\0n0\0r1\0r1\0
a GET_PERMS: /p\0
a SET_PERMS: /nonexistent\0n0\0
a SET_PERMS: /p\0n00\0r+1\0
a GET_PERMS: /p\0
a SET_PERMS: /p\0n0x10\0
a SET_PERMS: /p\0n\{9*20}\0

=== bad-domids
open a sock
a GET_DOMAIN_PATH: -1\0
a GET_DOMAIN_PATH: 65535\0
a GET_DOMAIN_PATH: 65536\0
a GET_DOMAIN_PATH: 99999999999999999999\0
a GET_DOMAIN_PATH: abc\0
a GET_DOMAIN_PATH: 12abc\0
a GET_DOMAIN_PATH: 0x10\0
a GET_DOMAIN_PATH: \x201\0
a GET_DOMAIN_PATH: 007\0
a GET_DOMAIN_PATH: 32753\0
a IS_DOMAIN_INTRODUCED: abc\0
a IS_DOMAIN_INTRODUCED: 65536\0
a IS_DOMAIN_INTRODUCED: 42\0
a RELEASE: abc\0
a RELEASE: 42\0
a RELEASE: 0\0
a RESUME: abc\0
a RESUME: 42\0
a SET_TARGET: abc\00\0
a SET_TARGET: 0\0abc\0
a SET_TARGET: 0\0
a INTRODUCE: abc\04660\07\0
a INTRODUCE: 3\0abc\07\0
a INTRODUCE: 3\04660\0abc\0
a INTRODUCE: 3\04660\0
a INTRODUCE: 0\04660\01\0
a INTRODUCE: 65536\04660\07\0
a INTRODUCE: 32752\04660\07\0

=== write-values
open a sock
a WRITE: /v\0
a READ: /v\0
a WRITE: /v\0a\0b\0
a READ: /v\0
a WRITE: /v\0\x00\x01\x02\xff
a READ: /v\0
a WRITE: /v\0\{x*4000}
a READ: /v\0
a WRITE: /v2\0\{x*4092}
a READ: /v2\0
a MKDIR: /v\0
a READ: /v\0
