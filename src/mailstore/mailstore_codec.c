/*
 * mailstore_codec.c: the compact binary encoding of mail-store values (docs/mailstore.md
 * §Values): a version varint first, then fields as unsigned LEB128 varints, zigzag varints
 * for signed values and length-prefixed byte strings. Decoders check every bound; a value
 * that does not decode is reported as CORE_EINTERNAL (a corrupt store), never read past.
 */
#include <string.h>

#include "mailstore/mailstore_int.h"

void ms_put_u64(struct core_buf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;
	do {
		uint8_t c = (uint8_t)(v & 0x7f);
		v >>= 7;
		tmp[n++] = (uint8_t)(c | (v != 0 ? 0x80 : 0));
	} while (v != 0);
	core_buf_append(b, tmp, n);
}

void ms_put_i64(struct core_buf *b, int64_t v)
{
	/* zigzag: small magnitudes of either sign stay short. */
	uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
	ms_put_u64(b, z);
}

void ms_put_bytes(struct core_buf *b, const void *p, size_t n)
{
	ms_put_u64(b, n);
	if (n > 0)
		core_buf_append(b, p, n);
}

void ms_put_str(struct core_buf *b, const char *s)
{
	/* 0 = absent, otherwise length + 1. */
	if (s == NULL) {
		ms_put_u64(b, 0);
		return;
	}
	size_t n = strlen(s);
	ms_put_u64(b, (uint64_t)n + 1);
	core_buf_append(b, s, n);
}

void ms_dec_init(struct ms_dec *d, const void *p, size_t len)
{
	d->p = p;
	d->len = len;
	d->off = 0;
	d->bad = false;
}

uint64_t ms_get_u64(struct ms_dec *d)
{
	uint64_t v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (d->bad || d->off >= d->len) {
			d->bad = true;
			return 0;
		}
		uint8_t c = d->p[d->off++];
		if (shift == 63 && (c & 0x7e) != 0) {
			d->bad = true;
			return 0;
		}
		v |= (uint64_t)(c & 0x7f) << shift;
		if ((c & 0x80) == 0)
			return v;
	}
	d->bad = true;
	return 0;
}

uint32_t ms_get_u32(struct ms_dec *d)
{
	uint64_t v = ms_get_u64(d);
	if (v > UINT32_MAX) {
		d->bad = true;
		return 0;
	}
	return (uint32_t)v;
}

int64_t ms_get_i64(struct ms_dec *d)
{
	uint64_t z = ms_get_u64(d);
	return (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
}

const uint8_t *ms_get_bytes(struct ms_dec *d, size_t *n_out)
{
	uint64_t n = ms_get_u64(d);
	if (d->bad || n > d->len - d->off) {
		d->bad = true;
		*n_out = 0;
		return NULL;
	}
	const uint8_t *p = d->p + d->off;
	d->off += (size_t)n;
	*n_out = (size_t)n;
	return p;
}

const char *ms_get_str(struct ms_dec *d, struct core_arena *a)
{
	uint64_t n = ms_get_u64(d);
	if (d->bad || n == 0)
		return NULL;
	n--;
	if (n > d->len - d->off) {
		d->bad = true;
		return NULL;
	}
	const char *s = core_arena_strndup(a, (const char *)d->p + d->off, (size_t)n);
	d->off += (size_t)n;
	return s;
}

bool ms_get_raw(struct ms_dec *d, void *out, size_t n)
{
	if (d->bad || n > d->len - d->off) {
		d->bad = true;
		return false;
	}
	memcpy(out, d->p + d->off, n);
	d->off += n;
	return true;
}

void ms_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
}

void ms_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

uint64_t ms_rd_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

uint32_t ms_rd_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

size_t ms_key(uint8_t *k, uint64_t account, char family)
{
	k[0] = MS_KEY_PREFIX;
	ms_be64(k + 1, account);
	k[9] = (uint8_t)family;
	return 10;
}

size_t ms_key_id(uint8_t *k, uint64_t account, char family, uint64_t id)
{
	size_t n = ms_key(k, account, family);
	ms_be64(k + n, id);
	return n + 8;
}

/* --------------------------------------------------------------------------------- */

void ms_account_encode(const struct ms_account_rec *r, struct core_buf *out)
{
	core_buf_reset(out);
	ms_put_u64(out, MS_V_ACCOUNT);
	ms_put_u64(out, r->modseq);
	ms_put_u64(out, r->floor);
	ms_put_u64(out, r->used_bytes);
	ms_put_u64(out, r->used_messages);
	ms_put_u64(out, r->quota_bytes);
	ms_put_u64(out, r->quota_messages);
	ms_put_u64(out, r->last_uidvalidity);
	ms_put_u64(out, r->deleting ? 1 : 0);
}

int ms_account_decode(const void *p, size_t n, struct ms_account_rec *out)
{
	struct ms_dec d;
	ms_dec_init(&d, p, n);
	uint64_t v = ms_get_u64(&d);
	memset(out, 0, sizeof(*out));
	out->modseq = ms_get_u64(&d);
	out->floor = ms_get_u64(&d);
	out->used_bytes = ms_get_u64(&d);
	out->used_messages = ms_get_u64(&d);
	out->quota_bytes = ms_get_u64(&d);
	out->quota_messages = ms_get_u64(&d);
	out->last_uidvalidity = ms_get_u32(&d);
	out->deleting = ms_get_u64(&d) != 0;
	/* Newer versions only append fields, so a reader of version 1 reads their prefix. */
	return d.bad || v < 1 ? CORE_EINTERNAL : 0;
}

void ms_mailbox_encode(const struct mailstore_mailbox *m, struct core_buf *out)
{
	core_buf_reset(out);
	ms_put_u64(out, MS_V_MAILBOX);
	ms_put_u64(out, m->parent_id);
	ms_put_str(out, m->name);
	ms_put_u64(out, (uint64_t)m->role);
	ms_put_u64(out, m->sort_order);
	ms_put_u64(out, m->subscribed ? 1 : 0);
	ms_put_u64(out, m->uidvalidity);
	ms_put_u64(out, m->uidnext);
	ms_put_u64(out, m->highest_modseq);
	ms_put_u64(out, m->created_modseq);
	ms_put_u64(out, m->updated_modseq);
	ms_put_u64(out, m->total);
	ms_put_u64(out, m->unread);
	ms_put_u64(out, m->size);
	ms_put_u64(out, m->unseen);
	ms_put_u64(out, m->total_threads);
	ms_put_u64(out, m->unread_threads);
	ms_put_u64(out, m->recent_uid);
	ms_put_u64(out, m->drafts);
	ms_put_u64(out, m->nondraft_threads);
}

int ms_mailbox_decode(const void *p, size_t n, struct core_arena *a, struct mailstore_mailbox *out)
{
	struct ms_dec d;
	ms_dec_init(&d, p, n);
	uint64_t v = ms_get_u64(&d);
	uint64_t id = out->id;
	memset(out, 0, sizeof(*out));
	out->id = id;
	out->parent_id = ms_get_u64(&d);
	out->name = ms_get_str(&d, a);
	uint64_t role = ms_get_u64(&d);
	out->role = role < MAILSTORE_ROLE_COUNT ? (enum mailstore_role)role : MAILSTORE_ROLE_NONE;
	out->sort_order = ms_get_u32(&d);
	out->subscribed = ms_get_u64(&d) != 0;
	out->uidvalidity = ms_get_u32(&d);
	out->uidnext = ms_get_u32(&d);
	out->highest_modseq = ms_get_u64(&d);
	out->created_modseq = ms_get_u64(&d);
	out->updated_modseq = ms_get_u64(&d);
	out->total = ms_get_u64(&d);
	out->unread = ms_get_u64(&d);
	out->size = ms_get_u64(&d);
	out->unseen = ms_get_u64(&d);
	out->total_threads = ms_get_u64(&d);
	out->unread_threads = ms_get_u64(&d);
	out->recent_uid = ms_get_u32(&d);
	/* Version 2 appends the drafts and non-draft thread counts; a version 1 record has
	 * none counted. */
	if (v >= 2) {
		out->drafts = ms_get_u64(&d);
		out->nondraft_threads = ms_get_u64(&d);
	}
	return d.bad || v < 1 || out->name == NULL ? CORE_EINTERNAL : 0;
}

void ms_email_encode(const struct mailstore_email *e, struct core_buf *out)
{
	core_buf_reset(out);
	ms_put_u64(out, MS_V_EMAIL);
	ms_put_u64(out, e->thread_id);
	core_buf_append(out, e->blob.hash, STORE_HASH_LEN);
	ms_put_u64(out, e->size);
	ms_put_i64(out, e->received_at);
	ms_put_u64(out, e->modseq);
	ms_put_u64(out, e->created_modseq);
	ms_put_u64(out, e->nkeywords);
	for (size_t i = 0; i < e->nkeywords; i++)
		ms_put_str(out, e->keywords[i]);
	ms_put_u64(out, e->nmembers);
	for (size_t i = 0; i < e->nmembers; i++) {
		ms_put_u64(out, e->members[i].mailbox);
		ms_put_u64(out, e->members[i].uid);
	}
}

int ms_email_decode(const void *p, size_t n, struct core_arena *a, struct mailstore_email *out)
{
	struct ms_dec d;
	ms_dec_init(&d, p, n);
	uint64_t v = ms_get_u64(&d);
	uint64_t id = out->id;
	memset(out, 0, sizeof(*out));
	out->id = id;
	out->thread_id = ms_get_u64(&d);
	ms_get_raw(&d, out->blob.hash, STORE_HASH_LEN);
	out->size = ms_get_u64(&d);
	out->received_at = ms_get_i64(&d);
	out->modseq = ms_get_u64(&d);
	out->created_modseq = ms_get_u64(&d);
	uint64_t nk = ms_get_u64(&d);
	if (d.bad || nk > MAILSTORE_KEYWORDS_MAX)
		return CORE_EINTERNAL;
	out->keywords = core_arena_zalloc(a, (size_t)(nk + 1) * sizeof(*out->keywords));
	for (size_t i = 0; i < nk; i++) {
		out->keywords[i] = ms_get_str(&d, a);
		if (out->keywords[i] == NULL)
			return CORE_EINTERNAL;
	}
	out->nkeywords = (size_t)nk;
	uint64_t nm = ms_get_u64(&d);
	if (d.bad || nm > MAILSTORE_MAILBOXES_MAX)
		return CORE_EINTERNAL;
	/* Room for every membership allowed, so callers can add in place. */
	out->members = core_arena_zalloc(a, (MAILSTORE_MAILBOXES_MAX + 1) * sizeof(*out->members));
	for (size_t i = 0; i < nm; i++) {
		out->members[i].mailbox = ms_get_u64(&d);
		out->members[i].uid = ms_get_u32(&d);
	}
	out->nmembers = (size_t)nm;
	return d.bad || v < 1 ? CORE_EINTERNAL : 0;
}
