/* A container's seccomp filter, from the rules file bale wrote (see seccomp.c). */
#ifndef BALE_SECCOMP_H
#define BALE_SECCOMP_H
#include <linux/filter.h>
#include <stddef.h>

/*
 * The compiled filter for the rules file: read from cache_file when that holds this very filter
 * (cache_file may be NULL), else compiled and the cache file rewritten. Call it while the host's
 * paths are in reach. 0 on success; -1 with a one-line message in err.
 */
int bale_seccomp_prepare(const char *rules_file, const char *cache_file, struct sock_fprog *prog, char *err, size_t errlen);

/* Load a prepared filter. Leaves no_new_privs as it was. 0 or -1 with a message in err. */
int bale_seccomp_install(const struct sock_fprog *prog, char *err, size_t errlen);

#endif
