/* Loads a container's seccomp filter from the rules file bale wrote (see seccomp.c). */
#ifndef BALE_SECCOMP_H
#define BALE_SECCOMP_H
#include <stddef.h>

/* 0 on success; -1 with a one-line message in err. Leaves no_new_privs as it was. */
int bale_seccomp_load(const char *rules_file, char *err, size_t errlen);

#endif
