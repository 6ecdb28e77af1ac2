/*
 * helper_mailstore.c: mail-store cases run on every data backend: accounts and special-use
 * mailboxes, mailbox names (NFC, hierarchy, INBOX), rename with children, delete, UIDs,
 * counts, HIGHESTMODSEQ, delivery with parsed fields, keywords with UNCHANGEDSINCE, copy,
 * move, expunge with VANISHED, destroy, /changes with tombstones and their expiry, quotas,
 * threads, multi-account delivery, the change bus, and concurrent writers.
 */
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "helper_mailstore.h"
#include "mailstore/mailstore_int.h"

const struct ms_test_env *ms_test_env;

static char dir[256];
static struct store_params params;
static struct store_data *data;
static struct store_blob *blob;
static struct mailstore *ms;
static struct mailstore_bus *bus;
static struct core_arena *arena;
static struct core_error err;

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static char blob_path[300];

/* The store clock, moved forward by tests to let reservations expire. */
static uint64_t clock_skew_ms;
static uint64_t test_clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u + clock_skew_ms;
}

static void setup(void)
{
	clock_skew_ms = 0;
	store_clock_set(test_clock);
	snprintf(dir, sizeof(dir), "/tmp/staunch-mailstore-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	memset(&params, 0, sizeof(params));
	ck_assert(ms_test_env->params(&params, dir));
	params.no_sync = true;
	core_error_clear(&err);
	int rc = store_data_open(ms_test_env->data_backend, &params, &data, &err);
	ck_assert_msg(rc == 0, "open: %s", err.msg);
	struct store_params bp = params;
	if (strcmp(ms_test_env->blob_backend, "fs") == 0) {
		snprintf(blob_path, sizeof(blob_path), "%s/blobs", dir);
		bp.path = blob_path;
	}
	rc = store_blob_open(ms_test_env->blob_backend, &bp, data, &blob, &err);
	ck_assert_msg(rc == 0, "blob open: %s", err.msg);
	bus = mailstore_bus_new();
	struct mailstore_options o = {.bus = bus};
	ck_assert_int_eq(mailstore_open(data, blob, &o, &ms, &err), 0);
	arena = core_arena_new(0);
}

static void teardown(void)
{
	mailstore_free(&ms);
	mailstore_bus_free(&bus);
	store_blob_free(&blob);
	store_data_free(&data);
	core_arena_free(&arena);
	store_clock_set(NULL);
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

#define OK(expr)                                                           \
	do {                                                               \
		int rc_ = (expr);                                          \
		ck_assert_msg(rc_ >= 0, "%s: %d %s", #expr, rc_, err.msg); \
	} while (0)
#define FAILS(code, expr)                                                                   \
	do {                                                                                \
		int rc_ = (expr);                                                           \
		ck_assert_msg(rc_ == (code), "%s: want %d got %d (%s)", #expr, (code), rc_, \
			      err.msg);                                                     \
	} while (0)

static const char msg1[] = "From: Alice <alice@example.org>\r\n"
			   "To: Bob <bob@example.net>, carol@example.net\r\n"
			   "Subject: Hello there\r\n"
			   "Date: Tue, 3 Mar 2026 10:00:00 +0100\r\n"
			   "Message-ID: <one@example.org>\r\n"
			   "MIME-Version: 1.0\r\n"
			   "Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
			   "\r\n"
			   "--b1\r\n"
			   "Content-Type: text/plain; charset=utf-8\r\n"
			   "\r\n"
			   "Hi Bob,\r\n  how   are you?\r\n"
			   "--b1\r\n"
			   "Content-Type: application/pdf; name=\"a.pdf\"\r\n"
			   "Content-Disposition: attachment; filename=\"a.pdf\"\r\n"
			   "Content-Transfer-Encoding: base64\r\n"
			   "\r\n"
			   "JVBERi0=\r\n"
			   "--b1--\r\n";

static char *make_msg(const char *msgid, const char *subject, const char *irt)
{
	return core_xasprintf("From: a@example.org\r\nSubject: %s\r\nMessage-ID: <%s>\r\n%s%s%s"
			      "\r\nbody of %s\r\n",
			      subject, msgid, irt ? "In-Reply-To: <" : "", irt ? irt : "",
			      irt ? ">\r\n" : "", msgid);
}

static uint64_t role_id(uint64_t acct, enum mailstore_role r)
{
	uint64_t id = 0;
	OK(mailstore_mailbox_find_role(ms, acct, r, &id, &err));
	return id;
}

static struct mailstore_mailbox mbox(uint64_t acct, uint64_t id)
{
	struct mailstore_mailbox m;
	OK(mailstore_mailbox_get(ms, acct, id, arena, &m, &err));
	return m;
}

static uint64_t append(uint64_t acct, uint64_t mb, const char *text, const char *kw,
		       uint32_t *uid_out)
{
	struct mailstore_delivered d;
	const char *kws[1] = {kw};
	OK(mailstore_email_append(ms, acct, text, strlen(text), &mb, 1, kws, kw ? 1 : 0, 0, &d,
				  &err));
	if (uid_out != NULL)
		*uid_out = d.uids[0];
	return d.email_id;
}

static uint64_t state(uint64_t acct)
{
	struct mailstore_account a;
	OK(mailstore_account_get(ms, acct, &a, &err));
	return a.modseq;
}

/* ---------------------------------------------------------------------------------- */

START_TEST(account_roles)
{
	FAILS(CORE_ENOTFOUND, mailstore_account_get(ms, 7, &(struct mailstore_account){0}, &err));
	OK(mailstore_account_ensure(ms, 7, &err));
	uint64_t s1 = state(7);
	ck_assert_uint_gt(s1, 0);
	OK(mailstore_account_ensure(ms, 7, &err));
	ck_assert_uint_eq(state(7), s1); /* nothing changed: no new state */
	struct mailstore_mailbox *l;
	size_t n;
	OK(mailstore_mailbox_list(ms, 7, arena, &l, &n, &err));
	ck_assert_uint_eq(n, 6);
	bool seen[MAILSTORE_ROLE_COUNT] = {0};
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_ne(l[i].role, MAILSTORE_ROLE_NONE);
		ck_assert(!seen[l[i].role]);
		seen[l[i].role] = true;
		ck_assert_uint_eq(l[i].uidnext, 1);
		ck_assert_uint_gt(l[i].uidvalidity, 0);
		ck_assert(l[i].subscribed);
	}
	uint64_t inbox = role_id(7, MAILSTORE_ROLE_INBOX), id;
	OK(mailstore_mailbox_find(ms, 7, "iNbOx", &id, &err));
	ck_assert_uint_eq(id, inbox);
	struct core_buf p = CORE_BUF_INIT;
	OK(mailstore_mailbox_path(ms, 7, inbox, &p, &err));
	ck_assert_str_eq(core_buf_cstr(&p), "INBOX");
	core_buf_fini(&p);
	ck_assert_str_eq(mailstore_role_name(MAILSTORE_ROLE_JUNK), "junk");
	/* Other accounts are separate. */
	FAILS(CORE_ENOTFOUND,
	      mailstore_mailbox_get(ms, 8, inbox, arena, &(struct mailstore_mailbox){0}, &err));
	/* A top-level "INBOX" in another case is the Inbox's name. */
	FAILS(CORE_ECONFLICT,
	      mailstore_mailbox_create(ms, 7, 0, "inbox", MAILSTORE_ROLE_NONE, &id, &err));
	FAILS(CORE_ECONFLICT,
	      mailstore_mailbox_create(ms, 7, 0, "Stuff", MAILSTORE_ROLE_TRASH, &id, &err));
}
END_TEST

START_TEST(mailbox_names_and_hierarchy)
{
	uint64_t a, b, c, id;
	OK(mailstore_mailbox_create_path(ms, 1, "a/b/c", &c, &err));
	OK(mailstore_mailbox_find(ms, 1, "a", &a, &err));
	OK(mailstore_mailbox_find(ms, 1, "a/b", &b, &err));
	ck_assert_uint_eq(mbox(1, c).parent_id, b);
	ck_assert_uint_eq(mbox(1, b).parent_id, a);
	FAILS(CORE_ECONFLICT, mailstore_mailbox_create_path(ms, 1, "a/b/c", &id, &err));
	FAILS(CORE_ECONFLICT, mailstore_mailbox_create_path(ms, 1, "a/b/", &id, &err));
	/* RFC 9051 §6.3.4: a trailing separator is allowed for a new name. */
	OK(mailstore_mailbox_create_path(ms, 1, "a/d/", &id, &err));
	FAILS(CORE_ESYNTAX,
	      mailstore_mailbox_create(ms, 1, 0, "x/y", MAILSTORE_ROLE_NONE, &id, &err));
	FAILS(CORE_ESYNTAX, mailstore_mailbox_create(ms, 1, 0, "", MAILSTORE_ROLE_NONE, &id, &err));
	FAILS(CORE_ESYNTAX,
	      mailstore_mailbox_create(ms, 1, 0, "bad\x01", MAILSTORE_ROLE_NONE, &id, &err));
	FAILS(CORE_ESYNTAX,
	      mailstore_mailbox_create(ms, 1, 0, "bad\xff", MAILSTORE_ROLE_NONE, &id, &err));
	FAILS(CORE_ENOTFOUND,
	      mailstore_mailbox_create(ms, 1, 9999, "x", MAILSTORE_ROLE_NONE, &id, &err));
	char longname[MAILSTORE_NAME_MAX + 2];
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	FAILS(CORE_ELIMIT,
	      mailstore_mailbox_create(ms, 1, 0, longname, MAILSTORE_ROLE_NONE, &id, &err));
	/* Names are NFC: a decomposed and a precomposed spelling are one name. */
	uint64_t cafe;
	OK(mailstore_mailbox_create(ms, 1, 0, "Cafe\xcc\x81", MAILSTORE_ROLE_NONE, &cafe, &err));
	ck_assert_str_eq(mbox(1, cafe).name, "Caf\xc3\xa9");
	OK(mailstore_mailbox_find(ms, 1, "Caf\xc3\xa9", &id, &err));
	ck_assert_uint_eq(id, cafe);
	FAILS(CORE_ECONFLICT,
	      mailstore_mailbox_create(ms, 1, 0, "Caf\xc3\xa9", MAILSTORE_ROLE_NONE, &id, &err));
	/* Too deep. */
	char deep[4 * (MAILSTORE_DEPTH_MAX + 2)];
	deep[0] = '\0';
	for (unsigned i = 0; i < MAILSTORE_DEPTH_MAX + 1; i++)
		strcat(deep, i ? "/d" : "d");
	FAILS(CORE_ELIMIT, mailstore_mailbox_create_path(ms, 1, deep, &id, &err));
	FAILS(CORE_ENOTFOUND, mailstore_mailbox_find(ms, 1, "d", &id, &err));
}
END_TEST

START_TEST(mailbox_rename_with_children)
{
	uint64_t c, a, id;
	OK(mailstore_mailbox_create_path(ms, 1, "a/b/c", &c, &err));
	OK(mailstore_mailbox_find(ms, 1, "a", &a, &err));
	uint32_t uid;
	uint64_t e = append(1, c, msg1, NULL, &uid);
	uint32_t uv = mbox(1, c).uidvalidity;
	uint64_t s0 = state(1);
	/* RFC 9051 §6.3.6: superior levels of the new name are created; inferiors follow. */
	OK(mailstore_mailbox_rename_path(ms, 1, "a", "x/y", &err));
	FAILS(CORE_ENOTFOUND, mailstore_mailbox_find(ms, 1, "a/b/c", &id, &err));
	OK(mailstore_mailbox_find(ms, 1, "x/y/b/c", &id, &err));
	ck_assert_uint_eq(id, c);
	OK(mailstore_mailbox_find(ms, 1, "x/y", &id, &err));
	ck_assert_uint_eq(id, a);
	struct core_buf p = CORE_BUF_INIT;
	OK(mailstore_mailbox_path(ms, 1, c, &p, &err));
	ck_assert_str_eq(core_buf_cstr(&p), "x/y/b/c");
	core_buf_fini(&p);
	/* Messages and UIDVALIDITY stay with the mailbox. */
	struct mailstore_mailbox m = mbox(1, c);
	ck_assert_uint_eq(m.uidvalidity, uv);
	ck_assert_uint_eq(m.total, 1);
	struct mailstore_email em;
	OK(mailstore_email_get(ms, 1, e, arena, &em, &err));
	ck_assert_uint_eq(em.members[0].uid, uid);
	/* Mailbox/changes: the renamed one updated, "x" created. */
	struct mailstore_changes ch;
	OK(mailstore_changes_get(ms, 1, MAILSTORE_T_MAILBOX, s0, 0, arena, &ch, &err));
	ck_assert_uint_eq(ch.nupdated, 1);
	ck_assert_uint_eq(ch.updated[0], a);
	ck_assert_uint_eq(ch.ncreated, 1);
	/* No moving below itself or its descendants. */
	uint64_t b;
	OK(mailstore_mailbox_find(ms, 1, "x/y/b", &b, &err));
	FAILS(CORE_EPERM, mailstore_mailbox_rename(ms, 1, a, b, "z", &err));
	FAILS(CORE_EPERM, mailstore_mailbox_rename(ms, 1, a, a, "z", &err));
	/* Target taken; same name is an IMAP error; JMAP rename to the same is a no-op. */
	uint64_t other;
	OK(mailstore_mailbox_create(ms, 1, 0, "other", MAILSTORE_ROLE_NONE, &other, &err));
	FAILS(CORE_ECONFLICT, mailstore_mailbox_rename_path(ms, 1, "other", "x", &err));
	FAILS(CORE_ECONFLICT, mailstore_mailbox_rename_path(ms, 1, "other", "other", &err));
	uint64_t s1 = state(1);
	OK(mailstore_mailbox_rename(ms, 1, other, 0, "other", &err));
	ck_assert_uint_eq(state(1), s1);
	/* The old name is free again. */
	OK(mailstore_mailbox_create_path(ms, 1, "a", &id, &err));
	ck_assert_uint_gt(mbox(1, id).uidvalidity, uv);
}
END_TEST

START_TEST(mailbox_update_and_destroy)
{
	uint64_t f, g, id;
	OK(mailstore_mailbox_create_path(ms, 1, "f/g", &g, &err));
	OK(mailstore_mailbox_find(ms, 1, "f", &f, &err));
	uint32_t so = 5;
	bool sub = true;
	enum mailstore_role r = MAILSTORE_ROLE_ARCHIVE;
	struct mailstore_mailbox_patch p = {.sort_order = &so, .subscribed = &sub};
	OK(mailstore_mailbox_update(ms, 1, g, &p, &err));
	ck_assert_uint_eq(mbox(1, g).sort_order, 5);
	ck_assert(mbox(1, g).subscribed);
	p = (struct mailstore_mailbox_patch){.role = &r};
	FAILS(CORE_ECONFLICT, mailstore_mailbox_update(ms, 1, g, &p, &err));
	uint64_t arch = role_id(1, MAILSTORE_ROLE_ARCHIVE);
	enum mailstore_role none = MAILSTORE_ROLE_NONE;
	p.role = &none;
	OK(mailstore_mailbox_update(ms, 1, arch, &p, &err));
	p.role = &r;
	OK(mailstore_mailbox_update(ms, 1, g, &p, &err));
	ck_assert_uint_eq(role_id(1, MAILSTORE_ROLE_ARCHIVE), g);
	/* RFC 8621 §2: no destroying a parent, nor a mailbox holding mail without asking. */
	FAILS(CORE_ECONFLICT, mailstore_mailbox_destroy(ms, 1, f, false, &err));
	uint64_t inbox = role_id(1, MAILSTORE_ROLE_INBOX);
	uint64_t only = append(1, g, msg1, NULL, NULL);
	struct mailstore_delivered d;
	uint64_t both[2] = {g, inbox};
	OK(mailstore_email_append(ms, 1, msg1, strlen(msg1), both, 2, NULL, 0, 0, &d, &err));
	FAILS(CORE_ECONFLICT, mailstore_mailbox_destroy(ms, 1, g, false, &err));
	uint64_t s0 = state(1);
	OK(mailstore_mailbox_destroy(ms, 1, g, true, &err));
	FAILS(CORE_ENOTFOUND, mailstore_mailbox_find(ms, 1, "f/g", &id, &err));
	FAILS(CORE_ENOTFOUND,
	      mailstore_mailbox_find_role(ms, 1, MAILSTORE_ROLE_ARCHIVE, &id, &err));
	struct mailstore_email e;
	FAILS(CORE_ENOTFOUND, mailstore_email_get(ms, 1, only, arena, &e, &err));
	OK(mailstore_email_get(ms, 1, d.email_id, arena, &e, &err));
	ck_assert_uint_eq(e.nmembers, 1);
	ck_assert_uint_eq(e.members[0].mailbox, inbox);
	struct mailstore_mailbox in = mbox(1, inbox);
	ck_assert_uint_eq(in.total, 1);
	struct mailstore_changes ch;
	OK(mailstore_changes_get(ms, 1, MAILSTORE_T_EMAIL, s0, 0, arena, &ch, &err));
	ck_assert_uint_eq(ch.ndestroyed, 1);
	ck_assert_uint_eq(ch.destroyed[0], only);
	ck_assert_uint_eq(ch.nupdated, 1);
	ck_assert_uint_eq(ch.updated[0], d.email_id);
	OK(mailstore_changes_get(ms, 1, MAILSTORE_T_MAILBOX, s0, 0, arena, &ch, &err));
	ck_assert_uint_eq(ch.ndestroyed, 1);
	ck_assert_uint_eq(ch.destroyed[0], g);
	/* Now the parent has no child. */
	OK(mailstore_mailbox_destroy(ms, 1, f, false, &err));
	/* Re-created name: UIDVALIDITY greater, UIDs start over. */
	OK(mailstore_mailbox_create_path(ms, 1, "f", &id, &err));
	ck_assert_uint_eq(mbox(1, id).uidnext, 1);
	FAILS(CORE_ENOTFOUND, mailstore_mailbox_destroy(ms, 1, 424242, true, &err));
}
END_TEST

static int collect_bytes(void *arg, const void *p, size_t n)
{
	core_buf_append(arg, p, n);
	return 0;
}

START_TEST(deliver_parsed_fields)
{
	uint64_t inbox;
	OK(mailstore_account_ensure(ms, 3, &err));
	inbox = role_id(3, MAILSTORE_ROLE_INBOX);
	uint64_t s0 = state(3);
	struct mailstore_delivered d;
	const char *kw[] = {"$Seen", "Custom", "$seen"};
	OK(mailstore_email_append(ms, 3, msg1, strlen(msg1), &inbox, 1, kw, 3, 1700000000, &d,
				  &err));
	ck_assert_uint_eq(d.uids[0], 1);
	ck_assert_uint_eq(d.modseq, s0 + 1);
	ck_assert_uint_eq(state(3), s0 + 1);
	struct mailstore_email e;
	OK(mailstore_email_get(ms, 3, d.email_id, arena, &e, &err));
	ck_assert_uint_eq(e.size, strlen(msg1));
	ck_assert_int_eq(e.received_at, 1700000000);
	ck_assert_uint_eq(e.nkeywords, 2);
	ck_assert_str_eq(e.keywords[0], "$seen");
	ck_assert_str_eq(e.keywords[1], "custom");
	ck_assert_uint_eq(e.thread_id, d.thread_id);
	ck_assert_uint_eq(e.modseq, d.modseq);
	struct mailstore_mailbox m = mbox(3, inbox);
	ck_assert_uint_eq(m.total, 1);
	ck_assert_uint_eq(m.unread, 0);
	ck_assert_uint_eq(m.uidnext, 2);
	ck_assert_uint_eq(m.size, strlen(msg1));
	ck_assert_uint_eq(m.highest_modseq, d.modseq);
	struct mailstore_parsed p;
	OK(mailstore_email_parsed(ms, 3, d.email_id, arena, &p, &err));
	ck_assert_str_eq(p.subject, "Hello there");
	ck_assert(p.has_sent_at);
	ck_assert_int_eq(p.sent_offset, 60);
	ck_assert_int_eq(p.sent_at, 1772528400);
	ck_assert_uint_eq(p.nmessage_ids, 1);
	ck_assert_str_eq(p.message_ids[0], "one@example.org");
	ck_assert_uint_eq(p.nfrom, 1);
	ck_assert_str_eq(p.from[0].name, "Alice");
	ck_assert_str_eq(p.from[0].email, "alice@example.org");
	ck_assert_uint_eq(p.nto, 2);
	ck_assert_ptr_null(p.to[1].name);
	ck_assert_str_eq(p.to[1].email, "carol@example.net");
	ck_assert_str_eq(p.envelope.subject_raw, "Hello there");
	ck_assert_str_eq(p.envelope.message_id_raw, "<one@example.org>");
	ck_assert_ptr_null(p.envelope.bcc_raw);
	ck_assert_str_eq(p.preview, "Hi Bob, how are you?");
	ck_assert(p.has_attachment);
	ck_assert_uint_eq(p.nparts, 3);
	ck_assert_uint_eq(p.parts[0].nchildren, 2);
	ck_assert_str_eq(p.parts[0].type, "multipart");
	ck_assert_str_eq(p.parts[2].subtype, "pdf");
	ck_assert_str_eq(p.parts[2].disposition, "attachment");
	ck_assert_str_eq(p.parts[2].cte, "base64");
	ck_assert_str_eq(p.parts[1].charset, "utf-8");
	ck_assert_uint_eq(p.parts[2].ndisp, 1);
	ck_assert_str_eq(p.parts[2].disp_values[0], "a.pdf");
	/* Offsets point into the stored bytes. */
	ck_assert(memcmp(msg1 + p.parts[2].body_off, "JVBERi0=", 8) == 0);
	struct core_buf b = CORE_BUF_INIT;
	OK(mailstore_email_read(ms, 3, d.email_id, 0, UINT64_MAX, collect_bytes, &b, &err));
	ck_assert_uint_eq(b.len, strlen(msg1));
	ck_assert(memcmp(b.p, msg1, b.len) == 0);
	core_buf_fini(&b);
	/* Bad input is refused with nothing stored, and the result is left alone. */
	uint64_t keep = d.email_id;
	FAILS(CORE_ESYNTAX,
	      mailstore_email_append(ms, 3, msg1, 10, &inbox, 0, NULL, 0, 0, &d, &err));
	const char *bad[] = {"a b"};
	FAILS(CORE_ESYNTAX,
	      mailstore_email_append(ms, 3, msg1, 10, &inbox, 1, bad, 1, 0, &d, &err));
	uint64_t nowhere = 9999;
	FAILS(CORE_ENOTFOUND,
	      mailstore_email_append(ms, 3, msg1, 10, &nowhere, 1, NULL, 0, 0, &d, &err));
	ck_assert_uint_eq(mbox(3, inbox).total, 1);
	ck_assert_uint_eq(state(3), s0 + 1);
	ck_assert_uint_eq(d.email_id, keep);
	/* An empty message is a message. */
	OK(mailstore_email_append(ms, 3, "", 0, &inbox, 1, NULL, 0, 0, &d, &err));
	ck_assert_uint_eq(d.uids[0], 2);
}
END_TEST

START_TEST(keywords_and_modseq)
{
	OK(mailstore_account_ensure(ms, 1, &err));
	uint64_t inbox = role_id(1, MAILSTORE_ROLE_INBOX),
		 arch = role_id(1, MAILSTORE_ROLE_ARCHIVE);
	struct mailstore_delivered d;
	uint64_t both[2] = {inbox, arch};
	OK(mailstore_email_append(ms, 1, msg1, strlen(msg1), both, 2, NULL, 0, 0, &d, &err));
	ck_assert_uint_eq(mbox(1, inbox).unread, 1);
	ck_assert_uint_eq(mbox(1, arch).unread, 1);
	uint64_t s0 = state(1), ms1;
	const char *seen[] = {"$seen"};
	OK(mailstore_email_keywords(ms, 1, d.email_id, MAILSTORE_KW_ADD, seen, 1, 0, &ms1, &err));
	ck_assert_uint_eq(ms1, s0 + 1);
	/* RFC 7162 §3.1.1: HIGHESTMODSEQ of every mailbox holding it rises. */
	ck_assert_uint_eq(mbox(1, inbox).highest_modseq, ms1);
	ck_assert_uint_eq(mbox(1, arch).highest_modseq, ms1);
	ck_assert_uint_eq(mbox(1, inbox).unread, 0);
	ck_assert_uint_eq(mbox(1, arch).unread, 0);
	/* Setting what is there already changes nothing. */
	uint64_t ms2;
	OK(mailstore_email_keywords(ms, 1, d.email_id, MAILSTORE_KW_ADD, seen, 1, 0, &ms2, &err));
	ck_assert_uint_eq(ms2, ms1);
	ck_assert_uint_eq(state(1), ms1);
	/* UNCHANGEDSINCE below the email's modseq fails, at or above works. */
	const char *fl[] = {"$flagged"};
	FAILS(CORE_ECONFLICT, mailstore_email_keywords(ms, 1, d.email_id, MAILSTORE_KW_ADD, fl, 1,
						       ms1 - 1, NULL, &err));
	OK(mailstore_email_keywords(ms, 1, d.email_id, MAILSTORE_KW_ADD, fl, 1, ms1, &ms2, &err));
	ck_assert_uint_gt(ms2, ms1);
	struct mailstore_email e;
	OK(mailstore_email_get(ms, 1, d.email_id, arena, &e, &err));
	ck_assert_uint_eq(e.nkeywords, 2);
	ck_assert_uint_eq(e.modseq, ms2);
	/* The UID index carries the modseq (CONDSTORE FETCH). */
	const char *rep[] = {"Junk", "$Answered"};
	OK(mailstore_email_keywords(ms, 1, d.email_id, MAILSTORE_KW_REPLACE, rep, 2, 0, &ms2,
				    &err));
	OK(mailstore_email_get(ms, 1, d.email_id, arena, &e, &err));
	ck_assert_uint_eq(e.nkeywords, 2);
	ck_assert_str_eq(e.keywords[0], "$answered");
	ck_assert_str_eq(e.keywords[1], "junk");
	ck_assert_uint_eq(mbox(1, inbox).unread, 1);
	const char *rm[] = {"JUNK"};
	OK(mailstore_email_keywords(ms, 1, d.email_id, MAILSTORE_KW_REMOVE, rm, 1, 0, NULL, &err));
	OK(mailstore_email_get(ms, 1, d.email_id, arena, &e, &err));
	ck_assert_uint_eq(e.nkeywords, 1);
	const char *bad[] = {"with space"};
	FAILS(CORE_ESYNTAX,
	      mailstore_email_keywords(ms, 1, d.email_id, MAILSTORE_KW_ADD, bad, 1, 0, NULL, &err));
	FAILS(CORE_ENOTFOUND,
	      mailstore_email_keywords(ms, 1, 999, MAILSTORE_KW_ADD, seen, 1, 0, NULL, &err));
	struct mailstore_changes ch;
	OK(mailstore_changes_get(ms, 1, MAILSTORE_T_EMAIL, s0, 0, arena, &ch, &err));
	ck_assert_uint_eq(ch.nupdated, 1);
	ck_assert_uint_eq(ch.ncreated + ch.ndestroyed, 0);
	/* Only counts of the two mailboxes changed (RFC 8621 §2.2 updatedProperties). */
	OK(mailstore_changes_get(ms, 1, MAILSTORE_T_MAILBOX, s0, 0, arena, &ch, &err));
	ck_assert_uint_eq(ch.nupdated, 2);
	ck_assert(ch.counts_only);
	uint32_t so = 3;
	struct mailstore_mailbox_patch p = {.sort_order = &so};
	OK(mailstore_mailbox_update(ms, 1, arch, &p, &err));
	OK(mailstore_changes_get(ms, 1, MAILSTORE_T_MAILBOX, s0, 0, arena, &ch, &err));
	ck_assert_uint_eq(ch.nupdated, 2);
	ck_assert(!ch.counts_only);
}
END_TEST

struct uid_list {
	uint32_t uid[512];
	uint64_t email[512], modseq[512];
	size_t n;
};

static int uid_cb(void *arg, uint32_t uid, uint64_t email, uint64_t modseq)
{
	struct uid_list *l = arg;
	if (l->n < 512) {
		l->uid[l->n] = uid;
		l->email[l->n] = email;
		l->modseq[l->n] = modseq;
		l->n++;
	}
	return 0;
}

static int vanished_cb(void *arg, uint32_t uid, uint64_t modseq)
{
	return uid_cb(arg, uid, 0, modseq);
}

START_TEST(copy_move_expunge)
{
	OK(mailstore_account_ensure(ms, 1, &err));
	uint64_t inbox = role_id(1, MAILSTORE_ROLE_INBOX), trash = role_id(1, MAILSTORE_ROLE_TRASH);
	uint32_t u1, u2;
	uint64_t e1 = append(1, inbox, msg1, "$seen", &u1);
	uint64_t e2 = append(1, inbox, msg1, NULL, &u2);
	ck_assert_uint_eq(u2, u1 + 1);
	/* COPY: a new Email with its own id, same keywords, same blob and thread. */
	uint64_t c;
	uint32_t cu;
	OK(mailstore_email_copy(ms, 1, e1, trash, &c, &cu, &err));
	ck_assert_uint_ne(c, e1);
	ck_assert_uint_eq(cu, 1);
	struct mailstore_email a, b;
	OK(mailstore_email_get(ms, 1, e1, arena, &a, &err));
	OK(mailstore_email_get(ms, 1, c, arena, &b, &err));
	ck_assert(memcmp(a.blob.hash, b.blob.hash, STORE_HASH_LEN) == 0);
	ck_assert_uint_eq(a.thread_id, b.thread_id);
	ck_assert_uint_eq(b.nkeywords, 1);
	struct mailstore_parsed p;
	OK(mailstore_email_parsed(ms, 1, c, arena, &p, &err));
	ck_assert_str_eq(p.subject, "Hello there");
	uint64_t s0 = state(1);
	/* MOVE: the same id, a new UID, the old UID vanished from the source. */
	uint32_t mu;
	OK(mailstore_email_move(ms, 1, e2, inbox, trash, &mu, &err));
	ck_assert_uint_eq(mu, 2);
	OK(mailstore_email_get(ms, 1, e2, arena, &a, &err));
	ck_assert_uint_eq(a.nmembers, 1);
	ck_assert_uint_eq(a.members[0].mailbox, trash);
	ck_assert_uint_eq(a.members[0].uid, 2);
	FAILS(CORE_ENOTFOUND, mailstore_email_move(ms, 1, e2, inbox, trash, &mu, &err));
	struct uid_list v = {0};
	OK(mailstore_mailbox_vanished(ms, 1, inbox, s0, vanished_cb, &v, &err));
	ck_assert_uint_eq(v.n, 1);
	ck_assert_uint_eq(v.uid[0], u2);
	ck_assert_uint_eq(v.modseq[0], s0 + 1);
	struct mailstore_mailbox mi = mbox(1, inbox), mt = mbox(1, trash);
	ck_assert_uint_eq(mi.total, 1);
	ck_assert_uint_eq(mi.unread, 0);
	ck_assert_uint_eq(mt.total, 2);
	ck_assert_uint_eq(mt.unread, 1);
	ck_assert_uint_eq(mt.uidnext, 3);
	struct uid_list l = {0};
	ck_assert_int_eq(mailstore_mailbox_uids(ms, 1, trash, 1, 0, uid_cb, &l, &err), 2);
	ck_assert_uint_eq(l.uid[0], 1);
	ck_assert_uint_eq(l.email[0], c);
	ck_assert_uint_eq(l.uid[1], 2);
	ck_assert_uint_eq(l.email[1], e2);
	ck_assert_uint_eq(l.modseq[1], s0 + 1);
	l.n = 0;
	ck_assert_int_eq(mailstore_mailbox_uids(ms, 1, trash, 2, 2, uid_cb, &l, &err), 1);
	/* Set mailboxes (JMAP mailboxIds): into both, then out of trash. */
	uint64_t both[2] = {inbox, trash};
	OK(mailstore_email_set_mailboxes(ms, 1, e2, both, 2, &err));
	OK(mailstore_email_get(ms, 1, e2, arena, &a, &err));
	ck_assert_uint_eq(a.nmembers, 2);
	OK(mailstore_email_set_mailboxes(ms, 1, e2, &inbox, 1, &err));
	OK(mailstore_email_get(ms, 1, e2, arena, &a, &err));
	ck_assert_uint_eq(a.nmembers, 1);
	ck_assert_uint_eq(a.members[0].uid, 3);
	FAILS(CORE_ESYNTAX, mailstore_email_set_mailboxes(ms, 1, e2, NULL, 0, &err));
	/* EXPUNGE: the last membership gone destroys the email and its blob link. */
	uint64_t s1 = state(1);
	uint32_t ex[] = {1, 77};
	ck_assert_int_eq(mailstore_mailbox_expunge(ms, 1, trash, ex, 2, &err), 1);
	FAILS(CORE_ENOTFOUND, mailstore_email_get(ms, 1, c, arena, &a, &err));
	/* Past the upload reservation of the deliveries, access rests on links alone: e1 and
	 * e2 still hold theirs. */
	clock_skew_ms = 2 * 3600 * 1000;
	ck_assert_int_eq(store_blob_access(blob, 1, &b.blob, &err), 0);
	OK(mailstore_email_destroy(ms, 1, e1, &err));
	OK(mailstore_email_destroy(ms, 1, e2, &err));
	FAILS(CORE_EPERM, store_blob_access(blob, 1, &b.blob, &err));
	struct mailstore_changes ch;
	OK(mailstore_changes_get(ms, 1, MAILSTORE_T_EMAIL, s1, 0, arena, &ch, &err));
	ck_assert_uint_eq(ch.ndestroyed, 3);
	ck_assert_uint_eq(ch.ncreated + ch.nupdated, 0);
	OK(mailstore_changes_get(ms, 1, MAILSTORE_T_THREAD, s1, 0, arena, &ch, &err));
	ck_assert_uint_eq(ch.ndestroyed, 1);
	ck_assert_uint_eq(mbox(1, inbox).total, 0);
	ck_assert_uint_eq(mbox(1, trash).total, 0);
	struct mailstore_account acc;
	OK(mailstore_account_get(ms, 1, &acc, &err));
	ck_assert_uint_eq(acc.used_messages, 0);
	ck_assert_uint_eq(acc.used_bytes, 0);
	FAILS(CORE_ENOTFOUND, mailstore_email_destroy(ms, 1, e1, &err));
	ck_assert_int_eq(mailstore_mailbox_expunge(ms, 1, trash, ex, 2, &err), 0);
}
END_TEST

START_TEST(changes_and_tombstones)
{
	OK(mailstore_account_ensure(ms, 1, &err));
	uint64_t inbox = role_id(1, MAILSTORE_ROLE_INBOX);
	uint64_t s0 = state(1);
	uint64_t ids[5];
	for (int i = 0; i < 5; i++)
		ids[i] = append(1, inbox, msg1, NULL, NULL);
	struct mailstore_changes ch;
	OK(mailstore_changes_get(ms, 1, MAILSTORE_T_EMAIL, s0, 0, arena, &ch, &err));
	ck_assert_uint_eq(ch.ncreated, 5);
	ck_assert_uint_eq(ch.new_state, s0 + 5);
	ck_assert(!ch.has_more);
	/* maxChanges: stops at a state, the client continues from there. */
	OK(mailstore_changes_get(ms, 1, MAILSTORE_T_EMAIL, s0, 2, arena, &ch, &err));
	ck_assert_uint_eq(ch.ncreated, 2);
	ck_assert(ch.has_more);
	ck_assert_uint_eq(ch.new_state, s0 + 2);
	OK(mailstore_changes_get(ms, 1, MAILSTORE_T_EMAIL, ch.new_state, 10, arena, &ch, &err));
	ck_assert_uint_eq(ch.ncreated, 3);
	ck_assert(!ch.has_more);
	/* Created then destroyed inside the window: not reported. */
	OK(mailstore_email_destroy(ms, 1, ids[4], &err));
	OK(mailstore_changes_get(ms, 1, MAILSTORE_T_EMAIL, s0, 0, arena, &ch, &err));
	ck_assert_uint_eq(ch.ncreated, 4);
	ck_assert_uint_eq(ch.ndestroyed, 0);
	OK(mailstore_changes_get(ms, 1, MAILSTORE_T_EMAIL, s0 + 5, 0, arena, &ch, &err));
	ck_assert_uint_eq(ch.ndestroyed, 1);
	ck_assert_uint_eq(ch.destroyed[0], ids[4]);
	/* Mailbox counts changed: Inbox updated. */
	OK(mailstore_changes_get(ms, 1, MAILSTORE_T_MAILBOX, s0, 0, arena, &ch, &err));
	ck_assert_uint_eq(ch.nupdated, 1);
	ck_assert_uint_eq(ch.updated[0], inbox);
	/* A state from the future, or from before the floor, cannot be calculated. */
	FAILS(CORE_ELIMIT,
	      mailstore_changes_get(ms, 1, MAILSTORE_T_EMAIL, state(1) + 1, 0, arena, &ch, &err));
	OK(mailstore_changes_get(ms, 1, MAILSTORE_T_EMAIL, state(1), 0, arena, &ch, &err));
	ck_assert_uint_eq(ch.ncreated + ch.nupdated + ch.ndestroyed, 0);
	/* Tombstones: expunge, then let the period pass. */
	uint32_t uid1 = 1;
	uint64_t before = state(1);
	ck_assert_int_eq(mailstore_mailbox_expunge(ms, 1, inbox, &uid1, 1, &err), 1);
	struct uid_list v = {0};
	ck_assert_int_eq(mailstore_mailbox_vanished(ms, 1, inbox, before, vanished_cb, &v, &err),
			 1);
	ck_assert_int_eq(mailstore_tombstones_purge(ms, 1, &err), 0); /* nothing old yet */
	ck_assert_int_eq(mailstore_tombstones_purge(ms, 77, &err), 0);
	FAILS(CORE_ENOTFOUND, mailstore_account_get(ms, 77, &(struct mailstore_account){0}, &err));
	OK(mailstore_changes_get(ms, 1, MAILSTORE_T_EMAIL, s0, 0, arena, &ch, &err));
	mailstore_free(&ms);
	struct mailstore_options o = {.tombstone_ms = 1};
	OK(mailstore_open(data, blob, &o, &ms, &err));
	struct timespec ts = {0, 5 * 1000 * 1000};
	nanosleep(&ts, NULL);
	ck_assert_int_gt(mailstore_tombstones_purge(ms, 1, &err), 0);
	struct mailstore_account acc;
	OK(mailstore_account_get(ms, 1, &acc, &err));
	ck_assert_uint_eq(acc.changes_floor, acc.modseq);
	FAILS(CORE_ELIMIT,
	      mailstore_changes_get(ms, 1, MAILSTORE_T_EMAIL, s0, 0, arena, &ch, &err));
	FAILS(CORE_ELIMIT, mailstore_mailbox_vanished(ms, 1, inbox, before, vanished_cb, &v, &err));
	OK(mailstore_changes_get(ms, 1, MAILSTORE_T_EMAIL, acc.modseq, 0, arena, &ch, &err));
	/* New changes after the floor are reported as usual. */
	append(1, inbox, msg1, NULL, NULL);
	OK(mailstore_changes_get(ms, 1, MAILSTORE_T_EMAIL, acc.modseq, 0, arena, &ch, &err));
	ck_assert_uint_eq(ch.ncreated, 1);
}
END_TEST

START_TEST(quota_enforced)
{
	OK(mailstore_account_ensure(ms, 1, &err));
	uint64_t inbox = role_id(1, MAILSTORE_ROLE_INBOX);
	size_t len = strlen(msg1);
	OK(mailstore_quota_set(ms, 1, 2 * len + 1, 0, &err));
	append(1, inbox, msg1, NULL, NULL);
	append(1, inbox, msg1, NULL, NULL);
	uint64_t s = state(1);
	struct mailstore_delivered d;
	FAILS(CORE_ELIMIT,
	      mailstore_email_append(ms, 1, msg1, len, &inbox, 1, NULL, 0, 0, &d, &err));
	ck_assert_ptr_nonnull(strstr(err.msg, "OVERQUOTA"));
	ck_assert_uint_eq(state(1), s);
	ck_assert_uint_eq(mbox(1, inbox).total, 2);
	/* A copy counts too. */
	struct uid_list l = {0};
	OK(mailstore_mailbox_uids(ms, 1, inbox, 1, 0, uid_cb, &l, &err));
	uint64_t c;
	FAILS(CORE_ELIMIT, mailstore_email_copy(ms, 1, l.email[0], inbox, &c, NULL, &err));
	/* Message count quota; usage frees when mail goes. */
	OK(mailstore_quota_set(ms, 1, 0, 2, &err));
	FAILS(CORE_ELIMIT, mailstore_email_append(ms, 1, "x", 1, &inbox, 1, NULL, 0, 0, &d, &err));
	OK(mailstore_email_destroy(ms, 1, l.email[0], &err));
	OK(mailstore_email_append(ms, 1, "x", 1, &inbox, 1, NULL, 0, 0, &d, &err));
	struct mailstore_account acc;
	OK(mailstore_account_get(ms, 1, &acc, &err));
	ck_assert_uint_eq(acc.used_messages, 2);
	ck_assert_uint_eq(acc.used_bytes, len + 1);
	ck_assert_uint_eq(acc.quota_messages, 2);
}
END_TEST

START_TEST(threads_by_jmap_rules)
{
	OK(mailstore_account_ensure(ms, 1, &err));
	uint64_t inbox = role_id(1, MAILSTORE_ROLE_INBOX);
	struct mailstore_delivered d[5];
	const char *texts[5];
	char *m0 = make_msg("root@x", "Plans", NULL);
	char *m1 = make_msg("r1@x", "Re: [team] RE: plans", "root@x");
	char *m2 = make_msg("r2@x", "Something else", "root@x");
	char *m3 = make_msg("r3@x", "Plans", NULL);
	char *m4 = make_msg("r4@x", "Fwd: Plans (fwd)", "r1@x");
	texts[0] = m0, texts[1] = m1, texts[2] = m2, texts[3] = m3, texts[4] = m4;
	for (int i = 0; i < 5; i++)
		OK(mailstore_email_append(ms, 1, texts[i], strlen(texts[i]), &inbox, 1, NULL, 0, 0,
					  &d[i], &err));
	/* Shared id and base subject: joined; shared id with another subject, or the same
	 * subject without a shared id: apart. */
	ck_assert_uint_eq(d[1].thread_id, d[0].thread_id);
	ck_assert_uint_ne(d[2].thread_id, d[0].thread_id);
	ck_assert_uint_ne(d[3].thread_id, d[0].thread_id);
	ck_assert_uint_eq(d[4].thread_id, d[0].thread_id);
	uint64_t *ids;
	size_t n;
	OK(mailstore_thread_get(ms, 1, d[0].thread_id, arena, &ids, &n, &err));
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(ids[0], d[0].email_id);
	ck_assert_uint_eq(ids[1], d[1].email_id);
	ck_assert_uint_eq(ids[2], d[4].email_id);
	/* RFC 8621 §2 totalThreads / unreadThreads, exact. */
	struct mailstore_mailbox m = mbox(1, inbox);
	ck_assert_uint_eq(m.total_threads, 3);
	ck_assert_uint_eq(m.unread_threads, 3);
	/* The thread loses members and goes with its last one. */
	OK(mailstore_email_destroy(ms, 1, d[2].email_id, &err));
	FAILS(CORE_ENOTFOUND, mailstore_thread_get(ms, 1, d[2].thread_id, arena, &ids, &n, &err));
	ck_assert_uint_eq(mbox(1, inbox).total_threads, 2);
	const char *seen[] = {"$seen"}, *draft[] = {"$draft"};
	OK(mailstore_email_keywords(ms, 1, d[0].email_id, MAILSTORE_KW_ADD, seen, 1, 0, NULL,
				    &err));
	OK(mailstore_email_keywords(ms, 1, d[1].email_id, MAILSTORE_KW_ADD, seen, 1, 0, NULL,
				    &err));
	ck_assert_uint_eq(mbox(1, inbox).unread_threads, 2); /* d[4] is still unread */
	/* A draft is not unread for JMAP, but unseen for IMAP STATUS UNSEEN. */
	OK(mailstore_email_keywords(ms, 1, d[4].email_id, MAILSTORE_KW_ADD, draft, 1, 0, NULL,
				    &err));
	m = mbox(1, inbox);
	ck_assert_uint_eq(m.unread_threads, 1);
	ck_assert_uint_eq(m.unread, 1);
	ck_assert_uint_eq(m.unseen, 2);
	ck_assert_uint_eq(m.total, 4);
	/* Moving the thread's emails out empties its count in the Inbox. */
	uint64_t trash = role_id(1, MAILSTORE_ROLE_TRASH);
	uint32_t uid;
	OK(mailstore_email_move(ms, 1, d[0].email_id, inbox, trash, &uid, &err));
	OK(mailstore_email_move(ms, 1, d[1].email_id, inbox, trash, &uid, &err));
	ck_assert_uint_eq(mbox(1, inbox).total_threads, 2);
	OK(mailstore_email_move(ms, 1, d[4].email_id, inbox, trash, &uid, &err));
	m = mbox(1, inbox);
	ck_assert_uint_eq(m.total_threads, 1);
	ck_assert_uint_eq(m.unread_threads, 1);
	m = mbox(1, trash);
	ck_assert_uint_eq(m.total_threads, 1);
	ck_assert_uint_eq(m.unread_threads, 0);
	ck_assert_uint_eq(m.unseen, 1);
	free(m0), free(m1), free(m2), free(m3), free(m4);
}
END_TEST

START_TEST(deliver_many_accounts_atomically)
{
	OK(mailstore_account_ensure(ms, 10, &err));
	OK(mailstore_account_ensure(ms, 11, &err));
	uint64_t i10 = role_id(10, MAILSTORE_ROLE_INBOX), i11 = role_id(11, MAILSTORE_ROLE_INBOX);
	uint64_t j11 = role_id(11, MAILSTORE_ROLE_JUNK);
	uint64_t mb11[2] = {i11, j11};
	struct mailstore_target t[2] = {{10, &i10, 1, NULL, 0}, {11, mb11, 2, NULL, 0}};
	struct mailstore_delivered d[2];
	OK(mailstore_deliver(ms, msg1, strlen(msg1), t, 2, 0, d, &err));
	ck_assert_uint_eq(mbox(10, i10).total, 1);
	ck_assert_uint_eq(mbox(11, i11).total, 1);
	ck_assert_uint_eq(mbox(11, j11).total, 1);
	ck_assert_uint_eq(d[1].uids[1], 1);
	ck_assert(memcmp(d[0].blob.hash, d[1].blob.hash, STORE_HASH_LEN) == 0);
	/* Each account reads its own copy; knowing the hash is not enough for others. */
	ck_assert_int_eq(store_blob_access(blob, 11, &d[0].blob, &err), 0);
	FAILS(CORE_EPERM, store_blob_access(blob, 12, &d[0].blob, &err));
	/* One target over quota: nobody gets the message. */
	OK(mailstore_quota_set(ms, 11, 0, 1, &err));
	uint64_t s10 = state(10);
	FAILS(CORE_ELIMIT, mailstore_deliver(ms, msg1, strlen(msg1), t, 2, 0, d, &err));
	ck_assert_uint_eq(mbox(10, i10).total, 1);
	ck_assert_uint_eq(state(10), s10);
	/* A delivery to a missing mailbox fails and leaves nothing, not even the account its
	 * transaction would have created. */
	uint64_t none = 0;
	struct mailstore_target t2 = {20, &none, 1, NULL, 0};
	FAILS(CORE_ENOTFOUND, mailstore_deliver(ms, "x", 1, &t2, 1, 0, d, &err));
	struct mailstore_account acc;
	FAILS(CORE_ENOTFOUND, mailstore_account_get(ms, 20, &acc, &err));
}
END_TEST

/* Group commit (mailstore_deliver_batch): a batch whose members all succeed is one
 * commit; one member that fails (over quota, a missing mailbox) fails alone and the others
 * are delivered, each with its own outcome. */
START_TEST(deliver_batch_group_commit)
{
	OK(mailstore_account_ensure(ms, 30, &err));
	OK(mailstore_account_ensure(ms, 31, &err));
	OK(mailstore_account_ensure(ms, 32, &err));
	uint64_t i30 = role_id(30, MAILSTORE_ROLE_INBOX), i31 = role_id(31, MAILSTORE_ROLE_INBOX);
	uint64_t i32 = role_id(32, MAILSTORE_ROLE_INBOX);
	char *ma = make_msg("ga@example.org", "Batch", NULL);
	char *mb = make_msg("gb@example.org", "Other", NULL);
	char *mc = make_msg("gc@example.org", "Re: Batch", "ga@example.org");
	struct mailstore_target t30 = {30, &i30, 1, NULL, 0}, t32 = {32, &i32, 1, NULL, 0};
	struct mailstore_target t31 = {31, &i31, 1, NULL, 0};
	uint64_t s30 = state(30), s32 = state(32);

	/* All good: one transaction; a reply and its parent in one batch share a thread; two
	 * messages in one account get increasing UIDs and one modseq. */
	struct mailstore_delivered o[3];
	struct mailstore_delivery d[3] = {
		{.data = ma, .len = strlen(ma), .targets = &t30, .ntargets = 1, .out = &o[0]},
		{.data = mb, .len = strlen(mb), .targets = &t32, .ntargets = 1, .out = &o[1]},
		{.data = mc, .len = strlen(mc), .targets = &t30, .ntargets = 1, .out = &o[2]},
	};
	size_t commits = 99;
	ck_assert_int_eq(mailstore_deliver_batch(ms, d, 3, &commits), 3);
	ck_assert_uint_eq(commits, 1);
	for (int i = 0; i < 3; i++)
		ck_assert_msg(d[i].rc == 0, "member %d: %d %s", i, d[i].rc, d[i].err.msg);
	ck_assert_uint_eq(o[0].uids[0], 1);
	ck_assert_uint_eq(o[2].uids[0], 2);
	ck_assert_uint_eq(o[1].uids[0], 1);
	ck_assert_uint_eq(o[0].thread_id, o[2].thread_id);
	ck_assert_uint_eq(o[0].modseq, o[2].modseq);
	ck_assert_uint_eq(state(30), s30 + 1);
	ck_assert_uint_eq(state(32), s32 + 1);
	ck_assert_uint_eq(mbox(30, i30).total, 2);
	ck_assert_uint_eq(mbox(30, i30).total_threads, 1);
	ck_assert_uint_eq(mbox(32, i32).total, 1);
	struct mailstore_account acc;
	OK(mailstore_account_get(ms, 30, &acc, &err));
	ck_assert_uint_eq(acc.used_messages, 2);
	ck_assert_uint_eq(acc.used_bytes, strlen(ma) + strlen(mc));

	/* Account 31 is full; the member for it fails with OVERQUOTA, another names a missing
	 * mailbox; the three others (one a copy of an earlier member's content) are delivered. */
	OK(mailstore_quota_set(ms, 31, 0, 1, &err));
	OK(mailstore_deliver(ms, mb, strlen(mb), &t31, 1, 0, NULL, &err));
	uint64_t s31 = state(31), none = 0;
	struct mailstore_target tnone = {30, &none, 1, NULL, 0};
	struct mailstore_delivered p[5];
	struct mailstore_delivery e[5] = {
		{.data = mb, .len = strlen(mb), .targets = &t30, .ntargets = 1, .out = &p[0]},
		{.data = ma, .len = strlen(ma), .targets = &t31, .ntargets = 1, .out = &p[1]},
		{.data = mb, .len = strlen(mb), .targets = &t32, .ntargets = 1, .out = &p[2]},
		{.data = ma, .len = strlen(ma), .targets = &tnone, .ntargets = 1, .out = &p[3]},
		{.data = mb, .len = strlen(mb), .targets = &t30, .ntargets = 1, .out = &p[4]},
	};
	ck_assert_int_eq(mailstore_deliver_batch(ms, e, 5, &commits), 3);
	ck_assert_int_eq(e[0].rc, 0);
	ck_assert_int_eq(e[1].rc, CORE_ELIMIT);
	ck_assert_msg(strstr(e[1].err.msg, "OVERQUOTA") != NULL, "%s", e[1].err.msg);
	ck_assert_int_eq(e[2].rc, 0);
	ck_assert_int_eq(e[3].rc, CORE_ENOTFOUND);
	ck_assert_int_eq(e[4].rc, 0);
	ck_assert_uint_eq(commits, 3);
	ck_assert_uint_eq(p[0].uids[0], 3);
	ck_assert_uint_eq(p[4].uids[0], 4);
	ck_assert(p[0].email_id != p[4].email_id);
	ck_assert(memcmp(p[0].blob.hash, p[4].blob.hash, STORE_HASH_LEN) == 0);
	ck_assert_uint_eq(mbox(30, i30).total, 4);
	ck_assert_uint_eq(mbox(31, i31).total, 1);
	ck_assert_uint_eq(state(31), s31);
	ck_assert_uint_eq(mbox(32, i32).total, 2);
	OK(mailstore_account_get(ms, 30, &acc, &err));
	ck_assert_uint_eq(acc.used_messages, 4);

	/* A member that fails before any transaction (no target) leaves the others alone. */
	struct mailstore_delivery f[2] = {
		{.data = ma, .len = strlen(ma), .targets = &t30, .ntargets = 0},
		{.data = ma, .len = strlen(ma), .targets = &t32, .ntargets = 1},
	};
	ck_assert_int_eq(mailstore_deliver_batch(ms, f, 2, &commits), 1);
	ck_assert_int_eq(f[0].rc, CORE_ELIMIT);
	ck_assert_int_eq(f[1].rc, 0);
	ck_assert_uint_eq(commits, 1);
	ck_assert_uint_eq(mbox(32, i32).total, 3);
	free(ma), free(mb), free(mc);
}
END_TEST

/* mailstore_delivery_prepare(): members prepared ahead and members the batch prepares mix
 * in one batch with the same outcomes; a preparation that fails reports its error and keeps
 * nothing; a prepared member that meets a quota still fails alone; release is idempotent. */
START_TEST(deliver_batch_prepared_members)
{
	OK(mailstore_account_ensure(ms, 33, &err));
	OK(mailstore_account_ensure(ms, 34, &err));
	uint64_t i33 = role_id(33, MAILSTORE_ROLE_INBOX), i34 = role_id(34, MAILSTORE_ROLE_INBOX);
	char *ma = make_msg("pa@example.org", "Prepared", NULL);
	char *mb = make_msg("pb@example.org", "Re: Prepared", "pa@example.org");
	struct mailstore_target t33 = {33, &i33, 1, NULL, 0}, t34 = {34, &i34, 1, NULL, 0};
	struct mailstore_delivered o[3];
	struct mailstore_delivery d[3] = {
		{.data = ma, .len = strlen(ma), .targets = &t33, .ntargets = 1, .out = &o[0]},
		{.data = mb, .len = strlen(mb), .targets = &t34, .ntargets = 1, .out = &o[1]},
		{.data = mb, .len = strlen(mb), .targets = &t33, .ntargets = 1, .out = &o[2]},
	};
	ck_assert_int_eq(mailstore_delivery_prepare(ms, &d[0]), 0);
	ck_assert_ptr_nonnull(d[0].prep);
	ck_assert_int_eq(mailstore_delivery_prepare(ms, &d[2]), 0);
	size_t commits = 99;
	ck_assert_int_eq(mailstore_deliver_batch(ms, d, 3, &commits), 3);
	ck_assert_uint_eq(commits, 1);
	for (int i = 0; i < 3; i++)
		ck_assert_msg(d[i].rc == 0, "member %d: %d %s", i, d[i].rc, d[i].err.msg);
	ck_assert_uint_eq(o[0].uids[0], 1);
	ck_assert_uint_eq(o[2].uids[0], 2);
	ck_assert_uint_eq(o[0].thread_id, o[2].thread_id); /* the parse was kept */
	ck_assert_uint_eq(o[1].uids[0], 1);
	ck_assert_uint_eq(mbox(33, i33).total, 2);
	for (int i = 0; i < 3; i++)
		mailstore_delivery_release(&d[i]);
	ck_assert_ptr_null(d[0].prep);
	mailstore_delivery_release(&d[0]);

	/* A preparation that fails: the error is the delivery's, nothing kept. */
	struct mailstore_delivery bad = {.data = ma, .len = strlen(ma), .targets = &t33};
	ck_assert_int_eq(mailstore_delivery_prepare(ms, &bad), CORE_ELIMIT);
	ck_assert_int_eq(bad.rc, CORE_ELIMIT);
	ck_assert_ptr_null(bad.prep);

	/* Prepared members, one over quota: it fails alone, the other is delivered. */
	OK(mailstore_quota_set(ms, 34, 0, 1, &err));
	struct mailstore_delivered q[2];
	struct mailstore_delivery e[2] = {
		{.data = ma, .len = strlen(ma), .targets = &t34, .ntargets = 1, .out = &q[0]},
		{.data = ma, .len = strlen(ma), .targets = &t33, .ntargets = 1, .out = &q[1]},
	};
	ck_assert_int_eq(mailstore_delivery_prepare(ms, &e[0]), 0);
	ck_assert_int_eq(mailstore_delivery_prepare(ms, &e[1]), 0);
	ck_assert_int_eq(mailstore_deliver_batch(ms, e, 2, &commits), 1);
	ck_assert_int_eq(e[0].rc, CORE_ELIMIT);
	ck_assert_int_eq(e[1].rc, 0);
	ck_assert_uint_eq(q[1].uids[0], 3);
	ck_assert_uint_eq(mbox(34, i34).total, 1);
	ck_assert_uint_eq(mbox(33, i33).total, 3);
	mailstore_delivery_release(&e[0]);
	mailstore_delivery_release(&e[1]);
	free(ma), free(mb);
}
END_TEST

struct bus_seen {
	int calls;
	uint64_t account, modseq;
	unsigned types;
};

static void bus_cb(void *arg, uint64_t account, unsigned types, uint64_t modseq)
{
	struct bus_seen *s = arg;
	s->calls++;
	s->account = account;
	s->types = types;
	s->modseq = modseq;
}

static struct bus_seen tr_seen;
static void tr_publish(void *arg, uint64_t account, unsigned types, uint64_t modseq)
{
	bus_cb(arg, account, types, modseq);
}

START_TEST(change_bus)
{
	struct bus_seen all = {0}, one = {0}, other = {0};
	int h1 = mailstore_bus_subscribe(bus, 0, bus_cb, &all);
	int h2 = mailstore_bus_subscribe(bus, 5, bus_cb, &one);
	int h3 = mailstore_bus_subscribe(bus, 6, bus_cb, &other);
	ck_assert_int_gt(h1, 0);
	ck_assert_int_ne(h1, h2);
	memset(&tr_seen, 0, sizeof(tr_seen));
	struct mailstore_bus_transport tr = {tr_publish, &tr_seen};
	mailstore_bus_set_transport(bus, &tr);
	OK(mailstore_account_ensure(ms, 5, &err));
	ck_assert_int_eq(one.calls, 1);
	ck_assert_uint_eq(one.modseq, state(5));
	ck_assert_uint_eq(one.types, MAILSTORE_T_MAILBOX);
	uint32_t uid;
	append(5, role_id(5, MAILSTORE_ROLE_INBOX), msg1, NULL, &uid);
	ck_assert_int_eq(one.calls, 2);
	ck_assert_uint_eq(one.types, MAILSTORE_T_MAILBOX | MAILSTORE_T_EMAIL | MAILSTORE_T_THREAD);
	ck_assert_uint_eq(one.modseq, state(5));
	ck_assert_int_eq(all.calls, 2);
	ck_assert_int_eq(other.calls, 0);
	ck_assert_int_eq(tr_seen.calls, 2);
	ck_assert_uint_eq(tr_seen.account, 5);
	/* A failed operation publishes nothing; an unsubscribed callback never runs. */
	uint64_t id;
	FAILS(CORE_ECONFLICT,
	      mailstore_mailbox_create(ms, 5, 0, "Inbox", MAILSTORE_ROLE_NONE, &id, &err));
	ck_assert_int_eq(one.calls, 2);
	mailstore_bus_unsubscribe(bus, h2);
	OK(mailstore_mailbox_create(ms, 5, 0, "New", MAILSTORE_ROLE_NONE, &id, &err));
	ck_assert_int_eq(one.calls, 2);
	ck_assert_int_eq(all.calls, 3);
	/* Remote notifications reach local subscribers only. */
	mailstore_bus_deliver(bus, 6, MAILSTORE_T_EMAIL, 99);
	ck_assert_int_eq(other.calls, 1);
	ck_assert_uint_eq(other.modseq, 99);
	ck_assert_int_eq(tr_seen.calls, 3);
	mailstore_bus_set_transport(bus, NULL);
	mailstore_bus_unsubscribe(bus, h1);
	mailstore_bus_unsubscribe(bus, h3);
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* Concurrent writers                                                                 */
/* ---------------------------------------------------------------------------------- */

#define CW_THREADS 4
#define CW_EACH 15

struct cw_arg {
	int index;
	uint64_t inbox, email;
	int failures;
	char msg[CORE_ERROR_MSG_MAX];
};

static void *cw_deliver(void *p)
{
	struct cw_arg *a = p;
	for (int i = 0; i < CW_EACH; i++) {
		char text[128];
		snprintf(text, sizeof(text), "Subject: t%d m%d\r\n\r\nbody\r\n", a->index, i);
		struct mailstore_delivered d;
		struct core_error e;
		if (mailstore_email_append(ms, 1, text, strlen(text), &a->inbox, 1, NULL, 0, 0, &d,
					   &e) < 0) {
			a->failures++;
			snprintf(a->msg, sizeof(a->msg), "%s", e.msg);
		}
	}
	return NULL;
}

static void *cw_keywords(void *p)
{
	struct cw_arg *a = p;
	for (int i = 0; i < CW_EACH; i++) {
		char kw[32];
		snprintf(kw, sizeof(kw), "k%d_%d", a->index, i);
		const char *k[] = {kw};
		struct core_error e;
		if (mailstore_email_keywords(ms, 1, a->email, MAILSTORE_KW_ADD, k, 1, 0, NULL, &e) <
		    0) {
			a->failures++;
			snprintf(a->msg, sizeof(a->msg), "%s", e.msg);
		}
	}
	return NULL;
}

START_TEST(concurrent_writers)
{
	OK(mailstore_account_ensure(ms, 1, &err));
	uint64_t inbox = role_id(1, MAILSTORE_ROLE_INBOX);
	uint64_t s0 = state(1);
	uint64_t target = append(1, inbox, msg1, NULL, NULL);
	pthread_t th[2 * CW_THREADS];
	struct cw_arg args[2 * CW_THREADS];
	memset(args, 0, sizeof(args));
	for (int i = 0; i < 2 * CW_THREADS; i++) {
		args[i].index = i;
		args[i].inbox = inbox;
		args[i].email = target;
		ck_assert_int_eq(pthread_create(&th[i], NULL,
						i < CW_THREADS ? cw_deliver : cw_keywords,
						&args[i]),
				 0);
	}
	for (int i = 0; i < 2 * CW_THREADS; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(args[i].failures == 0, "thread %d: %d failures (%s)", i,
			      args[i].failures, args[i].msg);
	}
	const unsigned total = CW_THREADS * CW_EACH + 1;
	struct mailstore_mailbox m = mbox(1, inbox);
	ck_assert_uint_eq(m.total, total);
	ck_assert_uint_eq(m.unread, total);
	ck_assert_uint_eq(m.uidnext, total + 1);
	ck_assert_uint_eq(m.unseen, total);
	ck_assert_uint_eq(m.total_threads, total); /* no shared message ids */
	ck_assert_uint_eq(m.unread_threads, total);
	/* Every write took its own modseq: one per delivery and one per keyword change. */
	ck_assert_uint_eq(state(1), s0 + 1 + 2 * CW_THREADS * CW_EACH);
	struct uid_list l = {0};
	ck_assert_int_eq(mailstore_mailbox_uids(ms, 1, inbox, 1, 0, uid_cb, &l, &err), (int)total);
	/* UIDs 1..total in order (unique, increasing, no gap); among the deliveries, UID order
	 * is commit order, so their modseqs increase strictly with the UID. */
	uint64_t last = 0;
	for (size_t i = 0; i < l.n; i++) {
		ck_assert_uint_eq(l.uid[i], i + 1);
		if (l.email[i] == target)
			continue;
		ck_assert_uint_gt(l.modseq[i], last);
		last = l.modseq[i];
	}
	/* No lost update: every keyword of every writer is there. */
	struct mailstore_email e;
	OK(mailstore_email_get(ms, 1, target, arena, &e, &err));
	ck_assert_uint_eq(e.nkeywords, CW_THREADS * CW_EACH);
	ck_assert_uint_eq(m.highest_modseq, state(1));
	struct mailstore_account acc;
	OK(mailstore_account_get(ms, 1, &acc, &err));
	ck_assert_uint_eq(acc.used_messages, total);
	struct mailstore_changes ch;
	OK(mailstore_changes_get(ms, 1, MAILSTORE_T_EMAIL, s0, 0, arena, &ch, &err));
	ck_assert_uint_eq(ch.ncreated, total);
}
END_TEST

START_TEST(many_mailboxes_one_email)
{
	uint64_t mb[MAILSTORE_MAILBOXES_MAX + 1];
	for (unsigned i = 0; i <= MAILSTORE_MAILBOXES_MAX; i++) {
		char name[16];
		snprintf(name, sizeof(name), "box%u", i);
		OK(mailstore_mailbox_create(ms, 1, 0, name, MAILSTORE_ROLE_NONE, &mb[i], &err));
	}
	struct mailstore_delivered d;
	FAILS(CORE_ELIMIT,
	      mailstore_email_append(ms, 1, msg1, strlen(msg1), mb, MAILSTORE_MAILBOXES_MAX + 1,
				     NULL, 0, 0, &d, &err));
	OK(mailstore_email_append(ms, 1, msg1, strlen(msg1), mb, MAILSTORE_MAILBOXES_MAX, NULL, 0,
				  0, &d, &err));
	for (unsigned i = 0; i < MAILSTORE_MAILBOXES_MAX; i++)
		ck_assert_uint_eq(d.uids[i], 1);
	const char *seen[] = {"$seen"};
	uint64_t m;
	OK(mailstore_email_keywords(ms, 1, d.email_id, MAILSTORE_KW_ADD, seen, 1, 0, &m, &err));
	for (unsigned i = 0; i < MAILSTORE_MAILBOXES_MAX; i++) {
		struct mailstore_mailbox x = mbox(1, mb[i]);
		ck_assert_uint_eq(x.highest_modseq, m);
		ck_assert_uint_eq(x.total, 1);
		ck_assert_uint_eq(x.unread, 0);
	}
	/* Out of all but the last: one change, every left mailbox has a VANISHED UID. */
	OK(mailstore_email_set_mailboxes(ms, 1, d.email_id, &mb[MAILSTORE_MAILBOXES_MAX - 1], 1,
					 &err));
	for (unsigned i = 0; i + 1 < MAILSTORE_MAILBOXES_MAX; i++) {
		struct uid_list v = {0};
		ck_assert_int_eq(mailstore_mailbox_vanished(ms, 1, mb[i], m, vanished_cb, &v, &err),
				 1);
		ck_assert_uint_eq(mbox(1, mb[i]).total, 0);
	}
	ck_assert_uint_eq(state(1), m + 1);
}
END_TEST

START_TEST(large_expunge_in_batches)
{
	OK(mailstore_account_ensure(ms, 1, &err));
	uint64_t inbox = role_id(1, MAILSTORE_ROLE_INBOX);
	enum { N = 300 };
	static uint32_t uids[N + 1];
	for (int i = 0; i < N; i++)
		append(1, inbox, "Subject: x\r\n\r\nx\r\n", NULL, &uids[i]);
	uids[N] = 100000; /* never given */
	uint64_t s0 = state(1);
	ck_assert_int_eq(mailstore_mailbox_expunge(ms, 1, inbox, uids, N + 1, &err), N);
	/* Bounded transactions: 256 UIDs, then the rest, each with its own modseq. */
	ck_assert_uint_eq(state(1), s0 + 2);
	ck_assert_uint_eq(mbox(1, inbox).total, 0);
	ck_assert_uint_eq(mbox(1, inbox).unread, 0);
	struct uid_list v = {0};
	ck_assert_int_eq(mailstore_mailbox_vanished(ms, 1, inbox, s0, vanished_cb, &v, &err), N);
	ck_assert_uint_eq(v.modseq[0], s0 + 1);
	ck_assert_uint_eq(v.modseq[255], s0 + 1);
	ck_assert_uint_eq(v.modseq[256], s0 + 2);
	ck_assert_uint_eq(v.modseq[N - 1], s0 + 2);
	/* Calling again finds nothing left to do. */
	ck_assert_int_eq(mailstore_mailbox_expunge(ms, 1, inbox, uids, N, &err), 0);
	ck_assert_uint_eq(state(1), s0 + 2);
}
END_TEST

START_TEST(mailbox_destroy_in_batches_resumes)
{
	OK(mailstore_account_ensure(ms, 1, &err));
	uint64_t inbox = role_id(1, MAILSTORE_ROLE_INBOX), big, id;
	OK(mailstore_mailbox_create(ms, 1, 0, "big", MAILSTORE_ROLE_NONE, &big, &err));
	enum { N = 300 };
	for (int i = 0; i < N; i++)
		append(1, big, "Subject: x\r\n\r\nx\r\n", NULL, NULL);
	struct mailstore_delivered d;
	uint64_t both[2] = {inbox, big};
	OK(mailstore_email_append(ms, 1, msg1, strlen(msg1), both, 2, NULL, 0, 0, &d, &err));
	uint64_t s0 = state(1);
	/* The first step alone, as if the process stopped right after it: the mailbox is
	 * gone at once, its contents are still there. */
	OK(ms_mailbox_destroy_begin(ms, 1, big, true, &err));
	ck_assert_uint_eq(state(1), s0 + 1);
	FAILS(CORE_ENOTFOUND, mailstore_mailbox_find(ms, 1, "big", &id, &err));
	FAILS(CORE_ENOTFOUND,
	      mailstore_mailbox_get(ms, 1, big, arena, &(struct mailstore_mailbox){0}, &err));
	struct mailstore_mailbox *l;
	size_t n;
	OK(mailstore_mailbox_list(ms, 1, arena, &l, &n, &err));
	ck_assert_uint_eq(n, 6);
	struct mailstore_account acc;
	OK(mailstore_account_get(ms, 1, &acc, &err));
	ck_assert_uint_eq(acc.used_messages, N + 1);
	/* Nothing can go into it meanwhile; its name is free again. */
	uint64_t gone = big;
	FAILS(CORE_ENOTFOUND,
	      mailstore_email_append(ms, 1, "x", 1, &gone, 1, NULL, 0, 0, &d, &err));
	OK(mailstore_mailbox_create(ms, 1, 0, "big", MAILSTORE_ROLE_NONE, &id, &err));
	ck_assert_uint_ne(id, big);
	/* Resume: bounded transactions finish the purge. */
	ck_assert_int_eq(mailstore_purge_pending(ms, 1, &err), 1);
	ck_assert_int_eq(mailstore_purge_pending(ms, 1, &err), 0);
	ck_assert_uint_gt(state(1), s0 + 3);
	OK(mailstore_account_get(ms, 1, &acc, &err));
	ck_assert_uint_eq(acc.used_messages, 1);
	struct mailstore_email e;
	OK(mailstore_email_get(ms, 1, d.email_id, arena, &e, &err));
	ck_assert_uint_eq(e.nmembers, 1);
	ck_assert_uint_eq(e.members[0].mailbox, inbox);
	struct uid_list u = {0};
	ck_assert_int_eq(mailstore_mailbox_uids(ms, 1, big, 1, 0, uid_cb, &u, &err), 0);
	struct mailstore_changes ch;
	OK(mailstore_changes_get(ms, 1, MAILSTORE_T_EMAIL, s0, 0, arena, &ch, &err));
	ck_assert_uint_eq(ch.ndestroyed, N);
	ck_assert_uint_eq(ch.nupdated, 1);
	/* The whole thing in one call, for a mailbox bigger than one batch. */
	for (int i = 0; i < N; i++)
		append(1, id, "Subject: y\r\n\r\ny\r\n", NULL, NULL);
	OK(mailstore_mailbox_destroy(ms, 1, id, true, &err));
	ck_assert_int_eq(mailstore_purge_pending(ms, 1, &err), 0);
	OK(mailstore_account_get(ms, 1, &acc, &err));
	ck_assert_uint_eq(acc.used_messages, 1);
	ck_assert_uint_eq(mbox(1, inbox).total, 1);
}
END_TEST

START_TEST(recent_claimed_once)
{
	OK(mailstore_account_ensure(ms, 1, &err));
	uint64_t inbox = role_id(1, MAILSTORE_ROLE_INBOX);
	append(1, inbox, msg1, NULL, NULL);
	append(1, inbox, msg1, NULL, NULL);
	uint64_t s0 = state(1);
	uint32_t first, next;
	/* EXAMINE sees them as recent but leaves them so. */
	OK(mailstore_mailbox_claim_recent(ms, 1, inbox, true, &first, &next, &err));
	ck_assert_uint_eq(first, 1);
	ck_assert_uint_eq(next, 3);
	OK(mailstore_mailbox_claim_recent(ms, 1, inbox, false, &first, &next, &err));
	ck_assert_uint_eq(first, 1);
	ck_assert_uint_eq(next, 3);
	/* The next session finds nothing recent until new mail comes. */
	OK(mailstore_mailbox_claim_recent(ms, 1, inbox, false, &first, &next, &err));
	ck_assert_uint_eq(first, next);
	ck_assert_uint_eq(state(1), s0);
	append(1, inbox, msg1, NULL, NULL);
	OK(mailstore_mailbox_claim_recent(ms, 1, inbox, false, &first, &next, &err));
	ck_assert_uint_eq(first, 3);
	ck_assert_uint_eq(next, 4);
	ck_assert_uint_eq(mbox(1, inbox).recent_uid, 4);
	FAILS(CORE_ENOTFOUND,
	      mailstore_mailbox_claim_recent(ms, 1, 9999, false, &first, &next, &err));
}
END_TEST

START_TEST(inbox_is_always_inbox)
{
	OK(mailstore_account_ensure(ms, 1, &err));
	uint64_t inbox = role_id(1, MAILSTORE_ROLE_INBOX), id;
	uint32_t uid;
	uint64_t e1 = append(1, inbox, msg1, "$seen", &uid);
	append(1, inbox, msg1, NULL, NULL);
	/* RFC 9051 §6.3.6: renaming INBOX moves its messages to the new name; INBOX stays. */
	OK(mailstore_mailbox_rename_path(ms, 1, "INBOX", "Old/Mail", &err));
	OK(mailstore_mailbox_find(ms, 1, "INBOX", &id, &err));
	ck_assert_uint_eq(id, inbox);
	struct mailstore_mailbox in = mbox(1, inbox);
	ck_assert_uint_eq(in.total, 0);
	ck_assert_uint_eq(in.role, MAILSTORE_ROLE_INBOX);
	uint64_t old;
	OK(mailstore_mailbox_find(ms, 1, "Old/Mail", &old, &err));
	struct mailstore_mailbox om = mbox(1, old);
	ck_assert_uint_eq(om.total, 2);
	ck_assert_uint_eq(om.unread, 1);
	struct mailstore_email e;
	OK(mailstore_email_get(ms, 1, e1, arena, &e, &err));
	ck_assert_uint_eq(e.nmembers, 1);
	ck_assert_uint_eq(e.members[0].mailbox, old);
	FAILS(CORE_ECONFLICT, mailstore_mailbox_rename_path(ms, 1, "INBOX", "Old/Mail", &err));
	/* JMAP may rename or move the Inbox; IMAP still finds it as INBOX. */
	OK(mailstore_mailbox_rename(ms, 1, inbox, old, "Post", &err));
	OK(mailstore_mailbox_find(ms, 1, "inbox", &id, &err));
	ck_assert_uint_eq(id, inbox);
	struct core_buf p = CORE_BUF_INIT;
	OK(mailstore_mailbox_path(ms, 1, inbox, &p, &err));
	ck_assert_str_eq(core_buf_cstr(&p), "INBOX");
	core_buf_reset(&p);
	uint64_t child;
	OK(mailstore_mailbox_create_path(ms, 1, "INBOX/child", &child, &err));
	OK(mailstore_mailbox_path(ms, 1, child, &p, &err));
	ck_assert_str_eq(core_buf_cstr(&p), "INBOX/child");
	core_buf_fini(&p);
	ck_assert_uint_eq(mbox(1, child).parent_id, inbox);
	/* Nobody else may take the name INBOX, nor the Inbox's role. */
	FAILS(CORE_ECONFLICT,
	      mailstore_mailbox_create(ms, 1, 0, "INBOX", MAILSTORE_ROLE_NONE, &id, &err));
	FAILS(CORE_ECONFLICT, mailstore_mailbox_create_path(ms, 1, "Inbox", &id, &err));
	FAILS(CORE_ECONFLICT, mailstore_mailbox_rename(ms, 1, old, 0, "inbox", &err));
	enum mailstore_role none = MAILSTORE_ROLE_NONE, in_role = MAILSTORE_ROLE_INBOX;
	struct mailstore_mailbox_patch pa = {.role = &none};
	FAILS(CORE_EPERM, mailstore_mailbox_update(ms, 1, inbox, &pa, &err));
	pa.role = &in_role;
	FAILS(CORE_EPERM, mailstore_mailbox_update(ms, 1, old, &pa, &err));
}
END_TEST

START_TEST(other_objects)
{
	OK(mailstore_account_ensure(ms, 1, &err));
	uint64_t s0 = state(1), id, id2;
	OK(mailstore_object_create(ms, 1, MAILSTORE_T_IDENTITY, "alice", 5, &id, &err));
	OK(mailstore_object_create(ms, 1, MAILSTORE_T_IDENTITY, "", 0, &id2, &err));
	ck_assert_uint_ne(id, id2);
	uint64_t vac;
	OK(mailstore_object_create(ms, 1, MAILSTORE_T_VACATION, "off", 3, &vac, &err));
	struct mailstore_object o;
	OK(mailstore_object_get(ms, 1, MAILSTORE_T_IDENTITY, id, arena, &o, &err));
	ck_assert_uint_eq(o.len, 5);
	ck_assert(memcmp(o.data, "alice", 5) == 0);
	ck_assert_uint_eq(o.modseq, s0 + 1);
	/* Types are separate collections. */
	FAILS(CORE_ENOTFOUND, mailstore_object_get(ms, 1, MAILSTORE_T_SIEVE, id, arena, &o, &err));
	FAILS(CORE_ESYNTAX, mailstore_object_get(ms, 1, MAILSTORE_T_EMAIL, id, arena, &o, &err));
	FAILS(CORE_ESYNTAX,
	      mailstore_object_create(ms, 1, MAILSTORE_T_MAILBOX, "x", 1, &id2, &err));
	/* A stale guard fails, a fresh one works. */
	FAILS(CORE_ECONFLICT,
	      mailstore_object_update(ms, 1, MAILSTORE_T_IDENTITY, id, "bob", 3, s0, &err));
	OK(mailstore_object_update(ms, 1, MAILSTORE_T_IDENTITY, id, "bob", 3, s0 + 1, &err));
	OK(mailstore_object_get(ms, 1, MAILSTORE_T_IDENTITY, id, arena, &o, &err));
	ck_assert_uint_eq(o.len, 3);
	ck_assert_uint_eq(o.modseq, state(1));
	struct mailstore_object *l;
	size_t n;
	OK(mailstore_object_list(ms, 1, MAILSTORE_T_IDENTITY, arena, &l, &n, &err));
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(l[0].id, id);
	ck_assert_uint_eq(l[1].len, 0);
	struct mailstore_changes ch;
	OK(mailstore_changes_get(ms, 1, MAILSTORE_T_IDENTITY, s0, 0, arena, &ch, &err));
	ck_assert_uint_eq(ch.ncreated, 2);
	ck_assert_uint_eq(ch.nupdated, 0);
	uint64_t s1 = state(1);
	OK(mailstore_object_destroy(ms, 1, MAILSTORE_T_IDENTITY, id2, &err));
	FAILS(CORE_ENOTFOUND, mailstore_object_destroy(ms, 1, MAILSTORE_T_IDENTITY, id2, &err));
	OK(mailstore_changes_get(ms, 1, MAILSTORE_T_IDENTITY, s1, 0, arena, &ch, &err));
	ck_assert_uint_eq(ch.ndestroyed, 1);
	ck_assert_uint_eq(ch.destroyed[0], id2);
	OK(mailstore_changes_get(ms, 1, MAILSTORE_T_VACATION, s1, 0, arena, &ch, &err));
	ck_assert_uint_eq(ch.ncreated + ch.nupdated + ch.ndestroyed, 0);
	static char big[MAILSTORE_OBJECT_MAX + 1];
	FAILS(CORE_ELIMIT,
	      mailstore_object_create(ms, 1, MAILSTORE_T_SIEVE, big, sizeof(big), &id2, &err));
	OK(mailstore_object_create(ms, 1, MAILSTORE_T_SIEVE, big, sizeof(big) - 1, &id2, &err));
	OK(mailstore_object_get(ms, 1, MAILSTORE_T_SIEVE, id2, arena, &o, &err));
	ck_assert_uint_eq(o.len, MAILSTORE_OBJECT_MAX);
}
END_TEST

START_TEST(account_destroy)
{
	OK(mailstore_account_ensure(ms, 30, &err));
	OK(mailstore_account_ensure(ms, 31, &err));
	uint64_t in30 = role_id(30, MAILSTORE_ROLE_INBOX), in31 = role_id(31, MAILSTORE_ROLE_INBOX);
	enum { N = 300 };
	for (int i = 0; i < N; i++)
		append(30, in30, "Subject: z\r\n\r\nz\r\n", NULL, NULL);
	uint64_t mb30[1] = {in30};
	struct mailstore_target t[2] = {{30, mb30, 1, NULL, 0}, {31, &in31, 1, NULL, 0}};
	struct mailstore_delivered dd[2];
	OK(mailstore_deliver(ms, msg1, strlen(msg1), t, 2, 0, dd, &err));
	uint64_t id;
	OK(mailstore_object_create(ms, 30, MAILSTORE_T_IDENTITY, "me", 2, &id, &err));
	FAILS(CORE_ENOTFOUND, mailstore_account_destroy(ms, 32, &err));
	OK(mailstore_account_destroy(ms, 30, &err));
	/* Gone for readers and writers; the other account is untouched. */
	struct mailstore_account acc;
	FAILS(CORE_ENOTFOUND, mailstore_account_get(ms, 30, &acc, &err));
	struct mailstore_mailbox *l;
	size_t n;
	OK(mailstore_mailbox_list(ms, 30, arena, &l, &n, &err));
	ck_assert_uint_eq(n, 0);
	struct mailstore_email e;
	FAILS(CORE_ENOTFOUND, mailstore_email_get(ms, 30, dd[0].email_id, arena, &e, &err));
	OK(mailstore_email_get(ms, 31, dd[1].email_id, arena, &e, &err));
	ck_assert_uint_eq(mbox(31, in31).total, 1);
	/* Blob links of the deleted account are gone: past the reservations only 31 reads. */
	clock_skew_ms = 2 * 3600 * 1000;
	FAILS(CORE_EPERM, store_blob_access(blob, 30, &dd[0].blob, &err));
	ck_assert_int_eq(store_blob_access(blob, 31, &dd[0].blob, &err), 0);
	clock_skew_ms = 0;
	/* The number can be used again: a new, empty account. */
	OK(mailstore_account_ensure(ms, 30, &err));
	uint64_t nin = role_id(30, MAILSTORE_ROLE_INBOX);
	ck_assert_uint_eq(mbox(30, nin).total, 0);
	ck_assert_uint_eq(mbox(30, nin).uidnext, 1);
	OK(mailstore_account_get(ms, 30, &acc, &err));
	ck_assert_uint_eq(acc.used_messages, 0);
	struct mailstore_object *ol;
	OK(mailstore_object_list(ms, 30, MAILSTORE_T_IDENTITY, arena, &ol, &n, &err));
	ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(account_destroy_resumes)
{
	OK(mailstore_account_ensure(ms, 40, &err));
	uint64_t in40 = role_id(40, MAILSTORE_ROLE_INBOX);
	append(40, in40, msg1, NULL, NULL);
	/* Only the first step, as if the process stopped after it. */
	OK(ms_account_destroy_begin(ms, 40, &err));
	struct mailstore_account acc;
	FAILS(CORE_ENOTFOUND, mailstore_account_get(ms, 40, &acc, &err));
	uint64_t id;
	FAILS(CORE_ENOTFOUND, mailstore_mailbox_find(ms, 40, "INBOX", &id, &err));
	/* Writers are refused until the purge is done. */
	FAILS(CORE_ENOTFOUND, mailstore_account_ensure(ms, 40, &err));
	OK(mailstore_account_purge(ms, 40, &err));
	OK(mailstore_account_purge(ms, 40, &err));
	OK(mailstore_account_ensure(ms, 40, &err));
	OK(mailstore_account_get(ms, 40, &acc, &err));
	ck_assert_uint_eq(acc.used_messages, 0);
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* Invariants after a mixed concurrent workload                                       */
/* ---------------------------------------------------------------------------------- */

struct inv_email {
	uint64_t id;
	size_t seen_members;
};

static bool kw_has(const struct mailstore_email *e, const char *k)
{
	for (size_t i = 0; i < e->nkeywords; i++)
		if (strcmp(e->keywords[i], k) == 0)
			return true;
	return false;
}

/* Check every count and cross-reference of an account against its emails. */
static void check_invariants(uint64_t acct)
{
	struct mailstore_mailbox *l;
	size_t nl;
	OK(mailstore_mailbox_list(ms, acct, arena, &l, &nl, &err));
	static struct inv_email seen[4096];
	size_t nseen = 0;
	uint64_t bytes = 0;
	for (size_t i = 0; i < nl; i++) {
		struct uid_list *u = calloc(1, sizeof(*u));
		int n = mailstore_mailbox_uids(ms, acct, l[i].id, 1, 0, uid_cb, u, &err);
		ck_assert_int_ge(n, 0);
		ck_assert_uint_le((size_t)n, 512);
		uint64_t unread = 0, unseen = 0, size = 0;
		uint64_t threads[512], uthreads[512];
		size_t nt = 0, nut = 0;
		for (size_t j = 0; j < u->n; j++) {
			struct mailstore_email e;
			OK(mailstore_email_get(ms, acct, u->email[j], arena, &e, &err));
			bool member = false;
			for (size_t m = 0; m < e.nmembers; m++)
				member |= e.members[m].mailbox == l[i].id &&
					  e.members[m].uid == u->uid[j];
			ck_assert_msg(member, "UID %u of mailbox %llu not in its email", u->uid[j],
				      (unsigned long long)l[i].id);
			ck_assert_uint_eq(u->modseq[j], e.modseq);
			ck_assert_uint_lt(u->uid[j], l[i].uidnext);
			ck_assert_uint_le(e.modseq, l[i].highest_modseq);
			bool ur = !kw_has(&e, "$seen") && !kw_has(&e, "$draft");
			unread += ur;
			unseen += !kw_has(&e, "$seen");
			size += e.size;
			bool have = false;
			for (size_t t = 0; t < nt; t++)
				have |= threads[t] == e.thread_id;
			if (!have)
				threads[nt++] = e.thread_id;
			have = false;
			for (size_t t = 0; t < nut; t++)
				have |= uthreads[t] == e.thread_id;
			if (ur && !have)
				uthreads[nut++] = e.thread_id;
			size_t k = 0;
			while (k < nseen && seen[k].id != e.id)
				k++;
			if (k == nseen) {
				ck_assert_uint_lt(nseen, 4096);
				seen[nseen++] = (struct inv_email){e.id, 0};
				bytes += e.size;
				/* Every membership of the email is in its mailbox's index. */
				for (size_t m = 0; m < e.nmembers; m++) {
					struct uid_list one = {0};
					ck_assert_int_eq(mailstore_mailbox_uids(
								 ms, acct, e.members[m].mailbox,
								 e.members[m].uid, e.members[m].uid,
								 uid_cb, &one, &err),
							 1);
					ck_assert_uint_eq(one.email[0], e.id);
				}
			}
			seen[k].seen_members++;
		}
		ck_assert_uint_eq(l[i].total, u->n);
		ck_assert_uint_eq(l[i].unread, unread);
		ck_assert_uint_eq(l[i].unseen, unseen);
		ck_assert_uint_eq(l[i].size, size);
		ck_assert_uint_eq(l[i].total_threads, nt);
		ck_assert_uint_eq(l[i].unread_threads, nut);
		free(u);
	}
	struct mailstore_account a;
	OK(mailstore_account_get(ms, acct, &a, &err));
	ck_assert_uint_eq(a.used_messages, nseen);
	ck_assert_uint_eq(a.used_bytes, bytes);
	core_arena_reset(arena);
}

struct mix_arg {
	int index;
	uint64_t inbox, archive;
	int failures, done;
	char msg[CORE_ERROR_MSG_MAX + 32];
};

static int pick_cb(void *arg, uint32_t uid, uint64_t email, uint64_t modseq)
{
	(void)modseq;
	struct uid_list *l = arg;
	return uid_cb(l, uid, email, modseq);
}

static void *mix_worker(void *p)
{
	struct mix_arg *a = p;
	uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(a->index + 1);
	for (int i = 0; i < 100; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		struct core_error e;
		core_error_clear(&e);
		uint64_t from = (x >> 8) % 2 ? a->inbox : a->archive;
		uint64_t to = from == a->inbox ? a->archive : a->inbox;
		struct uid_list *l = calloc(1, sizeof(*l));
		int rc = mailstore_mailbox_uids(ms, 1, from, 1, 0, pick_cb, l, &e);
		size_t k = l->n > 0 ? (size_t)(x >> 16) % l->n : 0;
		int op = (int)(x % 6);
		if (rc >= 0 && (l->n == 0 || op == 0)) {
			char text[96];
			snprintf(text, sizeof(text),
				 "Subject: %s m%d\r\nMessage-ID: <t%d@x>\r\n\r\nb\r\n",
				 i % 3 ? "Re: topic" : "other", i, a->index);
			struct mailstore_delivered d;
			rc = mailstore_email_append(ms, 1, text, strlen(text), &from, 1, NULL, 0, 0,
						    &d, &e);
		} else if (rc >= 0 && op == 1) {
			const char *kw[] = {(x >> 24) % 2 ? "$seen" : "$draft"};
			rc = mailstore_email_keywords(ms, 1, l->email[k],
						      (x >> 30) % 2 ? MAILSTORE_KW_ADD
								    : MAILSTORE_KW_REMOVE,
						      kw, 1, 0, NULL, &e);
		} else if (rc >= 0 && op == 2) {
			uint32_t uid;
			rc = mailstore_email_move(ms, 1, l->email[k], from, to, &uid, &e);
		} else if (rc >= 0 && op == 3) {
			rc = mailstore_mailbox_expunge(ms, 1, from, &l->uid[k], 1, &e);
		} else if (rc >= 0 && op == 4) {
			uint64_t nid;
			uint32_t uid;
			rc = mailstore_email_copy(ms, 1, l->email[k], to, &nid, &uid, &e);
		} else if (rc >= 0) {
			uint64_t both[2] = {a->inbox, a->archive};
			rc = mailstore_email_set_mailboxes(ms, 1, l->email[k], both, 2, &e);
		}
		free(l);
		/* Another writer may have removed the message first. */
		if (rc < 0 && rc != CORE_ENOTFOUND) {
			a->failures++;
			snprintf(a->msg, sizeof(a->msg), "op %d: %s", op, e.msg);
		}
		a->done++;
	}
	return NULL;
}

START_TEST(concurrent_mixed_workload_invariants)
{
	OK(mailstore_account_ensure(ms, 1, &err));
	uint64_t inbox = role_id(1, MAILSTORE_ROLE_INBOX),
		 arch = role_id(1, MAILSTORE_ROLE_ARCHIVE);
	for (int i = 0; i < 10; i++)
		append(1, i % 2 ? inbox : arch, msg1, NULL, NULL);
	check_invariants(1);
	enum { T = 4 };
	pthread_t th[T];
	struct mix_arg args[T];
	memset(args, 0, sizeof(args));
	for (int i = 0; i < T; i++) {
		args[i] = (struct mix_arg){.index = i, .inbox = inbox, .archive = arch};
		ck_assert_int_eq(pthread_create(&th[i], NULL, mix_worker, &args[i]), 0);
	}
	for (int i = 0; i < T; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(args[i].failures == 0, "worker %d: %d failures (%s)", i,
			      args[i].failures, args[i].msg);
		ck_assert_int_eq(args[i].done, 100);
	}
	check_invariants(1);
}
END_TEST

/* Commits become visible in counter order: a reader never sees state S without every change
 * up to S (ARCHITECTURE.md §4). */
struct order_reader {
	uint64_t inbox, s0;
	atomic_int stop;
	int polls, bad;
	char msg[CORE_ERROR_MSG_MAX + 32];
};

static void *order_reader_fn(void *p)
{
	struct order_reader *r = p;
	struct core_arena *a = core_arena_new(0);
	while (!atomic_load(&r->stop)) {
		struct mailstore_changes ch;
		struct core_error e;
		if (mailstore_changes_get(ms, 1, MAILSTORE_T_EMAIL, r->s0, 0, a, &ch, &e) < 0) {
			r->bad++;
			snprintf(r->msg, sizeof(r->msg), "changes: %s", e.msg);
		} else if (ch.ncreated != ch.new_state - r->s0) {
			r->bad++;
			snprintf(r->msg, sizeof(r->msg), "state %llu shows %zu of %llu deliveries",
				 (unsigned long long)ch.new_state, ch.ncreated,
				 (unsigned long long)(ch.new_state - r->s0));
		}
		r->polls++;
		core_arena_reset(a);
	}
	core_arena_free(&a);
	return NULL;
}

START_TEST(commits_visible_in_counter_order)
{
	OK(mailstore_account_ensure(ms, 1, &err));
	uint64_t inbox = role_id(1, MAILSTORE_ROLE_INBOX);
	struct order_reader r = {.inbox = inbox, .s0 = state(1)};
	pthread_t rt, th[CW_THREADS];
	struct cw_arg args[CW_THREADS];
	memset(args, 0, sizeof(args));
	ck_assert_int_eq(pthread_create(&rt, NULL, order_reader_fn, &r), 0);
	for (int i = 0; i < CW_THREADS; i++) {
		args[i].index = i;
		args[i].inbox = inbox;
		ck_assert_int_eq(pthread_create(&th[i], NULL, cw_deliver, &args[i]), 0);
	}
	for (int i = 0; i < CW_THREADS; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(args[i].failures == 0, "writer %d: %s", i, args[i].msg);
	}
	atomic_store(&r.stop, 1);
	pthread_join(rt, NULL);
	ck_assert_msg(r.bad == 0, "%d bad polls of %d: %s", r.bad, r.polls, r.msg);
	ck_assert_int_gt(r.polls, 0);
	ck_assert_uint_eq(state(1), r.s0 + CW_THREADS * CW_EACH);
}
END_TEST

Suite *ms_test_suite(void)
{
	Suite *s = suite_create(ms_test_env->name);
	TCase *tc = tcase_create("mailstore");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, account_roles);
	tcase_add_test(tc, mailbox_names_and_hierarchy);
	tcase_add_test(tc, mailbox_rename_with_children);
	tcase_add_test(tc, mailbox_update_and_destroy);
	tcase_add_test(tc, deliver_parsed_fields);
	tcase_add_test(tc, keywords_and_modseq);
	tcase_add_test(tc, copy_move_expunge);
	tcase_add_test(tc, changes_and_tombstones);
	tcase_add_test(tc, quota_enforced);
	tcase_add_test(tc, threads_by_jmap_rules);
	tcase_add_test(tc, deliver_many_accounts_atomically);
	tcase_add_test(tc, deliver_batch_group_commit);
	tcase_add_test(tc, deliver_batch_prepared_members);
	tcase_add_test(tc, change_bus);
	tcase_add_test(tc, large_expunge_in_batches);
	tcase_add_test(tc, recent_claimed_once);
	tcase_add_test(tc, inbox_is_always_inbox);
	tcase_add_test(tc, other_objects);
	tcase_add_test(tc, account_destroy);
	tcase_add_test(tc, account_destroy_resumes);
	tcase_add_test(tc, mailbox_destroy_in_batches_resumes);
	tcase_add_test(tc, many_mailboxes_one_email);
	tcase_add_test(tc, concurrent_writers);
	tcase_add_test(tc, concurrent_mixed_workload_invariants);
	tcase_add_test(tc, commits_visible_in_counter_order);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, ms_share_tcase());
	return s;
}

int ms_test_run(const struct ms_test_env *env)
{
	ms_test_env = env;
	SRunner *sr = srunner_create(ms_test_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
