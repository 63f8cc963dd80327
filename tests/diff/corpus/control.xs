# XS_CONTROL (XS_DEBUG): the commands C xenstored knows, from dom0 and guests.

=== control-commands
open a sock
a CONTROL: print\0hello\0
a CONTROL: print\0
a CONTROL: print
a CONTROL: check\0
a CONTROL: nosuchcommand\0
a CONTROL: quota\0
a CONTROL: quota-soft\0
a CONTROL: log\0off\0
a CONTROL: logfile\0/dev/null\0
a CONTROL: memreport\0
a CONTROL: help\0
a CONTROL: live-update\0-q\0
a CONTROL: \0

=== control-from-guest
open a sock
guest a g1 1
g1 CONTROL: print\0hello\0
g1 CONTROL: check\0
g1 CONTROL: help\0
