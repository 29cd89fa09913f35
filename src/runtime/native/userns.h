/* userns: the user namespace a normal user's bale runs in (see userns.c). */
#ifndef BALE_USERNS_H
#define BALE_USERNS_H
#include <stddef.h>

/*
 * Enter the user namespace kept by the pause process named in pid_file, making it first when no
 * live one is there: the caller's uid and gid become 0 inside, and uidmap/gidmap ("IN OUT COUNT"
 * triples, as newuidmap takes them) map the rest through newuidmap/newgidmap; NULL maps only the
 * caller's own ids, written directly, and `note` (why) is printed when the namespace is made.
 * Returns 0 with the process uid 0 in that namespace, or -1
 * with a one-line message in err.
 */
int bale_userns_enter(const char *pid_file, const char *uidmap, const char *gidmap, const char *note, char *err,
                      size_t errlen);

#endif
