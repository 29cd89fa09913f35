/* mounts: a container's volumes, bind mounts and tmpfs mounts (see mounts.c). */
#ifndef BALE_MOUNTS_H
#define BALE_MOUNTS_H
#include <stddef.h>

/*
 * Apply every mount of mounts_file inside the container's root, which is the current directory
 * (before pivot_root). 0 on success; -1 with a one-line message in err.
 */
int bale_mounts_apply(const char *mounts_file, char *err, size_t errlen);

#endif
