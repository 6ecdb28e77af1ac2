/*
 * dir_int.h: what the files of src/directory share and nobody else sees: the directory
 * handle, the built-in backend tables, arena string vectors and configuration helpers.
 * Ownership as in directory.h.
 */
#ifndef STAUNCH_DIRECTORY_DIR_INT_H
#define STAUNCH_DIRECTORY_DIR_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "directory/directory.h"

struct dir {
	const char *type;
	const struct dir_backend_ops *ops;
	void *h;
	struct store_data *data;
	struct dir_settings s;
	_Atomic uint64_t generation; /* dir_generation() */
};

/* Data-store key prefix of everything the directory keeps ("dir/", docs/directory.md). */
#define DIR_KEY_PREFIX "dir/"
/* Id collections (account 0) of the directory in the data store. */
#define DIR_COLL_PRINCIPAL 0x0d1u /* internal principal ids */
#define DIR_COLL_EXTERNAL 0x0d2u  /* account ids of LDAP and SQL principals */

extern const struct dir_backend_ops dir_internal_ops;
extern const struct dir_backend_ops dir_sql_ops;
extern const struct dir_backend_ops dir_ldap_ops;

/* A growable array of arena strings. */
struct dir_strv {
	const char **v;
	size_t n, cap;
};
void dir_strv_push(struct core_arena *a, struct dir_strv *sv, const char *s);
bool dir_strv_has(const struct dir_strv *sv, const char *s);

/* Lower-case ASCII copy in the arena. */
char *dir_lower_dup(struct core_arena *a, struct core_str s);

/* A principal zeroed in the arena. */
struct dir_principal *dir_principal_alloc(struct core_arena *a);

/* core_conf getters that tolerate c == NULL. */
const char *dir_conf_str(const struct core_conf *c, const char *key, const char *fallback);
int64_t dir_conf_int(const struct core_conf *c, const char *key, int64_t fallback);
bool dir_conf_bool(const struct core_conf *c, const char *key, bool fallback);

#endif
