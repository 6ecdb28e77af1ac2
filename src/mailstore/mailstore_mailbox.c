/*
 * mailstore_mailbox.c: mailboxes (RFC 8621 §2) with the IMAP view of them (RFC 9051 §5.1
 * names, §6.3.4 CREATE, §6.3.6 RENAME, §2.3.1.1 UIDVALIDITY/UIDNEXT; RFC 7162 HIGHESTMODSEQ;
 * RFC 6154 special-use roles).
 *
 * A mailbox is stored once by id; its name is one hierarchy level and its place is its
 * parent id, so renaming or moving a mailbox moves its whole subtree without touching the
 * children. Sibling names are unique through a point key (parent id, name) asserted on
 * create and rename (ARCHITECTURE.md §4: every uniqueness rule is a point key), and each
 * role through a point key per role.
 */
#include <stdlib.h>
#include <string.h>

#include "mailstore/mailstore_share.h"

static const char *const ms_role_names[MAILSTORE_ROLE_COUNT] = {
	NULL, "inbox", "drafts", "sent", "junk", "trash", "archive",
};
/* Names given to the special-use mailboxes an account starts with. */
static const char *const ms_role_labels[MAILSTORE_ROLE_COUNT] = {
	NULL, "Inbox", "Drafts", "Sent", "Junk", "Trash", "Archive",
};

const char *mailstore_role_name(enum mailstore_role r)
{
	return (unsigned)r < MAILSTORE_ROLE_COUNT ? ms_role_names[r] : NULL;
}

/* RFC 9051 §5.1: "INBOX" is case-insensitive; at the top level every spelling of it names
 * the Inbox, so they share one uniqueness key. */
static bool ms_is_inbox_name(const char *s, size_t n)
{
	return n == 5 && core_strncasecmp_ascii(s, "inbox", 5) == 0;
}

/*
 * Normalise one name level: NFC (RFC 5198, RFC 8621 §2 name), 1..MAILSTORE_NAME_MAX bytes,
 * no hierarchy separator, no control characters. Result arena-owned.
 */
static int ms_name_norm(struct ms_tx *tx, const char *name, size_t len, const char **out)
{
	if (len == 0)
		return ms_tx_fail(tx, CORE_ESYNTAX, "RFC 8621 §2", "empty mailbox name");
	struct core_buf b = CORE_BUF_INIT;
	struct core_error e;
	if (core_utf8_nfc(name, len, &b, &e) < 0) {
		core_buf_fini(&b);
		return ms_tx_fail(tx, CORE_ESYNTAX, "RFC 8621 §2", "mailbox name is not UTF-8");
	}
	int rc = 0;
	if (b.len > MAILSTORE_NAME_MAX)
		rc = ms_tx_fail(tx, CORE_ELIMIT, NULL, "mailbox name too long");
	for (size_t i = 0; i < b.len && rc == 0; i++) {
		unsigned char c = (unsigned char)b.p[i];
		if (c == MAILSTORE_SEP)
			rc = ms_tx_fail(tx, CORE_ESYNTAX, "RFC 9051 §5.1",
					"mailbox name holds the hierarchy separator");
		else if (c < 0x20 || c == 0x7f)
			rc = ms_tx_fail(tx, CORE_ESYNTAX, "RFC 9051 §5.1",
					"mailbox name holds a control character");
	}
	if (rc == 0)
		*out = core_arena_strndup(tx->a, b.p, b.len);
	core_buf_fini(&b);
	return rc;
}

static size_t ms_name_key(uint8_t *k, uint64_t account, uint64_t parent, const char *name)
{
	size_t kl = ms_key_id(k, account, MS_F_NAME, parent);
	size_t n = strlen(name);
	if (parent == 0 && ms_is_inbox_name(name, n)) {
		memcpy(k + kl, "INBOX", 5);
		return kl + 5;
	}
	memcpy(k + kl, name, n);
	return kl + n;
}

static size_t ms_role_key(uint8_t *k, uint64_t account, enum mailstore_role role)
{
	size_t kl = ms_key(k, account, MS_F_ROLE);
	k[kl] = (uint8_t)role;
	return kl + 1;
}

/* The mailbox id stored under a name or role key. */
static int ms_lookup_id(struct ms_tx *tx, const uint8_t *k, size_t kl, uint64_t *id_out)
{
	struct core_buf v = CORE_BUF_INIT;
	int rc = ms_get(tx, k, kl, &v);
	if (rc >= 0) {
		if (v.len != 8)
			rc = core_error_set(tx->err, CORE_EINTERNAL, NULL, "corrupt index entry");
		else
			*id_out = ms_rd_be64((const uint8_t *)v.p);
	}
	core_buf_fini(&v);
	return rc;
}

static int ms_put_id(struct ms_tx *tx, const uint8_t *k, size_t kl, uint64_t id)
{
	uint8_t v[8];
	ms_be64(v, id);
	return ms_put(tx, k, kl, v, 8);
}

/* Depth of a mailbox (1 at the top level). */
static int ms_depth(struct ms_tx *tx, uint64_t account, uint64_t id, unsigned *depth_out)
{
	unsigned d = 0;
	while (id != 0) {
		if (++d > MAILSTORE_DEPTH_MAX + 1)
			return core_error_set(tx->err, CORE_EINTERNAL, NULL, "mailbox loop");
		struct ms_tx_mbox *mb;
		int rc = ms_tx_mbox(tx, account, id, &mb);
		if (rc < 0)
			return rc;
		id = mb->m.parent_id;
	}
	*depth_out = d;
	return 0;
}

int ms_mailbox_create_in(struct ms_tx *tx, struct ms_tx_acct *ac, uint64_t parent, const char *name,
			 enum mailstore_role role, uint64_t *id_out)
{
	if ((unsigned)role >= MAILSTORE_ROLE_COUNT)
		return ms_tx_fail(tx, CORE_ESYNTAX, NULL, "unknown role");
	unsigned depth = 0;
	if (parent != 0) {
		int rc = ms_depth(tx, ac->account, parent, &depth);
		if (rc == CORE_ENOTFOUND)
			return ms_tx_fail(tx, CORE_ENOTFOUND, "RFC 8621 §2", "no such parent");
		if (rc < 0)
			return rc;
	}
	if (depth + 1 > MAILSTORE_DEPTH_MAX)
		return ms_tx_fail(tx, CORE_ELIMIT, NULL, "mailbox hierarchy too deep");
	const char *nm;
	int rc = ms_name_norm(tx, name, strlen(name), &nm);
	if (rc < 0)
		return rc;
	if (parent == 0 && ms_is_inbox_name(nm, strlen(nm)) && role != MAILSTORE_ROLE_INBOX)
		return ms_tx_fail(tx, CORE_ECONFLICT, "RFC 9051 §5.1",
				  "the name INBOX belongs to the Inbox");
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_name_key(k, ac->account, parent, nm);
	uint64_t other = 0;
	rc = ms_lookup_id(tx, k, kl, &other);
	if (rc >= 0)
		return ms_tx_fail(tx, CORE_ECONFLICT, "RFC 8621 §2",
				  "a mailbox with this name exists");
	if (rc != CORE_ENOTFOUND)
		return rc;
	/* Point key of the uniqueness rule: a concurrent creator of the same name conflicts
	 * here even on a backend that does not serialise on the account record. */
	if ((rc = store_txn_assert(tx->t, k, kl, NULL, 0, tx->err)) < 0)
		return rc;
	uint8_t rk[STORE_KEY_MAX];
	size_t rkl = 0;
	if (role != MAILSTORE_ROLE_NONE) {
		rkl = ms_role_key(rk, ac->account, role);
		rc = ms_lookup_id(tx, rk, rkl, &other);
		if (rc >= 0)
			return ms_tx_fail(tx, CORE_ECONFLICT, "RFC 8621 §2",
					  "another mailbox has this role");
		if (rc != CORE_ENOTFOUND)
			return rc;
		if ((rc = store_txn_assert(tx->t, rk, rkl, NULL, 0, tx->err)) < 0)
			return rc;
	}
	uint64_t id;
	if ((rc = store_txn_id_next(tx->t, ac->account, MS_COLL_MAILBOX, &id, tx->err)) < 0)
		return rc;
	struct mailstore_mailbox m = {0};
	m.id = id;
	m.parent_id = parent;
	m.name = nm;
	m.role = role;
	m.subscribed = role != MAILSTORE_ROLE_NONE;
	/* RFC 9051 §2.3.1.1: a mailbox that replaces an earlier one of the same name must
	 * have a greater UIDVALIDITY; per account the value only grows (seconds of the clock,
	 * or one more than the last one given). */
	uint64_t now_s = store_now_ms() / 1000;
	uint32_t uv = now_s > UINT32_MAX - 1 ? UINT32_MAX - 1 : (uint32_t)now_s;
	if (uv <= ac->rec.last_uidvalidity)
		uv = ac->rec.last_uidvalidity + 1;
	if (uv == 0)
		uv = 1;
	ac->rec.last_uidvalidity = uv;
	m.uidvalidity = uv;
	m.uidnext = 1;
	m.highest_modseq = m.created_modseq = m.updated_modseq = ac->modseq;
	if ((rc = ms_put_id(tx, k, kl, id)) < 0)
		return rc;
	if (rkl > 0 && (rc = ms_put_id(tx, rk, rkl, id)) < 0)
		return rc;
	struct ms_tx_mbox *nmb = ms_tx_mbox_add(tx, ac->account, &m);
	ms_tx_log(tx, ac, MAILSTORE_T_MAILBOX, MS_OP_CREATED, id);
	/* RFC 9051 §6.3.7: a name subscribed before its mailbox existed makes the new
	 * mailbox subscribed; a mailbox created subscribed (a role) subscribes its name. */
	struct core_buf path = CORE_BUF_INIT;
	rc = ms_mailbox_path_in(tx, ac->account, id, &path);
	if (rc >= 0 && nmb->m.subscribed)
		rc = ms_sub_put(tx, ac->account, path.p, path.len, true);
	else if (rc >= 0)
		rc = ms_sub_has(tx, ac->account, path.p, path.len, &nmb->m.subscribed);
	core_buf_fini(&path);
	if (rc < 0)
		return rc;
	if (id_out != NULL)
		*id_out = id;
	return 0;
}

int ms_account_init(struct ms_tx *tx, struct ms_tx_acct *ac)
{
	ac->rec.quota_bytes = tx->ms->o.quota_bytes;
	ac->rec.quota_messages = tx->ms->o.quota_messages;
	ac->dirty = true;
	/* RFC 8621 §2 / RFC 6154: the special-use mailboxes exist from the account's first
	 * use, so deliveries and clients find them by role. */
	for (int r = MAILSTORE_ROLE_INBOX; r < MAILSTORE_ROLE_COUNT; r++) {
		int rc = ms_mailbox_create_in(tx, ac, 0, ms_role_labels[r], (enum mailstore_role)r,
					      NULL);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ---------------------------------------------------------------------------------- */

struct ms_mb_ctx {
	uint64_t account, id, parent;
	const char *name, *path, *path2;
	enum mailstore_role role;
	uint64_t *id_out;
	struct core_arena *a;
	struct mailstore_mailbox *out;
	struct mailstore_mailbox *list;
	size_t n, cap;
	struct core_buf *buf;
	const struct mailstore_mailbox_patch *patch;
	bool flag;
	uint64_t *ids; /* caller frees */
	size_t nids, capids;
};

/* Collect the trailing be64 id of 18-byte keys. */
static int ms_list_ids_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	(void)val;
	(void)vlen;
	struct ms_mb_ctx *c = arg;
	if (klen != 18)
		return CORE_EINTERNAL;
	if (c->nids == c->capids) {
		c->capids = c->capids ? c->capids * 2 : 8;
		c->ids = core_xrealloc(c->ids, c->capids * sizeof(uint64_t));
	}
	c->ids[c->nids++] = ms_rd_be64((const uint8_t *)key + 10);
	return 0;
}

static int ms_create_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_mb_ctx *c = ctx;
	return ms_mailbox_create_in(tx, &tx->acct[0], c->parent, c->name, c->role, c->id_out);
}

int mailstore_mailbox_create(struct mailstore *ms, uint64_t account, uint64_t parent_id,
			     const char *name, enum mailstore_role role, uint64_t *id_out,
			     struct core_error *err)
{
	if (name == NULL)
		return core_error_set(err, CORE_ESYNTAX, NULL, "no mailbox name");
	struct ms_mb_ctx c = {.account = account,
			      .parent = parent_id,
			      .name = name,
			      .role = role,
			      .id_out = id_out};
	return ms_tx_run(ms, &account, 1, ms_create_fn, &c, err);
}

/*
 * Walk a '/'-separated path. With create, missing levels are created; *created_last tells
 * whether the last level was made here. Returns the last level's id.
 */
static int ms_walk(struct ms_tx *tx, uint64_t account, const char *path, bool create,
		   uint64_t *id_out, bool *created_last)
{
	size_t len = strlen(path);
	if (len == 0)
		return ms_tx_fail(tx, CORE_ESYNTAX, "RFC 9051 §5.1", "empty mailbox name");
	/* RFC 9051 §6.3.4: a trailing separator only says the name will hold children. */
	if (path[len - 1] == MAILSTORE_SEP)
		len--;
	uint64_t parent = 0;
	size_t i = 0;
	bool created = false;
	unsigned level = 0;
	while (i < len) {
		size_t j = i;
		while (j < len && path[j] != MAILSTORE_SEP)
			j++;
		if (++level > MAILSTORE_DEPTH_MAX)
			return ms_tx_fail(tx, CORE_ELIMIT, NULL, "mailbox hierarchy too deep");
		const char *nm;
		int rc = ms_name_norm(tx, path + i, j - i, &nm);
		if (rc < 0)
			return rc;
		uint8_t k[STORE_KEY_MAX];
		size_t kl = ms_name_key(k, account, parent, nm);
		uint64_t id;
		/* RFC 9051 §5.1: INBOX is the Inbox wherever JMAP has moved or renamed it. */
		if (parent == 0 && ms_is_inbox_name(nm, strlen(nm)))
			kl = ms_role_key(k, account, MAILSTORE_ROLE_INBOX);
		rc = ms_lookup_id(tx, k, kl, &id);
		created = false;
		if (rc == CORE_ENOTFOUND && create) {
			rc = ms_mailbox_create_in(tx, ms_tx_acct(tx, account), parent, nm,
						  MAILSTORE_ROLE_NONE, &id);
			created = true;
		} else if (rc == CORE_ENOTFOUND) {
			return ms_tx_fail(tx, CORE_ENOTFOUND, NULL, "no such mailbox");
		}
		if (rc < 0)
			return rc;
		parent = id;
		i = j + 1;
	}
	*id_out = parent;
	if (created_last != NULL)
		*created_last = created;
	return 0;
}

static int ms_create_path_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_mb_ctx *c = ctx;
	uint64_t id;
	bool created;
	int rc = ms_walk(tx, c->account, c->path, true, &id, &created);
	if (rc < 0)
		return rc;
	if (!created)
		return ms_tx_fail(tx, CORE_ECONFLICT, "RFC 9051 §6.3.4", "mailbox exists");
	if (c->id_out != NULL)
		*c->id_out = id;
	return 0;
}

int mailstore_mailbox_create_path(struct mailstore *ms, uint64_t account, const char *path,
				  uint64_t *id_out, struct core_error *err)
{
	if (path == NULL)
		return core_error_set(err, CORE_ESYNTAX, NULL, "no mailbox name");
	struct ms_mb_ctx c = {.account = account, .path = path, .id_out = id_out};
	return ms_tx_run(ms, &account, 1, ms_create_path_fn, &c, err);
}

static int ms_get_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_mb_ctx *c = ctx;
	struct ms_tx_mbox *mb;
	int rc = ms_tx_mbox(tx, c->account, c->id, &mb);
	if (rc < 0)
		return rc;
	*c->out = mb->m;
	c->out->name = core_arena_strdup(c->a, mb->m.name);
	return 0;
}

int mailstore_mailbox_get(struct mailstore *ms, uint64_t account, uint64_t id, struct core_arena *a,
			  struct mailstore_mailbox *out, struct core_error *err)
{
	struct ms_mb_ctx c = {.account = account, .id = id, .a = a, .out = out};
	return ms_tx_read(ms, c.account, ms_get_fn, &c, err);
}

struct ms_list_scan {
	struct ms_mb_ctx *c;
	int bad;
};

static int ms_list_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct ms_mb_ctx *c = arg;
	if (klen != 18)
		return CORE_EINTERNAL;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 16;
		c->list = core_arena_grow(c->a, c->list, c->n, c->cap, sizeof(*c->list));
	}
	struct mailstore_mailbox *m = &c->list[c->n];
	m->id = ms_rd_be64((const uint8_t *)key + 10);
	if (ms_mailbox_decode(val, vlen, c->a, m) < 0)
		return CORE_EINTERNAL;
	c->n++;
	return 0;
}

static int ms_list_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_mb_ctx *c = ctx;
	uint8_t pre[STORE_KEY_MAX], hi[STORE_KEY_MAX];
	size_t pl = ms_key(pre, c->account, MS_F_MAILBOX);
	struct store_range r;
	store_range_prefix(&r, pre, pl, hi);
	c->n = 0;
	c->cap = 0;
	int rc = store_txn_scan(tx->t, &r, ms_list_cb, c, tx->err);
	if (rc == CORE_EINTERNAL)
		return core_error_set(tx->err, rc, NULL, "corrupt mailbox record");
	return rc;
}

int mailstore_mailbox_list(struct mailstore *ms, uint64_t account, struct core_arena *a,
			   struct mailstore_mailbox **out, size_t *n_out, struct core_error *err)
{
	struct ms_mb_ctx c = {.account = account, .a = a};
	int rc = ms_tx_read(ms, c.account, ms_list_fn, &c, err);
	if (rc >= 0) {
		*out = c.list;
		*n_out = c.n;
	}
	return rc;
}

static int ms_find_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_mb_ctx *c = ctx;
	return ms_walk(tx, c->account, c->path, false, c->id_out, NULL);
}

int mailstore_mailbox_find(struct mailstore *ms, uint64_t account, const char *path,
			   uint64_t *id_out, struct core_error *err)
{
	if (path == NULL)
		return core_error_set(err, CORE_ESYNTAX, NULL, "no mailbox name");
	struct ms_mb_ctx c = {.account = account, .path = path, .id_out = id_out};
	return ms_tx_read(ms, c.account, ms_find_fn, &c, err);
}

static int ms_find_role_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_mb_ctx *c = ctx;
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_role_key(k, c->account, c->role);
	int rc = ms_lookup_id(tx, k, kl, c->id_out);
	if (rc == CORE_ENOTFOUND)
		return core_error_set(tx->err, rc, NULL, "no mailbox has this role");
	return rc;
}

int mailstore_mailbox_find_role(struct mailstore *ms, uint64_t account, enum mailstore_role role,
				uint64_t *id_out, struct core_error *err)
{
	if (role == MAILSTORE_ROLE_NONE || (unsigned)role >= MAILSTORE_ROLE_COUNT)
		return core_error_set(err, CORE_ESYNTAX, NULL, "unknown role");
	struct ms_mb_ctx c = {.account = account, .role = role, .id_out = id_out};
	return ms_tx_read(ms, c.account, ms_find_role_fn, &c, err);
}

int ms_mailbox_path_in(struct ms_tx *tx, uint64_t account, uint64_t id, struct core_buf *out)
{
	const char *names[MAILSTORE_DEPTH_MAX + 1];
	size_t n = 0;
	while (id != 0) {
		if (n > MAILSTORE_DEPTH_MAX)
			return core_error_set(tx->err, CORE_EINTERNAL, NULL, "mailbox loop");
		struct ms_tx_mbox *mb;
		int rc = ms_tx_mbox(tx, account, id, &mb);
		if (rc < 0)
			return rc;
		/* RFC 9051 §5.1: the Inbox is INBOX to IMAP, wherever JMAP has put it. */
		if (mb->m.role == MAILSTORE_ROLE_INBOX) {
			names[n++] = "INBOX";
			break;
		}
		names[n++] = mb->m.name;
		id = mb->m.parent_id;
	}
	for (size_t i = n; i-- > 0;) {
		core_buf_append_str(out, names[i]);
		if (i > 0)
			core_buf_putc(out, MAILSTORE_SEP);
	}
	return 0;
}

static int ms_path_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_mb_ctx *c = ctx;
	return ms_mailbox_path_in(tx, c->account, c->id, c->buf);
}

int ms_mailbox_name_norm(struct ms_tx *tx, const char *name, size_t len, const char **out)
{
	return ms_name_norm(tx, name, len, out);
}

int ms_mailbox_walk(struct ms_tx *tx, uint64_t account, const char *path, uint64_t *id_out)
{
	return ms_walk(tx, account, path, false, id_out, NULL);
}

int mailstore_mailbox_path(struct mailstore *ms, uint64_t account, uint64_t id,
			   struct core_buf *out, struct core_error *err)
{
	struct ms_mb_ctx c = {.account = account, .id = id, .buf = out};
	return ms_tx_read(ms, c.account, ms_path_fn, &c, err);
}

/* ---------------------------------------------------------------------------------- */
/* Rename, update, destroy                                                            */
/* ---------------------------------------------------------------------------------- */

static int ms_rename_in(struct ms_tx *tx, uint64_t account, uint64_t id, uint64_t new_parent,
			const char *new_name)
{
	struct ms_tx_acct *ac = ms_tx_acct(tx, account);
	struct ms_tx_mbox *mb;
	int rc = ms_tx_mbox_need(tx, account, id, NULL, &mb);
	if (rc < 0)
		return rc;
	/* RFC 8621 §2: parentId may not make a loop (the mailbox itself or a descendant). */
	unsigned levels = 0;
	for (uint64_t p = new_parent; p != 0;) {
		if (p == id)
			return ms_tx_fail(tx, CORE_EPERM, "RFC 8621 §2",
					  "a mailbox cannot move below itself");
		struct ms_tx_mbox *pm;
		rc = ms_tx_mbox(tx, account, p, &pm);
		if (rc < 0)
			return rc == CORE_ENOTFOUND ? ms_tx_fail(tx, rc, NULL, "no such parent")
						    : rc;
		p = pm->m.parent_id;
		levels++;
	}
	if (levels + 1 > MAILSTORE_DEPTH_MAX)
		return ms_tx_fail(tx, CORE_ELIMIT, NULL, "mailbox hierarchy too deep");
	const char *nm;
	if ((rc = ms_name_norm(tx, new_name, strlen(new_name), &nm)) < 0)
		return rc;
	if (new_parent == mb->m.parent_id && strcmp(nm, mb->m.name) == 0)
		return 0;
	if (new_parent == 0 && ms_is_inbox_name(nm, strlen(nm)) &&
	    mb->m.role != MAILSTORE_ROLE_INBOX)
		return ms_tx_fail(tx, CORE_ECONFLICT, "RFC 9051 §5.1",
				  "the name INBOX belongs to the Inbox");
	uint8_t k[STORE_KEY_MAX], ok[STORE_KEY_MAX];
	size_t kl = ms_name_key(k, account, new_parent, nm);
	size_t okl = ms_name_key(ok, account, mb->m.parent_id, mb->m.name);
	uint64_t other = 0;
	rc = ms_lookup_id(tx, k, kl, &other);
	if (rc >= 0 && other != id)
		return ms_tx_fail(tx, CORE_ECONFLICT, "RFC 9051 §6.3.6",
				  "a mailbox with the new name exists");
	if (rc < 0 && rc != CORE_ENOTFOUND)
		return rc;
	if (rc == CORE_ENOTFOUND) {
		/* The new name's uniqueness point key. */
		if ((rc = store_txn_assert(tx->t, k, kl, NULL, 0, tx->err)) < 0)
			return rc;
		if ((rc = ms_del(tx, ok, okl)) < 0 || (rc = ms_put_id(tx, k, kl, id)) < 0)
			return rc;
	}
	mb->m.parent_id = new_parent;
	mb->m.name = nm;
	mb->m.updated_modseq = ac->modseq;
	mb->dirty = true;
	ms_tx_log(tx, ac, MAILSTORE_T_MAILBOX, MS_OP_UPDATED, id);
	return 0;
}

static int ms_rename_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_mb_ctx *c = ctx;
	return ms_rename_in(tx, c->account, c->id, c->parent, c->name);
}

int mailstore_mailbox_rename(struct mailstore *ms, uint64_t account, uint64_t id,
			     uint64_t new_parent, const char *new_name, struct core_error *err)
{
	if (new_name == NULL)
		return core_error_set(err, CORE_ESYNTAX, NULL, "no mailbox name");
	struct ms_mb_ctx c = {.account = account, .id = id, .parent = new_parent, .name = new_name};
	return ms_tx_run(ms, &account, 1, ms_rename_fn, &c, err);
}

static int ms_rename_path_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_mb_ctx *c = ctx;
	uint64_t id;
	c->flag = false;
	int rc = ms_walk(tx, c->account, c->path, false, &id, NULL);
	if (rc < 0)
		return rc;
	struct ms_tx_mbox *src;
	if ((rc = ms_tx_mbox(tx, c->account, id, &src)) < 0)
		return rc;
	if (src->m.role == MAILSTORE_ROLE_INBOX) {
		/* RFC 9051 §6.3.6: renaming INBOX creates the new name and moves INBOX's
		 * messages there; INBOX stays, empty. The move follows in batches. */
		bool created;
		if ((rc = ms_walk(tx, c->account, c->path2, true, &c->parent, &created)) < 0)
			return rc;
		if (!created)
			return ms_tx_fail(tx, CORE_ECONFLICT, "RFC 9051 §6.3.6", "mailbox exists");
		c->id = id;
		c->flag = true;
		return 0;
	}
	size_t len = strlen(c->path2);
	while (len > 0 && c->path2[len - 1] == MAILSTORE_SEP)
		len--;
	size_t cut = len;
	while (cut > 0 && c->path2[cut - 1] != MAILSTORE_SEP)
		cut--;
	if (cut == len)
		return ms_tx_fail(tx, CORE_ESYNTAX, "RFC 9051 §5.1", "empty mailbox name");
	uint64_t parent = 0;
	if (cut > 0) {
		/* RFC 9051 §6.3.6: superior levels of the new name are created. */
		char *sup = core_arena_strndup(tx->a, c->path2, cut - 1);
		if ((rc = ms_walk(tx, c->account, sup, true, &parent, NULL)) < 0)
			return rc;
	}
	char *leaf = core_arena_strndup(tx->a, c->path2 + cut, len - cut);
	if (parent == 0 && ms_is_inbox_name(leaf, strlen(leaf)))
		return ms_tx_fail(tx, CORE_ECONFLICT, "RFC 9051 §6.3.6", "cannot rename to INBOX");
	/* Renaming to the same name is an error in IMAP: the target exists. */
	struct ms_tx_mbox *mb;
	if ((rc = ms_tx_mbox(tx, c->account, id, &mb)) < 0)
		return rc;
	const char *nm;
	if ((rc = ms_name_norm(tx, leaf, strlen(leaf), &nm)) < 0)
		return rc;
	if (mb->m.parent_id == parent && strcmp(mb->m.name, nm) == 0)
		return ms_tx_fail(tx, CORE_ECONFLICT, "RFC 9051 §6.3.6", "mailbox exists");
	return ms_rename_in(tx, c->account, id, parent, nm);
}

int mailstore_mailbox_rename_path(struct mailstore *ms, uint64_t account, const char *from,
				  const char *to, struct core_error *err)
{
	if (from == NULL || to == NULL)
		return core_error_set(err, CORE_ESYNTAX, NULL, "no mailbox name");
	struct ms_mb_ctx c = {.account = account, .path = from, .path2 = to};
	int rc = ms_tx_run(ms, &account, 1, ms_rename_path_fn, &c, err);
	if (rc >= 0 && c.flag)
		rc = ms_mailbox_move_all(ms, account, c.id, c.parent, err);
	return rc < 0 ? rc : 0;
}

static int ms_update_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_mb_ctx *c = ctx;
	struct ms_tx_acct *ac = &tx->acct[0];
	struct ms_tx_mbox *mb;
	int rc = ms_tx_mbox_need(tx, c->account, c->id, NULL, &mb);
	if (rc < 0)
		return rc;
	const struct mailstore_mailbox_patch *p = c->patch;
	bool changed = false;
	if (p->sort_order != NULL && *p->sort_order != mb->m.sort_order) {
		mb->m.sort_order = *p->sort_order;
		changed = true;
	}
	if (p->subscribed != NULL && *p->subscribed != mb->m.subscribed) {
		mb->m.subscribed = *p->subscribed;
		changed = true;
		/* The IMAP view (RFC 9051 §6.3.7): isSubscribed follows the name now held. */
		struct core_buf path = CORE_BUF_INIT;
		rc = ms_mailbox_path_in(tx, c->account, c->id, &path);
		if (rc >= 0)
			rc = ms_sub_put(tx, c->account, path.p, path.len, mb->m.subscribed);
		core_buf_fini(&path);
		if (rc < 0)
			return rc;
	}
	if (p->role != NULL && *p->role != mb->m.role) {
		enum mailstore_role r = *p->role;
		if ((unsigned)r >= MAILSTORE_ROLE_COUNT)
			return ms_tx_fail(tx, CORE_ESYNTAX, NULL, "unknown role");
		/* IMAP always needs its INBOX: the Inbox keeps its role. */
		if (r == MAILSTORE_ROLE_INBOX || mb->m.role == MAILSTORE_ROLE_INBOX)
			return ms_tx_fail(tx, CORE_EPERM, "RFC 9051 §5.1",
					  "the Inbox role cannot move");
		uint8_t k[STORE_KEY_MAX];
		size_t kl;
		if (r != MAILSTORE_ROLE_NONE) {
			kl = ms_role_key(k, c->account, r);
			uint64_t other;
			rc = ms_lookup_id(tx, k, kl, &other);
			if (rc >= 0)
				return ms_tx_fail(tx, CORE_ECONFLICT, "RFC 8621 §2",
						  "another mailbox has this role");
			if (rc != CORE_ENOTFOUND)
				return rc;
			if ((rc = store_txn_assert(tx->t, k, kl, NULL, 0, tx->err)) < 0 ||
			    (rc = ms_put_id(tx, k, kl, c->id)) < 0)
				return rc;
		}
		if (mb->m.role != MAILSTORE_ROLE_NONE) {
			kl = ms_role_key(k, c->account, mb->m.role);
			if ((rc = ms_del(tx, k, kl)) < 0)
				return rc;
		}
		mb->m.role = r;
		changed = true;
	}
	if (!changed)
		return 0;
	mb->m.updated_modseq = ac->modseq;
	mb->dirty = true;
	ms_tx_log(tx, ac, MAILSTORE_T_MAILBOX, MS_OP_UPDATED, c->id);
	return 0;
}

int mailstore_mailbox_update(struct mailstore *ms, uint64_t account, uint64_t id,
			     const struct mailstore_mailbox_patch *p, struct core_error *err)
{
	if (p == NULL)
		return 0;
	struct ms_mb_ctx c = {.account = account, .id = id, .patch = p};
	return ms_tx_run(ms, &account, 1, ms_update_fn, &c, err);
}

static int ms_first_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	(void)key;
	(void)klen;
	(void)val;
	(void)vlen;
	*(bool *)arg = true;
	return 1;
}

struct ms_collect {
	uint64_t *ids;
	uint32_t *uids;
	size_t n, cap;
};

static int ms_collect_uid_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct ms_collect *c = arg;
	if (klen != 22)
		return CORE_EINTERNAL;
	struct ms_dec d;
	ms_dec_init(&d, val, vlen);
	uint64_t eid = ms_get_u64(&d);
	if (d.bad)
		return CORE_EINTERNAL;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->ids = core_xrealloc(c->ids, c->cap * sizeof(uint64_t));
		c->uids = core_xrealloc(c->uids, c->cap * sizeof(uint32_t));
	}
	c->uids[c->n] = ms_rd_be32((const uint8_t *)key + 18);
	c->ids[c->n++] = eid;
	return 0;
}

/* Emails, tombstones and thread counts removed per purge transaction. */
#define MS_PURGE_EMAILS 256u
#define MS_PURGE_KEYS 1024u

static size_t ms_pending_key(uint8_t *k, uint64_t account, uint64_t id)
{
	return ms_key_id(k, account, MS_F_PENDING, id);
}

/*
 * Destroying a mailbox, first step: it disappears at once (record, name, role), a pending
 * marker remembers that its contents still have to go, and the change is logged. Its
 * emails are handled by ms_purge_batch_fn in bounded transactions (issue 6: deleting a
 * mailbox is a resumable batch).
 */
static int ms_destroy_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_mb_ctx *c = ctx;
	struct ms_tx_acct *ac = &tx->acct[0];
	struct ms_tx_mbox *mb;
	int rc = ms_tx_mbox_need(tx, c->account, c->id, NULL, &mb);
	if (rc < 0)
		return rc;
	uint8_t pre[STORE_KEY_MAX], hi[STORE_KEY_MAX];
	size_t pl = ms_key_id(pre, c->account, MS_F_NAME, c->id);
	struct store_range r;
	store_range_prefix(&r, pre, pl, hi);
	bool child = false;
	if ((rc = store_txn_scan(tx->t, &r, ms_first_cb, &child, tx->err)) < 0)
		return rc;
	if (child)
		return ms_tx_fail(tx, CORE_ECONFLICT, "RFC 8621 §2", "mailboxHasChild");
	if (mb->m.total > 0 && !c->flag)
		return ms_tx_fail(tx, CORE_ECONFLICT, "RFC 8621 §2", "mailboxHasEmail");
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_name_key(k, c->account, mb->m.parent_id, mb->m.name);
	if ((rc = ms_del(tx, k, kl)) < 0)
		return rc;
	if (mb->m.role != MAILSTORE_ROLE_NONE) {
		kl = ms_role_key(k, c->account, mb->m.role);
		if ((rc = ms_del(tx, k, kl)) < 0)
			return rc;
	}
	kl = ms_key_id(k, c->account, MS_F_MAILBOX, c->id);
	if ((rc = ms_del(tx, k, kl)) < 0)
		return rc;
	kl = ms_pending_key(k, c->account, c->id);
	if ((rc = ms_put(tx, k, kl, "", 0)) < 0)
		return rc;
	/* Its ACL and the per-user counts go with it; a subscribed name stays (RFC 9051
	 * §6.3.7: the server does not unsubscribe a name whose mailbox is gone). */
	if ((rc = ms_acl_drop_mailbox(tx, c->account, c->id)) < 0 ||
	    (rc = ms_seen_drop_mailbox(tx, c->account, c->id)) < 0)
		return rc;
	mb->destroyed = true;
	ms_tx_log(tx, ac, MAILSTORE_T_MAILBOX, MS_OP_DESTROYED, c->id);
	return 0;
}

/* One bounded step of purging a destroyed mailbox; sets c->flag when nothing is left. */
static int ms_purge_batch_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_mb_ctx *c = ctx;
	struct ms_tx_acct *ac = &tx->acct[0];
	c->flag = false;
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_pending_key(k, c->account, c->id);
	struct core_buf v = CORE_BUF_INIT;
	int rc = ms_get(tx, k, kl, &v);
	if (rc == CORE_ENOTFOUND) {
		/* Another purger finished it. */
		core_error_clear(tx->err);
		core_buf_fini(&v);
		c->flag = true;
		return 0;
	}
	if (rc < 0) {
		core_buf_fini(&v);
		return rc;
	}
	/* Its emails leave it; those in no other mailbox are destroyed. */
	uint8_t pre[STORE_KEY_MAX], hi[STORE_KEY_MAX];
	size_t pl = ms_key_id(pre, c->account, MS_F_UID, c->id);
	struct store_range r;
	store_range_prefix(&r, pre, pl, hi);
	r.limit = MS_PURGE_EMAILS;
	struct ms_collect col = {0};
	rc = store_txn_scan(tx->t, &r, ms_collect_uid_cb, &col, tx->err);
	for (size_t i = 0; i < col.n && rc >= 0; i++) {
		struct mailstore_email e = {0};
		rc = ms_email_load(tx, c->account, col.ids[i], &e, &v);
		bool member = false;
		for (size_t j = 0; rc >= 0 && j < e.nmembers && !member; j++)
			member = e.members[j].mailbox == c->id;
		if (rc >= 0 && member) {
			rc = ms_email_leave(tx, ac, &e, c->id, NULL);
		} else if (rc >= 0 || rc == CORE_ENOTFOUND) {
			/* An index entry without its email: drop it so the purge ends. */
			tx->final = false;
			core_error_clear(tx->err);
			uint8_t uk[STORE_KEY_MAX];
			size_t ukl = ms_key_id(uk, c->account, MS_F_UID, c->id);
			ms_be32(uk + ukl, col.uids[i]);
			rc = ms_del(tx, uk, ukl + 4);
			ac->rec_dirty = true;
		}
	}
	core_buf_fini(&v);
	size_t n = col.n;
	free(col.ids);
	free(col.uids);
	if (rc < 0 || n == MS_PURGE_EMAILS)
		return rc;
	/* Then its expunge tombstones and thread counts, a bounded number at a time. */
	static const char fam[] = {MS_F_EXPUNGE, MS_F_MBTHREAD};
	for (size_t f = 0; f < sizeof(fam); f++) {
		pl = ms_key_id(pre, c->account, fam[f], c->id);
		store_range_prefix(&r, pre, pl, hi);
		r.limit = MS_PURGE_KEYS;
		if ((rc = ms_del_range(tx, &r)) < 0)
			return rc;
		if ((size_t)rc == MS_PURGE_KEYS) {
			/* More to come; make sure the batch commits as a change. */
			ac->rec_dirty = true;
			return 0;
		}
	}
	if ((rc = ms_del(tx, k, kl)) < 0)
		return rc;
	ac->rec_dirty = true;
	c->flag = true;
	return 0;
}

static int ms_purge_mailbox(struct mailstore *ms, uint64_t account, uint64_t id,
			    struct core_error *err)
{
	struct ms_mb_ctx c = {.account = account, .id = id};
	int rc;
	do
		rc = ms_tx_run(ms, &account, 1, ms_purge_batch_fn, &c, err);
	while (rc >= 0 && !c.flag);
	return rc;
}

int mailstore_mailbox_destroy(struct mailstore *ms, uint64_t account, uint64_t id,
			      bool remove_emails, struct core_error *err)
{
	struct ms_mb_ctx c = {.account = account, .id = id, .flag = remove_emails};
	int rc = ms_tx_run(ms, &account, 1, ms_destroy_fn, &c, err);
	if (rc < 0)
		return rc;
	/* The mailbox is gone; a failure from here on leaves a pending purge that
	 * mailstore_purge_pending() resumes. */
	return ms_purge_mailbox(ms, account, id, err);
}

int ms_mailbox_destroy_begin(struct mailstore *ms, uint64_t account, uint64_t id,
			     bool remove_emails, struct core_error *err)
{
	struct ms_mb_ctx c = {.account = account, .id = id, .flag = remove_emails};
	return ms_tx_run(ms, &account, 1, ms_destroy_fn, &c, err);
}

static int ms_pending_list_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_mb_ctx *c = ctx;
	uint8_t pre[STORE_KEY_MAX], hi[STORE_KEY_MAX];
	size_t pl = ms_key(pre, c->account, MS_F_PENDING);
	struct store_range r;
	store_range_prefix(&r, pre, pl, hi);
	return store_txn_scan(tx->t, &r, ms_list_ids_cb, c, tx->err);
}

int mailstore_purge_pending(struct mailstore *ms, uint64_t account, struct core_error *err)
{
	struct ms_mb_ctx c = {.account = account};
	int rc = ms_tx_read(ms, c.account, ms_pending_list_fn, &c, err);
	int done = 0;
	for (size_t i = 0; i < c.nids && rc >= 0; i++) {
		rc = ms_purge_mailbox(ms, account, c.ids[i], err);
		if (rc >= 0)
			done++;
	}
	free(c.ids);
	return rc < 0 ? rc : done;
}

/* ---------------------------------------------------------------------------------- */

struct ms_recent_ctx {
	uint64_t account, mailbox;
	bool read_only;
	uint32_t first, next;
};

static int ms_recent_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_recent_ctx *c = ctx;
	struct ms_tx_mbox *mb;
	int rc = ms_tx_mbox_need(tx, c->account, c->mailbox, NULL, &mb);
	if (rc < 0)
		return rc;
	c->first = mb->m.recent_uid != 0 ? mb->m.recent_uid : 1;
	c->next = mb->m.uidnext;
	if (c->first > c->next)
		c->first = c->next;
	if (!c->read_only && c->first < c->next) {
		/* The account record stays asserted (locked) until commit, so two sessions
		 * selecting at once cannot both claim the same UIDs. */
		mb->m.recent_uid = c->next;
		mb->dirty = true;
	}
	return 0;
}

int mailstore_mailbox_claim_recent(struct mailstore *ms, uint64_t account, uint64_t mailbox,
				   bool read_only, uint32_t *first_out, uint32_t *next_out,
				   struct core_error *err)
{
	struct ms_recent_ctx c = {account, mailbox, read_only, 0, 0};
	int rc = ms_tx_run(ms, &account, 1, ms_recent_fn, &c, err);
	if (rc >= 0) {
		*first_out = c.first;
		*next_out = c.next;
	}
	return rc;
}

struct ms_uids_ctx {
	uint64_t account, mailbox;
	uint32_t lo, hi;
	mailstore_uid_fn fn;
	void *arg;
	int n;
};

static int ms_uids_cb(void *arg, const void *key, size_t klen, const void *val, size_t vlen)
{
	struct ms_uids_ctx *c = arg;
	if (klen != 22)
		return CORE_EINTERNAL;
	struct ms_dec d;
	ms_dec_init(&d, val, vlen);
	uint64_t eid = ms_get_u64(&d);
	uint64_t modseq = ms_get_u64(&d);
	if (d.bad)
		return CORE_EINTERNAL;
	c->n++;
	return c->fn(c->arg, ms_rd_be32((const uint8_t *)key + 18), eid, modseq);
}

static int ms_uids_fn(struct ms_tx *tx, void *ctx)
{
	struct ms_uids_ctx *c = ctx;
	uint8_t lo[STORE_KEY_MAX], hi[STORE_KEY_MAX], pre[STORE_KEY_MAX];
	size_t pl = ms_key_id(pre, c->account, MS_F_UID, c->mailbox);
	struct store_range r;
	store_range_prefix(&r, pre, pl, hi);
	memcpy(lo, pre, pl);
	ms_be32(lo + pl, c->lo);
	r.lo = lo;
	r.lo_len = pl + 4;
	uint8_t up[STORE_KEY_MAX];
	if (c->hi != 0 && c->hi != UINT32_MAX) {
		memcpy(up, pre, pl);
		ms_be32(up + pl, c->hi + 1);
		r.hi = up;
		r.hi_len = pl + 4;
	}
	int rc = store_txn_scan(tx->t, &r, ms_uids_cb, c, tx->err);
	if (rc == CORE_EINTERNAL)
		return core_error_set(tx->err, rc, NULL, "corrupt UID index");
	return rc < 0 ? rc : c->n;
}

int mailstore_mailbox_uids(struct mailstore *ms, uint64_t account, uint64_t mailbox,
			   uint32_t uid_lo, uint32_t uid_hi, mailstore_uid_fn fn, void *arg,
			   struct core_error *err)
{
	struct ms_uids_ctx c = {account, mailbox, uid_lo, uid_hi, fn, arg, 0};
	return ms_tx_read(ms, c.account, ms_uids_fn, &c, err);
}
