/*
 * mailstore_conf.c: the mailstore.* configuration keys (docs/mailstore.md) and the options
 * they give. The server registers the keys and passes the options to mailstore_open().
 */
#include <string.h>

#include "core/core_conf.h"
#include "mailstore/mailstore.h"

#define MS_CONF_DAY_MS (24LL * 3600 * 1000)

static const struct core_conf_key mailstore_keys[] = {
	{"mailstore.tombstone-period", CORE_CONF_DURATION, "30d", NULL, 60 * 1000,
	 3650 * MS_CONF_DAY_MS, 0,
	 "How long destroyed ids and expunged UIDs are remembered; older JMAP states get "
	 "cannotCalculateChanges and QRESYNC falls back to VANISHED (EARLIER)."},
	{"mailstore.quota.storage", CORE_CONF_SIZE, "0", NULL, 0, 0, 0,
	 "Storage quota given to new accounts (RFC 9208 STORAGE), 0 for none."},
	{"mailstore.quota.messages", CORE_CONF_INT, "0", NULL, 0, INT64_MAX, 0,
	 "Message quota given to new accounts (RFC 9208 MESSAGE), 0 for none."},
};

void mailstore_conf_register(void)
{
	core_conf_register("Mail store", mailstore_keys, CORE_NELEM(mailstore_keys));
}

void mailstore_options_from_conf(const struct core_conf *c, struct mailstore_options *out)
{
	memset(out, 0, sizeof(*out));
	out->tombstone_ms = core_conf_get_duration_ms(c, "mailstore.tombstone-period", 0);
	out->quota_bytes = core_conf_get_size(c, "mailstore.quota.storage", 0);
	int64_t m = core_conf_get_int(c, "mailstore.quota.messages", 0);
	out->quota_messages = m > 0 ? (uint64_t)m : 0;
}
