# Watches: initial fire, children, relative paths, recursive fire on rm,
# unwatch, duplicates, permission filtering, reset.

=== first-fire-and-children
open a sock
open b sock
a WATCH: /wf\0t1\0
a events
b WRITE: /wf\0v
b WRITE: /wf/c/d\0v
b WRITE: /wfx\0v
b WRITE: /w\0v
b MKDIR: /wf/m\0
b SET_PERMS: /wf\0n0\0r1\0
b READ: /wf\0
a events
b WRITE: /wf\0v
a events

=== recursive-fire-on-rm
open a sock
open b sock
b WRITE: /wr/a/b/c\0v
b WRITE: /wr/x\0v
a WATCH: /wr/a/b/c\0deep\0
a WATCH: /wr/a\0mid\0
a WATCH: /wr\0top\0
a WATCH: /\0root\0
a events
b RM: /wr/a\0
a events
b RM: /wr\0
a events
b RM: /wr\0
a events

=== duplicates-and-unwatch
open a sock
open b sock
a WATCH: /wd\0tok\0
a WATCH: /wd\0tok\0
a WATCH: /wd\0tok2\0
a WATCH: /wd/\0tok\0
b WATCH: /wd\0tok\0
a events
b events
b WRITE: /wd\0v
a events
b events
a UNWATCH: /wd\0tok\0
a UNWATCH: /wd\0tok\0
a UNWATCH: /wd\0nope\0
a UNWATCH: /nope\0tok2\0
b WRITE: /wd\0v2
a events
b events
a RESET_WATCHES: \0
b WRITE: /wd\0v3
a events
a WATCH: /wd\0tok\0
a events

=== token-contents
open a sock
a WATCH: /wt\0\0
a WATCH: /wt\0a b\xff\0
a WATCH: /wt\0x\0extra\0
a WATCH: /wt2\0\{k*3000}\0
a events
a WRITE: /wt\0v
a events

=== relative-guest
open a sock
guest a g1 1
g1 WATCH: data\0rel\0
g1 WATCH: /local/domain/1/data\0abs\0
g1 events
a WRITE: /local/domain/1/data/x\0v
g1 events
g1 WRITE: data/y\0v
g1 events
g1 UNWATCH: /local/domain/1/data\0rel\0
g1 UNWATCH: data\0rel\0
a RM: /local/domain/1/data\0
g1 events

=== permission-filtering
open a sock
guest a g1 1
guest a g2 2
a WRITE: /wp/open\0v
a SET_PERMS: /wp/open\0n0\0r1\0
a WRITE: /wp/closed\0v
g1 WATCH: /wp\0wp\0
g1 WATCH: /wp/closed\0closed\0
g1 WATCH: /wp/open\0open\0
g1 WATCH: /local/domain/2\0other\0
g1 events
a WRITE: /wp/open\0v2
a WRITE: /wp/closed\0v2
a WRITE: /wp/new\0v
g2 WRITE: x\0v
a WRITE: /wp\0v
g1 events
a SET_PERMS: /wp/closed\0n0\0r1\0
g1 events
a RM: /wp\0
g1 events

=== guest-watch-quota
open a sock
guest a g1 1
g1 WATCH: w\0t001\0
g1 WATCH: w\0t002\0
g1 WATCH: w\0t003\0
g1 WATCH: w\0t004\0
g1 WATCH: w\0t005\0
g1 WATCH: w\0t006\0
g1 WATCH: w\0t007\0
g1 WATCH: w\0t008\0
g1 WATCH: w\0t009\0
g1 WATCH: w\0t010\0
g1 WATCH: w\0t011\0
g1 WATCH: w\0t012\0
g1 WATCH: w\0t013\0
g1 WATCH: w\0t014\0
g1 WATCH: w\0t015\0
g1 WATCH: w\0t016\0
g1 WATCH: w\0t017\0
g1 WATCH: w\0t018\0
g1 WATCH: w\0t019\0
g1 WATCH: w\0t020\0
g1 WATCH: w\0t021\0
g1 WATCH: w\0t022\0
g1 WATCH: w\0t023\0
g1 WATCH: w\0t024\0
g1 WATCH: w\0t025\0
g1 WATCH: w\0t026\0
g1 WATCH: w\0t027\0
g1 WATCH: w\0t028\0
g1 WATCH: w\0t029\0
g1 WATCH: w\0t030\0
g1 WATCH: w\0t031\0
g1 WATCH: w\0t032\0
g1 WATCH: w\0t033\0
g1 WATCH: w\0t034\0
g1 WATCH: w\0t035\0
g1 WATCH: w\0t036\0
g1 WATCH: w\0t037\0
g1 WATCH: w\0t038\0
g1 WATCH: w\0t039\0
g1 WATCH: w\0t040\0
g1 WATCH: w\0t041\0
g1 WATCH: w\0t042\0
g1 WATCH: w\0t043\0
g1 WATCH: w\0t044\0
g1 WATCH: w\0t045\0
g1 WATCH: w\0t046\0
g1 WATCH: w\0t047\0
g1 WATCH: w\0t048\0
g1 WATCH: w\0t049\0
g1 WATCH: w\0t050\0
g1 WATCH: w\0t051\0
g1 WATCH: w\0t052\0
g1 WATCH: w\0t053\0
g1 WATCH: w\0t054\0
g1 WATCH: w\0t055\0
g1 WATCH: w\0t056\0
g1 WATCH: w\0t057\0
g1 WATCH: w\0t058\0
g1 WATCH: w\0t059\0
g1 WATCH: w\0t060\0
g1 WATCH: w\0t061\0
g1 WATCH: w\0t062\0
g1 WATCH: w\0t063\0
g1 WATCH: w\0t064\0
g1 WATCH: w\0t065\0
g1 WATCH: w\0t066\0
g1 WATCH: w\0t067\0
g1 WATCH: w\0t068\0
g1 WATCH: w\0t069\0
g1 WATCH: w\0t070\0
g1 WATCH: w\0t071\0
g1 WATCH: w\0t072\0
g1 WATCH: w\0t073\0
g1 WATCH: w\0t074\0
g1 WATCH: w\0t075\0
g1 WATCH: w\0t076\0
g1 WATCH: w\0t077\0
g1 WATCH: w\0t078\0
g1 WATCH: w\0t079\0
g1 WATCH: w\0t080\0
g1 WATCH: w\0t081\0
g1 WATCH: w\0t082\0
g1 WATCH: w\0t083\0
g1 WATCH: w\0t084\0
g1 WATCH: w\0t085\0
g1 WATCH: w\0t086\0
g1 WATCH: w\0t087\0
g1 WATCH: w\0t088\0
g1 WATCH: w\0t089\0
g1 WATCH: w\0t090\0
g1 WATCH: w\0t091\0
g1 WATCH: w\0t092\0
g1 WATCH: w\0t093\0
g1 WATCH: w\0t094\0
g1 WATCH: w\0t095\0
g1 WATCH: w\0t096\0
g1 WATCH: w\0t097\0
g1 WATCH: w\0t098\0
g1 WATCH: w\0t099\0
g1 WATCH: w\0t100\0
g1 WATCH: w\0t101\0
g1 WATCH: w\0t102\0
g1 WATCH: w\0t103\0
g1 WATCH: w\0t104\0
g1 WATCH: w\0t105\0
g1 WATCH: w\0t106\0
g1 WATCH: w\0t107\0
g1 WATCH: w\0t108\0
g1 WATCH: w\0t109\0
g1 WATCH: w\0t110\0
g1 WATCH: w\0t111\0
g1 WATCH: w\0t112\0
g1 WATCH: w\0t113\0
g1 WATCH: w\0t114\0
g1 WATCH: w\0t115\0
g1 WATCH: w\0t116\0
g1 WATCH: w\0t117\0
g1 WATCH: w\0t118\0
g1 WATCH: w\0t119\0
g1 WATCH: w\0t120\0
g1 WATCH: w\0t121\0
g1 WATCH: w\0t122\0
g1 WATCH: w\0t123\0
g1 WATCH: w\0t124\0
g1 WATCH: w\0t125\0
g1 WATCH: w\0t126\0
g1 WATCH: w\0t127\0
g1 WATCH: w\0t128\0
g1 WATCH: w\0t129\0
g1 UNWATCH: w\0t001\0
g1 WATCH: w\0t130\0
g1 WATCH: w\0t131\0
a WATCH: w\0dom0-not-limited\0
