# Basic operations from a privileged socket connection.

=== read-write
open a sock
a READ: /
a WRITE: /foo\0bar
a READ: /foo\0
a DIRECTORY: /\0
a GET_PERMS: /foo\0
a MKDIR: /foo/sub\0
a DIRECTORY: /foo\0
a RM: /foo\0
a READ: /foo\0

=== transaction-basic
open a sock
a TRANSACTION_START save=t1: \0
a WRITE tx=t1: /x\0in-tx
a READ: /x\0
a READ tx=t1: /x\0
a TRANSACTION_END tx=t1: T\0
a READ: /x\0
a DIRECTORY_PART: /\00\0

=== watch-basic
open a sock
open b sock
a WATCH: /w\0tok\0
b WRITE: /w/child\0v
a events
b RM: /w\0
