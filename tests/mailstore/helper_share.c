/*
 * helper_share.c: mail-store sharing cases run on every data backend (added to the suite of
 * helper_mailstore.c): RFC 4314 ACLs and the shared-with index, per-user \Seen with per-user
 * counts, subscriptions by name (RFC 9051 §6.3.7), copies between accounts (RFC 8621 §4.7)
 * and blob links that go with the last reference in the same transaction; with concurrent
 * writers.
 */
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "helper_mailstore.h"
#include "mailstore/mailstore_int.h"

static char sdir[256];
static char sblob_path[300];
static struct store_params sparams;
static struct store_data *sdata;
static struct store_blob *sblob;
static struct mailstore *sms;
static struct core_arena *sa;
static struct core_error serr;
static uint64_t sskew_ms;

static uint64_t share_clock(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u + sskew_ms;
}

static int share_rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void share_setup(void)
{
	sskew_ms = 0;
	store_clock_set(share_clock);
	snprintf(sdir, sizeof(sdir), "/tmp/staunch-mailshare-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(sdir));
	memset(&sparams, 0, sizeof(sparams));
	ck_assert(ms_test_env->params(&sparams, sdir));
	sparams.no_sync = true;
	core_error_clear(&serr);
	int rc = store_data_open(ms_test_env->data_backend, &sparams, &sdata, &serr);
	ck_assert_msg(rc == 0, "open: %s", serr.msg);
	struct store_params bp = sparams;
	if (strcmp(ms_test_env->blob_backend, "fs") == 0) {
		snprintf(sblob_path, sizeof(sblob_path), "%s/blobs", sdir);
		bp.path = sblob_path;
	}
	rc = store_blob_open(ms_test_env->blob_backend, &bp, sdata, &sblob, &serr);
	ck_assert_msg(rc == 0, "blob open: %s", serr.msg);
	ck_assert_int_eq(mailstore_open(sdata, sblob, NULL, &sms, &serr), 0);
	sa = core_arena_new(0);
}

static void share_teardown(void)
{
	mailstore_free(&sms);
	store_blob_free(&sblob);
	store_data_free(&sdata);
	core_arena_free(&sa);
	store_clock_set(NULL);
	nftw(sdir, share_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

#define SOK(expr)                                                           \
	do {                                                                \
		int rc_ = (expr);                                           \
		ck_assert_msg(rc_ >= 0, "%s: %d %s", #expr, rc_, serr.msg); \
	} while (0)
#define SFAILS(code, expr)                                                                  \
	do {                                                                                \
		int rc_ = (expr);                                                           \
		ck_assert_msg(rc_ == (code), "%s: want %d got %d (%s)", #expr, (code), rc_, \
			      serr.msg);                                                    \
	} while (0)

static const char smsg[] = "From: Alice <alice@example.org>\r\n"
			   "To: Bob <bob@example.net>\r\n"
			   "Subject: shared %d\r\n"
			   "Message-ID: <shared-%d@example.org>\r\n"
			   "\r\n"
			   "Body of message %d.\r\n";

static uint64_t sdeliver(uint64_t account, uint64_t mailbox, int n, const char *kw)
{
	char buf[512];
	int len = snprintf(buf, sizeof(buf), smsg, n, n, n);
	const char *k[1] = {kw};
	struct mailstore_delivered d;
	SOK(mailstore_email_append(sms, account, buf, (size_t)len, &mailbox, 1, k, kw ? 1 : 0, 0,
				   &d, &serr));
	return d.email_id;
}

/* A reply to message n (same thread by RFC 8621 §3: In-Reply-To and base subject). */
static uint64_t sreply(uint64_t account, uint64_t mailbox, int n, int parent, const char *kw)
{
	char buf[512];
	int len = snprintf(buf, sizeof(buf),
			   "From: Bob <bob@example.net>\r\nSubject: Re: shared %d\r\n"
			   "Message-ID: <reply-%d@example.net>\r\n"
			   "In-Reply-To: <shared-%d@example.org>\r\n\r\nReply %d.\r\n",
			   parent, n, parent, n);
	const char *k[1] = {kw};
	struct mailstore_delivered d;
	SOK(mailstore_email_append(sms, account, buf, (size_t)len, &mailbox, 1, k, kw ? 1 : 0, 0,
				   &d, &serr));
	return d.email_id;
}

static uint64_t smailbox(uint64_t account, const char *path)
{
	uint64_t id = 0;
	SOK(mailstore_mailbox_create_path(sms, account, path, &id, &serr));
	return id;
}

static uint64_t sinbox(uint64_t account)
{
	uint64_t id = 0;
	SOK(mailstore_account_ensure(sms, account, &serr));
	SOK(mailstore_mailbox_find_role(sms, account, MAILSTORE_ROLE_INBOX, &id, &serr));
	return id;
}

static uint64_t slinks(const struct store_blob_id *id)
{
	struct store_txn *t = NULL;
	uint64_t n = 0;
	ck_assert_int_eq(store_txn_begin(sdata, STORE_TXN_READ, &t, NULL), 0);
	ck_assert_int_eq(store_blob_links_count_txn(sblob, t, id, &n, NULL), 0);
	store_txn_abort(&t);
	return n;
}

static bool has_kw(const struct mailstore_email *e, const char *k)
{
	for (size_t i = 0; i < e->nkeywords; i++)
		if (strcmp(e->keywords[i], k) == 0)
			return true;
	return false;
}

/* ---------------------------------------------------------------------------------- */

START_TEST(acl_rights_strings)
{
	unsigned r = 0;
	ck_assert_int_eq(mailstore_acl_parse("lrswipkxtea", 11, &r), 0);
	ck_assert_uint_eq(r, MAILSTORE_ACL_ALL);
	char txt[MAILSTORE_ACL_TEXT];
	mailstore_acl_format(r, txt);
	ck_assert_str_eq(txt, "lrswipkxteacd");
	/* RFC 4314 §2.1.1: "d" is e and t here, "c" is k and x. */
	ck_assert_int_eq(mailstore_acl_parse("lrd", 3, &r), 0);
	ck_assert_uint_eq(r, MAILSTORE_ACL_LOOKUP | MAILSTORE_ACL_READ | MAILSTORE_ACL_EXPUNGE |
				     MAILSTORE_ACL_DELMSG);
	mailstore_acl_format(r, txt);
	ck_assert_str_eq(txt, "lrted");
	ck_assert_int_eq(mailstore_acl_parse("c", 1, &r), 0);
	ck_assert_uint_eq(r, MAILSTORE_ACL_CREATE | MAILSTORE_ACL_DELETE);
	ck_assert_int_eq(mailstore_acl_parse("lrz", 3, &r), CORE_ESYNTAX);
	ck_assert_int_eq(mailstore_acl_parse("l\0r", 3, &r), CORE_ESYNTAX);
	ck_assert_int_eq(mailstore_acl_parse("", 0, &r), 0);
	ck_assert_uint_eq(r, 0);
	mailstore_acl_format(0, txt);
	ck_assert_str_eq(txt, "");
}
END_TEST

/* RFC 8621 §2: MailboxRights and the IMAP letters. */
START_TEST(acl_jmap_rights)
{
	struct mailstore_jmap_rights j;
	mailstore_acl_to_jmap(MAILSTORE_ACL_ALL, &j);
	ck_assert(j.may_read_items && j.may_add_items && j.may_remove_items && j.may_set_seen &&
		  j.may_set_keywords && j.may_create_child && j.may_rename && j.may_delete &&
		  j.may_submit);
	ck_assert_uint_eq(mailstore_acl_from_jmap(&j),
			  MAILSTORE_ACL_ALL & ~(unsigned)MAILSTORE_ACL_ADMIN);
	/* "r" without "l", "t" without "e": not enough. */
	mailstore_acl_to_jmap(MAILSTORE_ACL_READ | MAILSTORE_ACL_DELMSG, &j);
	ck_assert(!j.may_read_items);
	ck_assert(!j.may_remove_items);
	mailstore_acl_to_jmap(MAILSTORE_ACL_DELETE, &j);
	ck_assert(j.may_rename && j.may_delete && !j.may_create_child);
	struct mailstore_jmap_rights k = {.may_read_items = true, .may_set_seen = true};
	ck_assert_uint_eq(mailstore_acl_from_jmap(&k),
			  MAILSTORE_ACL_LOOKUP | MAILSTORE_ACL_READ | MAILSTORE_ACL_SEEN);
	struct mailstore_jmap_rights d = {.may_delete = true};
	ck_assert_uint_eq(mailstore_acl_from_jmap(&d), MAILSTORE_ACL_DELETE);
	/* Every single right survives the round trip through its MailboxRights. */
	for (unsigned bit = 0; bit < 11; bit++) {
		unsigned r = 1u << bit, back;
		mailstore_acl_to_jmap(r, &j);
		back = mailstore_acl_from_jmap(&j);
		if (r & (MAILSTORE_ACL_LOOKUP | MAILSTORE_ACL_READ | MAILSTORE_ACL_DELMSG |
			 MAILSTORE_ACL_EXPUNGE | MAILSTORE_ACL_ADMIN))
			ck_assert_uint_eq(back, 0); /* needs its partner, or has no JMAP form */
		else
			ck_assert_uint_eq(back, r);
	}
}
END_TEST

START_TEST(acl_set_list_rights_shared_with)
{
	sinbox(1);
	uint64_t shared = smailbox(1, "Team");
	uint64_t other = smailbox(1, "Private");
	struct mailstore_account before;
	SOK(mailstore_account_get(sms, 1, &before, &serr));
	unsigned lrs = MAILSTORE_ACL_LOOKUP | MAILSTORE_ACL_READ | MAILSTORE_ACL_SEEN;
	SOK(mailstore_acl_set(sms, 1, shared, 2, lrs, &serr));
	/* RFC 8621 §2: myRights/shareWith changed, so the Mailbox is updated. */
	struct mailstore_changes ch;
	SOK(mailstore_changes_get(sms, 1, MAILSTORE_T_MAILBOX, before.modseq, 0, sa, &ch, &serr));
	ck_assert_uint_eq(ch.nupdated, 1);
	ck_assert_uint_eq(ch.updated[0], shared);
	/* Setting the same rights again changes nothing. */
	struct mailstore_account mid;
	SOK(mailstore_account_get(sms, 1, &mid, &serr));
	SOK(mailstore_acl_set(sms, 1, shared, 2, lrs, &serr));
	struct mailstore_account after;
	SOK(mailstore_account_get(sms, 1, &after, &serr));
	ck_assert_uint_eq(after.modseq, mid.modseq);

	unsigned r = 0;
	SOK(mailstore_acl_rights(sms, 1, shared, 1, &r, &serr));
	ck_assert_uint_eq(r, MAILSTORE_ACL_ALL); /* the owner has every right */
	SOK(mailstore_acl_rights(sms, 1, shared, 2, &r, &serr));
	ck_assert_uint_eq(r, lrs);
	SOK(mailstore_acl_rights(sms, 1, shared, 3, &r, &serr));
	ck_assert_uint_eq(r, 0);
	SOK(mailstore_acl_rights(sms, 1, other, 2, &r, &serr));
	ck_assert_uint_eq(r, 0);
	/* "anyone" adds to every user. */
	SOK(mailstore_acl_set(sms, 1, shared, MAILSTORE_ACL_ANYONE, MAILSTORE_ACL_POST, &serr));
	SOK(mailstore_acl_rights(sms, 1, shared, 3, &r, &serr));
	ck_assert_uint_eq(r, MAILSTORE_ACL_POST);
	SOK(mailstore_acl_rights(sms, 1, shared, 2, &r, &serr));
	ck_assert_uint_eq(r, lrs | MAILSTORE_ACL_POST);
	SOK(mailstore_acl_set(sms, 1, other, 3, MAILSTORE_ACL_ALL, &serr));

	struct mailstore_acl_entry *ents;
	size_t n;
	SOK(mailstore_acl_list(sms, 1, shared, sa, &ents, &n, &serr));
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(ents[0].principal, MAILSTORE_ACL_ANYONE);
	ck_assert_uint_eq(ents[0].rights, MAILSTORE_ACL_POST);
	ck_assert_uint_eq(ents[1].principal, 2);
	ck_assert_uint_eq(ents[1].rights, lrs);

	struct mailstore_share *sh;
	SOK(mailstore_acl_shared_with(sms, 2, sa, &sh, &n, &serr));
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(sh[0].owner, 1);
	ck_assert_uint_eq(sh[0].mailbox, shared);
	ck_assert_uint_eq(sh[0].rights, lrs | MAILSTORE_ACL_POST);
	/* User 3 sees "other" and, through anyone, "shared". */
	SOK(mailstore_acl_shared_with(sms, 3, sa, &sh, &n, &serr));
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(sh[0].mailbox, shared);
	ck_assert_uint_eq(sh[0].rights, MAILSTORE_ACL_POST);
	ck_assert_uint_eq(sh[1].mailbox, other);
	ck_assert_uint_eq(sh[1].rights, MAILSTORE_ACL_ALL);
	/* The owner's own mailboxes are not shared with it. */
	SOK(mailstore_acl_shared_with(sms, 1, sa, &sh, &n, &serr));
	ck_assert_uint_eq(n, 0);
	SFAILS(CORE_ESYNTAX,
	       mailstore_acl_shared_with(sms, MAILSTORE_ACL_ANYONE, sa, &sh, &n, &serr));

	/* What each user sees of account 1 (RFC 4314 "l"), with their rights. */
	struct mailstore_mailbox *mbs;
	unsigned *rv;
	SOK(mailstore_mailbox_list_as(sms, 1, 2, sa, &mbs, &rv, &n, &serr));
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(mbs[0].id, shared);
	ck_assert_str_eq(mbs[0].name, "Team");
	ck_assert_uint_eq(rv[0], lrs | MAILSTORE_ACL_POST);
	SOK(mailstore_mailbox_list_as(sms, 1, 3, sa, &mbs, &rv, &n, &serr));
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(mbs[0].id, other);
	ck_assert_uint_eq(rv[0], MAILSTORE_ACL_ALL);
	SOK(mailstore_mailbox_list_as(sms, 1, 5, sa, &mbs, NULL, &n, &serr));
	ck_assert_uint_eq(n, 0);
	struct mailstore_mailbox *own;
	size_t nown;
	SOK(mailstore_mailbox_list(sms, 1, sa, &own, &nown, &serr));
	SOK(mailstore_mailbox_list_as(sms, 1, 1, sa, &mbs, &rv, &n, &serr));
	ck_assert_uint_eq(n, nown);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(rv[i], MAILSTORE_ACL_ALL);

	/* Bad requests. */
	SFAILS(CORE_EPERM, mailstore_acl_set(sms, 1, shared, 1, 0, &serr));
	SFAILS(CORE_ESYNTAX, mailstore_acl_set(sms, 1, shared, 2, 1u << 20, &serr));
	SFAILS(CORE_ENOTFOUND, mailstore_acl_set(sms, 1, 9999, 2, lrs, &serr));
	SFAILS(CORE_ENOTFOUND, mailstore_acl_rights(sms, 1, 9999, 2, &r, &serr));

	/* Rights 0 removes the entry and the share (anyone's remains). */
	SOK(mailstore_acl_set(sms, 1, shared, 2, 0, &serr));
	SOK(mailstore_acl_shared_with(sms, 2, sa, &sh, &n, &serr));
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(sh[0].rights, MAILSTORE_ACL_POST);
	SOK(mailstore_acl_set(sms, 1, shared, MAILSTORE_ACL_ANYONE, 0, &serr));
	SOK(mailstore_acl_shared_with(sms, 2, sa, &sh, &n, &serr));
	ck_assert_uint_eq(n, 0);
	SOK(mailstore_acl_list(sms, 1, shared, sa, &ents, &n, &serr));
	ck_assert_uint_eq(n, 0);

	/* Deleting the mailbox ends its shares. */
	SOK(mailstore_mailbox_destroy(sms, 1, other, true, &serr));
	SOK(mailstore_acl_shared_with(sms, 3, sa, &sh, &n, &serr));
	ck_assert_uint_eq(n, 0);

	/* Deleting the account ends every share of it. */
	SOK(mailstore_acl_set(sms, 1, shared, 4, MAILSTORE_ACL_READ, &serr));
	SOK(mailstore_acl_set(sms, 1, shared, MAILSTORE_ACL_ANYONE, MAILSTORE_ACL_LOOKUP, &serr));
	SOK(mailstore_acl_shared_with(sms, 4, sa, &sh, &n, &serr));
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(sh[0].rights, MAILSTORE_ACL_READ | MAILSTORE_ACL_LOOKUP);
	SOK(mailstore_acl_shared_with(sms, 5, sa, &sh, &n, &serr));
	ck_assert_uint_eq(n, 1);
	SOK(mailstore_account_destroy(sms, 1, &serr));
	SOK(mailstore_acl_shared_with(sms, 4, sa, &sh, &n, &serr));
	ck_assert_uint_eq(n, 0);
	SOK(mailstore_acl_shared_with(sms, 5, sa, &sh, &n, &serr));
	ck_assert_uint_eq(n, 0);
}
END_TEST

/* The user's unseen and unread recounted from the user's view of every email. */
struct recount {
	uint64_t ids[256];
	size_t n;
};

static int recount_cb(void *arg, uint32_t uid, uint64_t email, uint64_t modseq)
{
	(void)uid;
	(void)modseq;
	struct recount *c = arg;
	if (c->n < sizeof(c->ids) / sizeof(c->ids[0]))
		c->ids[c->n++] = email;
	return 0;
}

static void check_user_counts(uint64_t owner, uint64_t user, uint64_t mailbox)
{
	struct recount c = {.n = 0};
	SOK(mailstore_mailbox_uids(sms, owner, mailbox, 1, 0, recount_cb, &c, &serr));
	ck_assert_uint_lt(c.n, sizeof(c.ids) / sizeof(c.ids[0]));
	uint64_t unseen = 0, unread = 0;
	uint64_t threads[256], unread_threads[256];
	size_t nthreads = 0, nunread_threads = 0;
	for (size_t i = 0; i < c.n; i++) {
		struct mailstore_email e;
		SOK(mailstore_email_get_as(sms, owner, user, c.ids[i], sa, &e, &serr));
		bool seen = has_kw(&e, "$seen"), draft = has_kw(&e, "$draft");
		unseen += !seen;
		unread += !seen && !draft;
		/* RFC 8621 §2: a thread counts once; it is unread while it holds an unread
		 * email here. */
		bool known = false;
		for (size_t j = 0; j < nthreads && !known; j++)
			known = threads[j] == e.thread_id;
		if (!known)
			threads[nthreads++] = e.thread_id;
		known = false;
		for (size_t j = 0; j < nunread_threads && !known; j++)
			known = unread_threads[j] == e.thread_id;
		if (!known && !seen && !draft)
			unread_threads[nunread_threads++] = e.thread_id;
	}
	struct mailstore_mailbox m;
	SOK(mailstore_mailbox_get_as(sms, owner, user, mailbox, sa, &m, &serr));
	ck_assert_uint_eq(m.total, c.n);
	ck_assert_uint_eq(m.unseen, unseen);
	ck_assert_uint_eq(m.unread, unread);
	ck_assert_uint_eq(m.total_threads, nthreads);
	ck_assert_uint_eq(m.unread_threads, nunread_threads);
}

START_TEST(seen_per_user)
{
	sinbox(1);
	uint64_t box = smailbox(1, "Team");
	uint64_t box2 = smailbox(1, "Team/Archive");
	unsigned lrs = MAILSTORE_ACL_LOOKUP | MAILSTORE_ACL_READ | MAILSTORE_ACL_SEEN;
	SOK(mailstore_acl_set(sms, 1, box, 2, lrs, &serr));
	SOK(mailstore_acl_set(sms, 1, box2, 2, lrs, &serr));
	SOK(mailstore_acl_set(sms, 1, box, 3, MAILSTORE_ACL_LOOKUP | MAILSTORE_ACL_READ, &serr));
	uint64_t a = sdeliver(1, box, 1, NULL);
	uint64_t b = sdeliver(1, box, 2, "$seen");
	uint64_t d = sdeliver(1, box, 3, "$draft");
	/* The owner's view: the keywords. */
	struct mailstore_mailbox m;
	SOK(mailstore_mailbox_get(sms, 1, box, sa, &m, &serr));
	ck_assert_uint_eq(m.unseen, 2);
	ck_assert_uint_eq(m.unread, 1);
	ck_assert_uint_eq(m.drafts, 1);
	/* User 2 starts with nothing seen: the owner's $seen is not theirs. */
	SOK(mailstore_mailbox_get_as(sms, 1, 2, box, sa, &m, &serr));
	ck_assert_uint_eq(m.total, 3);
	ck_assert_uint_eq(m.unseen, 3);
	ck_assert_uint_eq(m.unread, 2);
	struct mailstore_email e;
	SOK(mailstore_email_get_as(sms, 1, 2, b, sa, &e, &serr));
	ck_assert(!has_kw(&e, "$seen"));
	/* User 2 reads a: their $seen only. */
	SOK(mailstore_email_get(sms, 1, a, sa, &e, &serr));
	uint64_t modseq0 = e.modseq;
	SOK(mailstore_seen_set(sms, 1, 2, a, true, &serr));
	SOK(mailstore_email_get_as(sms, 1, 2, a, sa, &e, &serr));
	ck_assert(has_kw(&e, "$seen"));
	ck_assert_uint_gt(e.modseq, modseq0);
	SOK(mailstore_email_get(sms, 1, a, sa, &e, &serr));
	ck_assert(!has_kw(&e, "$seen"));
	SOK(mailstore_email_get_as(sms, 1, 3, a, sa, &e, &serr));
	ck_assert(!has_kw(&e, "$seen"));
	SOK(mailstore_mailbox_get_as(sms, 1, 2, box, sa, &m, &serr));
	ck_assert_uint_eq(m.unseen, 2);
	ck_assert_uint_eq(m.unread, 1);
	SOK(mailstore_mailbox_get(sms, 1, box, sa, &m, &serr));
	ck_assert_uint_eq(m.unseen, 2); /* the owner's counts did not move */
	/* Seeing a draft changes unseen, not unread. */
	SOK(mailstore_seen_set(sms, 1, 2, d, true, &serr));
	SOK(mailstore_mailbox_get_as(sms, 1, 2, box, sa, &m, &serr));
	ck_assert_uint_eq(m.unseen, 1);
	ck_assert_uint_eq(m.unread, 1);
	check_user_counts(1, 2, box);
	/* The listing gives the same per-user counts. */
	struct mailstore_mailbox *mbs;
	size_t nmbs;
	SOK(mailstore_mailbox_list_as(sms, 1, 2, sa, &mbs, NULL, &nmbs, &serr));
	ck_assert_uint_eq(nmbs, 2);
	ck_assert_uint_eq(mbs[0].id, box);
	SOK(mailstore_mailbox_get_as(sms, 1, 2, box, sa, &m, &serr));
	ck_assert_uint_eq(mbs[0].unseen, m.unseen);
	ck_assert_uint_eq(mbs[0].unread, m.unread);
	ck_assert_uint_eq(mbs[0].unread_threads, m.unread_threads);
	/* The owner drops $draft from d: user 2 saw it, so their unread stays. */
	const char *dr[] = {"$draft"};
	SOK(mailstore_email_keywords(sms, 1, d, MAILSTORE_KW_REMOVE, dr, 1, 0, NULL, &serr));
	check_user_counts(1, 2, box);
	check_user_counts(1, 3, box);
	SOK(mailstore_email_keywords(sms, 1, a, MAILSTORE_KW_ADD, dr, 1, 0, NULL, &serr));
	check_user_counts(1, 2, box);
	/* Twice is once; unsetting works. */
	SOK(mailstore_seen_set(sms, 1, 2, d, true, &serr));
	SOK(mailstore_seen_set(sms, 1, 2, d, false, &serr));
	check_user_counts(1, 2, box);
	/* RFC 8621 §2: "s" is needed on every mailbox of the email. */
	uint64_t lonly = smailbox(1, "ReadOnly");
	SOK(mailstore_acl_set(sms, 1, lonly, 2, MAILSTORE_ACL_LOOKUP | MAILSTORE_ACL_READ, &serr));
	uint64_t two[2] = {box, lonly};
	SOK(mailstore_email_set_mailboxes(sms, 1, b, two, 2, &serr));
	SFAILS(CORE_EPERM, mailstore_seen_set(sms, 1, 2, b, false, &serr));
	SOK(mailstore_email_set_mailboxes(sms, 1, b, &box, 1, &serr));
	/* No "s": EPERM; no "r": the email is not there. */
	SFAILS(CORE_EPERM, mailstore_seen_set(sms, 1, 3, a, true, &serr));
	SFAILS(CORE_ENOTFOUND, mailstore_seen_set(sms, 1, 4, a, true, &serr));
	SFAILS(CORE_ENOTFOUND, mailstore_email_get_as(sms, 1, 4, a, sa, &e, &serr));
	SFAILS(CORE_ENOTFOUND, mailstore_mailbox_get_as(sms, 1, 4, box, sa, &m, &serr));
	/* Threads: a message and its reply form one thread, unread for user 2 until both
	 * are seen (drafts aside). */
	uint64_t t1 = sdeliver(1, box, 50, NULL);
	uint64_t t2 = sreply(1, box, 51, 50, NULL);
	struct mailstore_email et1, et2;
	SOK(mailstore_email_get(sms, 1, t1, sa, &et1, &serr));
	SOK(mailstore_email_get(sms, 1, t2, sa, &et2, &serr));
	ck_assert_uint_eq(et1.thread_id, et2.thread_id);
	SOK(mailstore_mailbox_get_as(sms, 1, 2, box, sa, &m, &serr));
	uint64_t ut = m.unread_threads;
	SOK(mailstore_seen_set(sms, 1, 2, t1, true, &serr));
	SOK(mailstore_mailbox_get_as(sms, 1, 2, box, sa, &m, &serr));
	ck_assert_uint_eq(m.unread_threads, ut);
	SOK(mailstore_seen_set(sms, 1, 2, t2, true, &serr));
	SOK(mailstore_mailbox_get_as(sms, 1, 2, box, sa, &m, &serr));
	ck_assert_uint_eq(m.unread_threads, ut - 1);
	check_user_counts(1, 2, box);
	/* A new reply reopens the thread for user 2; making it a draft closes it again. */
	uint64_t t3 = sreply(1, box, 52, 50, NULL);
	SOK(mailstore_mailbox_get_as(sms, 1, 2, box, sa, &m, &serr));
	ck_assert_uint_eq(m.unread_threads, ut);
	SOK(mailstore_email_keywords(sms, 1, t3, MAILSTORE_KW_ADD, dr, 1, 0, NULL, &serr));
	SOK(mailstore_mailbox_get_as(sms, 1, 2, box, sa, &m, &serr));
	ck_assert_uint_eq(m.unread_threads, ut - 1);
	check_user_counts(1, 2, box);
	check_user_counts(1, 3, box);
	SOK(mailstore_email_keywords(sms, 1, t3, MAILSTORE_KW_REMOVE, dr, 1, 0, NULL, &serr));
	check_user_counts(1, 2, box);
	uint32_t u3 = 0;
	SOK(mailstore_email_get(sms, 1, t3, sa, &e, &serr));
	u3 = e.members[0].uid;
	ck_assert_int_eq(mailstore_mailbox_expunge(sms, 1, box, &u3, 1, &serr), 1);
	SOK(mailstore_mailbox_get_as(sms, 1, 2, box, sa, &m, &serr));
	ck_assert_uint_eq(m.unread_threads, ut - 1);
	check_user_counts(1, 2, box);
	/* The owner's call sets the keyword. */
	SOK(mailstore_seen_set(sms, 1, 1, a, true, &serr));
	SOK(mailstore_email_get(sms, 1, a, sa, &e, &serr));
	ck_assert(has_kw(&e, "$seen"));
	/* Membership changes carry the user's \Seen to the new mailbox and out of the old. */
	uint64_t both[2] = {box, box2};
	SOK(mailstore_email_set_mailboxes(sms, 1, a, both, 2, &serr));
	check_user_counts(1, 2, box2);
	SOK(mailstore_mailbox_get_as(sms, 1, 2, box2, sa, &m, &serr));
	ck_assert_uint_eq(m.total, 1);
	ck_assert_uint_eq(m.unseen, 0);
	uint32_t uid = 0;
	SOK(mailstore_email_move(sms, 1, b, box, box2, &uid, &serr));
	SOK(mailstore_seen_set(sms, 1, 2, b, true, &serr));
	check_user_counts(1, 2, box);
	check_user_counts(1, 2, box2);
	SOK(mailstore_email_get(sms, 1, a, sa, &e, &serr));
	uint32_t ua = e.members[0].mailbox == box ? e.members[0].uid : e.members[1].uid;
	ck_assert_int_eq(mailstore_mailbox_expunge(sms, 1, box, &ua, 1, &serr), 1);
	check_user_counts(1, 2, box);
	check_user_counts(1, 2, box2);
	/* Destroyed: the per-user \Seen goes with it, counts stay exact. */
	SOK(mailstore_email_destroy(sms, 1, a, &serr));
	check_user_counts(1, 2, box2);
	SFAILS(CORE_ENOTFOUND, mailstore_email_get_as(sms, 1, 2, a, sa, &e, &serr));
	/* A destroyed mailbox takes its per-user counts along. */
	SOK(mailstore_mailbox_destroy(sms, 1, box2, true, &serr));
	SFAILS(CORE_ENOTFOUND, mailstore_mailbox_get_as(sms, 1, 2, box2, sa, &m, &serr));
	check_user_counts(1, 2, box);
}
END_TEST

/* IMAP STORE / JMAP Email/set by a user of a shared mailbox. */
START_TEST(keywords_as_sharee)
{
	sinbox(1);
	uint64_t box = smailbox(1, "Team");
	uint64_t ro = smailbox(1, "Seen only");
	unsigned lr = MAILSTORE_ACL_LOOKUP | MAILSTORE_ACL_READ;
	SOK(mailstore_acl_set(sms, 1, box, 2, lr | MAILSTORE_ACL_SEEN | MAILSTORE_ACL_WRITE,
			      &serr));
	SOK(mailstore_acl_set(sms, 1, ro, 2, lr | MAILSTORE_ACL_SEEN, &serr));
	uint64_t a = sdeliver(1, box, 1, "$seen");
	uint64_t b = sdeliver(1, ro, 2, NULL);
	struct mailstore_account acc0, acc1;
	SOK(mailstore_account_get(sms, 1, &acc0, &serr));
	/* One call, one change: $flagged on the email, $seen the user's own. */
	const char *sf[] = {"$Seen", "$Flagged"};
	uint64_t ms1 = 0;
	SOK(mailstore_email_keywords_as(sms, 1, 2, a, MAILSTORE_KW_ADD, sf, 2, 0, &ms1, &serr));
	SOK(mailstore_account_get(sms, 1, &acc1, &serr));
	ck_assert_uint_eq(acc1.modseq, acc0.modseq + 1);
	ck_assert_uint_eq(ms1, acc1.modseq);
	struct mailstore_email e;
	SOK(mailstore_email_get(sms, 1, a, sa, &e, &serr));
	ck_assert(has_kw(&e, "$flagged"));
	ck_assert(has_kw(&e, "$seen")); /* the owner's, untouched */
	SOK(mailstore_email_get_as(sms, 1, 2, a, sa, &e, &serr));
	ck_assert(has_kw(&e, "$flagged") && has_kw(&e, "$seen"));
	/* FLAGS (replace) keeps the owner's $seen and sets the user's from the list. */
	const char *ans[] = {"$answered"};
	SOK(mailstore_email_keywords_as(sms, 1, 2, a, MAILSTORE_KW_REPLACE, ans, 1, 0, NULL,
					&serr));
	SOK(mailstore_email_get(sms, 1, a, sa, &e, &serr));
	ck_assert_uint_eq(e.nkeywords, 2);
	ck_assert(has_kw(&e, "$answered") && has_kw(&e, "$seen"));
	SOK(mailstore_email_get_as(sms, 1, 2, a, sa, &e, &serr));
	ck_assert(!has_kw(&e, "$seen"));
	check_user_counts(1, 2, box);
	/* Nothing to change: no new modseq. */
	SOK(mailstore_account_get(sms, 1, &acc0, &serr));
	SOK(mailstore_email_keywords_as(sms, 1, 2, a, MAILSTORE_KW_ADD, ans, 1, 0, NULL, &serr));
	SOK(mailstore_account_get(sms, 1, &acc1, &serr));
	ck_assert_uint_eq(acc1.modseq, acc0.modseq);
	/* Rights: "w" for keywords, "t" for $deleted, "s" for $seen; nothing is applied
	 * when one is missing. */
	SFAILS(CORE_EPERM,
	       mailstore_email_keywords_as(sms, 1, 2, b, MAILSTORE_KW_ADD, sf, 2, 0, NULL, &serr));
	SOK(mailstore_email_get_as(sms, 1, 2, b, sa, &e, &serr));
	ck_assert(!has_kw(&e, "$seen"));
	const char *del[] = {"$deleted"};
	SFAILS(CORE_EPERM,
	       mailstore_email_keywords_as(sms, 1, 2, a, MAILSTORE_KW_ADD, del, 1, 0, NULL, &serr));
	const char *seen[] = {"$seen"};
	SOK(mailstore_email_keywords_as(sms, 1, 2, b, MAILSTORE_KW_ADD, seen, 1, 0, NULL, &serr));
	SOK(mailstore_email_get_as(sms, 1, 2, b, sa, &e, &serr));
	ck_assert(has_kw(&e, "$seen"));
	SOK(mailstore_email_keywords_as(sms, 1, 2, b, MAILSTORE_KW_REMOVE, seen, 1, 0, NULL,
					&serr));
	SOK(mailstore_email_get_as(sms, 1, 2, b, sa, &e, &serr));
	ck_assert(!has_kw(&e, "$seen"));
	check_user_counts(1, 2, ro);
	/* RFC 7162 §3.2 UNCHANGEDSINCE; no "r": not there. */
	SFAILS(CORE_ECONFLICT,
	       mailstore_email_keywords_as(sms, 1, 2, a, MAILSTORE_KW_ADD, sf, 2, 1, NULL, &serr));
	SFAILS(CORE_ENOTFOUND, mailstore_email_keywords_as(sms, 1, 3, a, MAILSTORE_KW_ADD, seen, 1,
							   0, NULL, &serr));
	/* The owner's call is the plain keyword change. */
	SOK(mailstore_email_keywords_as(sms, 1, 1, b, MAILSTORE_KW_ADD, seen, 1, 0, NULL, &serr));
	SOK(mailstore_email_get(sms, 1, b, sa, &e, &serr));
	ck_assert(has_kw(&e, "$seen"));
}
END_TEST

static const struct mailstore_subscription *find_sub(const struct mailstore_subscription *v,
						     size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].path, path) == 0)
			return &v[i];
	return NULL;
}

START_TEST(subscriptions_by_name)
{
	sinbox(1);
	struct mailstore_subscription *v;
	size_t n;
	/* Roles are created subscribed. */
	SOK(mailstore_subscriptions(sms, 1, sa, &v, &n, &serr));
	ck_assert_ptr_nonnull(find_sub(v, n, "INBOX"));
	ck_assert_uint_ne(find_sub(v, n, "INBOX")->mailbox, 0);
	size_t roles = n;
	/* RFC 9051 §6.3.7: a name with no mailbox can be subscribed (\NonExistent). */
	SOK(mailstore_subscribe(sms, 1, "Lists/staunch", true, &serr));
	SOK(mailstore_subscriptions(sms, 1, sa, &v, &n, &serr));
	ck_assert_uint_eq(n, roles + 1);
	const struct mailstore_subscription *s = find_sub(v, n, "Lists/staunch");
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->mailbox, 0);
	/* In byte order. */
	for (size_t i = 1; i < n; i++)
		ck_assert_int_lt(strcmp(v[i - 1].path, v[i].path), 0);
	/* Creating it makes the mailbox subscribed (JMAP isSubscribed). */
	uint64_t id = smailbox(1, "Lists/staunch");
	struct mailstore_mailbox m;
	SOK(mailstore_mailbox_get(sms, 1, id, sa, &m, &serr));
	ck_assert(m.subscribed);
	uint64_t parent = m.parent_id;
	SOK(mailstore_mailbox_get(sms, 1, parent, sa, &m, &serr));
	ck_assert(!m.subscribed);
	SOK(mailstore_subscriptions(sms, 1, sa, &v, &n, &serr));
	ck_assert_uint_eq(find_sub(v, n, "Lists/staunch")->mailbox, id);
	/* RFC 9051 §6.3.6: RENAME leaves the old name subscribed; the mailbox keeps its flag
	 * and shows under its new name. */
	SOK(mailstore_mailbox_rename_path(sms, 1, "Lists/staunch", "Lists/devel", &serr));
	SOK(mailstore_subscriptions(sms, 1, sa, &v, &n, &serr));
	ck_assert_uint_eq(n, roles + 2);
	ck_assert_uint_eq(find_sub(v, n, "Lists/staunch")->mailbox, 0);
	ck_assert_uint_eq(find_sub(v, n, "Lists/devel")->mailbox, id);
	/* UNSUBSCRIBE of the new name clears the flag; the old name stays. */
	SOK(mailstore_subscribe(sms, 1, "Lists/devel", false, &serr));
	SOK(mailstore_mailbox_get(sms, 1, id, sa, &m, &serr));
	ck_assert(!m.subscribed);
	SOK(mailstore_subscriptions(sms, 1, sa, &v, &n, &serr));
	ck_assert_ptr_null(find_sub(v, n, "Lists/devel"));
	ck_assert_ptr_nonnull(find_sub(v, n, "Lists/staunch"));
	/* JMAP isSubscribed subscribes and unsubscribes the current path. */
	bool yes = true, no = false;
	struct mailstore_mailbox_patch p = {.subscribed = &yes};
	SOK(mailstore_mailbox_update(sms, 1, parent, &p, &serr));
	SOK(mailstore_subscriptions(sms, 1, sa, &v, &n, &serr));
	ck_assert_uint_eq(find_sub(v, n, "Lists")->mailbox, parent);
	/* RFC 9051 §6.3.7: DELETE does not unsubscribe. */
	SOK(mailstore_subscribe(sms, 1, "Lists/devel", true, &serr));
	SOK(mailstore_mailbox_destroy(sms, 1, id, true, &serr));
	SOK(mailstore_subscriptions(sms, 1, sa, &v, &n, &serr));
	s = find_sub(v, n, "Lists/devel");
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->mailbox, 0);
	p.subscribed = &no;
	SOK(mailstore_mailbox_update(sms, 1, parent, &p, &serr));
	SOK(mailstore_subscriptions(sms, 1, sa, &v, &n, &serr));
	ck_assert_ptr_null(find_sub(v, n, "Lists"));
	/* INBOX in any case is INBOX; names are checked. */
	SOK(mailstore_subscribe(sms, 1, "inbox/Sub", true, &serr));
	SOK(mailstore_subscriptions(sms, 1, sa, &v, &n, &serr));
	ck_assert_ptr_nonnull(find_sub(v, n, "INBOX/Sub"));
	SFAILS(CORE_ESYNTAX, mailstore_subscribe(sms, 1, "", true, &serr));
	SFAILS(CORE_ESYNTAX, mailstore_subscribe(sms, 1, "a//b", true, &serr));
	SFAILS(CORE_ESYNTAX, mailstore_subscribe(sms, 1, "bad\x01name", true, &serr));
	char longname[300];
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	for (size_t i = 100; i < sizeof(longname) - 1; i += 100)
		longname[i] = '/';
	SFAILS(CORE_ELIMIT, mailstore_subscribe(sms, 1, longname, true, &serr));
	/* Unsubscribing a name never subscribed is fine (RFC 9051 §6.3.8). */
	SOK(mailstore_subscribe(sms, 1, "Nothing/Here", false, &serr));
}
END_TEST

static int sbuf_cb(void *arg, const void *p, size_t n)
{
	core_buf_append(arg, p, n);
	return 0;
}

START_TEST(copy_between_accounts)
{
	uint64_t in1 = sinbox(1), in2 = sinbox(2);
	uint64_t src = sdeliver(1, in1, 7, "$flagged");
	struct mailstore_email e1;
	SOK(mailstore_email_get(sms, 1, src, sa, &e1, &serr));
	ck_assert_uint_eq(slinks(&e1.blob), 1);
	struct mailstore_account acc2;
	SOK(mailstore_account_get(sms, 2, &acc2, &serr));
	uint64_t s2 = acc2.modseq;
	struct mailstore_delivered out;
	SOK(mailstore_email_copy_account(sms, 1, src, 2, &in2, 1, NULL, 0, 0, &out, &serr));
	ck_assert_uint_ne(out.email_id, 0);
	ck_assert_uint_eq(out.uids[0], 1);
	ck_assert(memcmp(out.blob.hash, e1.blob.hash, 32) == 0);
	ck_assert_uint_eq(slinks(&e1.blob), 2); /* linked under account 2 too */
	struct mailstore_email e2;
	SOK(mailstore_email_get(sms, 2, out.email_id, sa, &e2, &serr));
	ck_assert(has_kw(&e2, "$flagged"));
	ck_assert_int_eq(e2.received_at, e1.received_at);
	ck_assert_uint_eq(e2.size, e1.size);
	struct mailstore_parsed p;
	SOK(mailstore_email_parsed(sms, 2, out.email_id, sa, &p, &serr));
	ck_assert_str_eq(p.subject, "shared 7");
	struct core_buf body = CORE_BUF_INIT;
	SOK(mailstore_email_read(sms, 2, out.email_id, 0, UINT64_MAX, sbuf_cb, &body, &serr));
	ck_assert_uint_eq(body.len, e1.size);
	SOK(mailstore_account_get(sms, 2, &acc2, &serr));
	ck_assert_uint_eq(acc2.used_messages, 1);
	ck_assert_uint_eq(acc2.used_bytes, e1.size);
	struct mailstore_changes ch;
	SOK(mailstore_changes_get(sms, 2, MAILSTORE_T_EMAIL, s2, 0, sa, &ch, &serr));
	ck_assert_uint_eq(ch.ncreated, 1);
	ck_assert_uint_eq(ch.created[0], out.email_id);
	/* Keywords and receivedAt can be given (RFC 8621 §4.7 overrides). */
	const char *kw[] = {"$Seen"};
	struct mailstore_delivered out2;
	SOK(mailstore_email_copy_account(sms, 1, src, 2, &in2, 1, kw, 1, 1234567, &out2, &serr));
	SOK(mailstore_email_get(sms, 2, out2.email_id, sa, &e2, &serr));
	ck_assert_uint_eq(e2.nkeywords, 1);
	ck_assert_str_eq(e2.keywords[0], "$seen");
	ck_assert_int_eq(e2.received_at, 1234567);
	ck_assert_uint_eq(slinks(&e1.blob), 3);
	/* RFC 9208 §5.1: the target's quota is enforced; nothing is left of a refused copy. */
	SOK(mailstore_quota_set(sms, 2, 0, 2, &serr));
	SOK(mailstore_account_get(sms, 2, &acc2, &serr));
	SFAILS(CORE_ELIMIT,
	       mailstore_email_copy_account(sms, 1, src, 2, &in2, 1, NULL, 0, 0, &out, &serr));
	struct mailstore_account acc2b;
	SOK(mailstore_account_get(sms, 2, &acc2b, &serr));
	ck_assert_uint_eq(acc2b.modseq, acc2.modseq);
	ck_assert_uint_eq(acc2b.used_messages, 2);
	ck_assert_uint_eq(slinks(&e1.blob), 3);
	/* Bad sources and targets. */
	SFAILS(CORE_ENOTFOUND,
	       mailstore_email_copy_account(sms, 1, 424242, 3, &in2, 1, NULL, 0, 0, &out, &serr));
	uint64_t nobox = 99999;
	SFAILS(CORE_ENOTFOUND,
	       mailstore_email_copy_account(sms, 1, src, 3, &nobox, 1, NULL, 0, 0, &out, &serr));
	SFAILS(CORE_ESYNTAX,
	       mailstore_email_copy_account(sms, 1, src, 2, NULL, 0, NULL, 0, 0, &out, &serr));
	/* The copy lives on its own link when the source goes. */
	SOK(mailstore_email_destroy(sms, 1, src, &serr));
	ck_assert_uint_eq(slinks(&e1.blob), 2);
	core_buf_reset(&body);
	SOK(mailstore_email_read(sms, 2, out2.email_id, 0, UINT64_MAX, sbuf_cb, &body, &serr));
	ck_assert_uint_eq(body.len, e1.size);
	core_buf_fini(&body);
}
END_TEST

START_TEST(blob_links_follow_last_reference)
{
	uint64_t in1 = sinbox(1), in2 = sinbox(2);
	uint64_t arch = smailbox(1, "Archive2");
	/* One delivery to two accounts: one link each. */
	char buf[256];
	int len = snprintf(buf, sizeof(buf), smsg, 40, 40, 40);
	uint64_t b1[1] = {in1}, b2[1] = {in2};
	struct mailstore_target t[2] = {{1, b1, 1, NULL, 0}, {2, b2, 1, NULL, 0}};
	struct mailstore_delivered d[2];
	SOK(mailstore_deliver(sms, buf, (size_t)len, t, 2, 0, d, &serr));
	ck_assert_uint_eq(slinks(&d[0].blob), 2);
	/* An email in two mailboxes keeps its link until it leaves the last one. */
	uint64_t both[2] = {in1, arch};
	SOK(mailstore_email_set_mailboxes(sms, 1, d[0].email_id, both, 2, &serr));
	SOK(mailstore_email_move(sms, 1, d[0].email_id, in1, arch, NULL, &serr));
	ck_assert_uint_eq(slinks(&d[0].blob), 2);
	struct mailstore_email e;
	SOK(mailstore_email_get(sms, 1, d[0].email_id, sa, &e, &serr));
	ck_assert_uint_eq(e.nmembers, 1);
	uint32_t uid = e.members[0].uid;
	ck_assert_int_eq(mailstore_mailbox_expunge(sms, 1, arch, &uid, 1, &serr), 1);
	ck_assert_uint_eq(slinks(&d[0].blob), 1);
	/* IMAP COPY within the account: a link per email. */
	uint64_t cid = 0;
	SOK(mailstore_email_copy(sms, 2, d[1].email_id, in2, &cid, NULL, &serr));
	ck_assert_uint_eq(slinks(&d[0].blob), 2);
	/* A mailbox destroyed with its emails and an account purge drop them. */
	uint64_t box = smailbox(2, "Gone");
	SOK(mailstore_email_move(sms, 2, cid, in2, box, NULL, &serr));
	SOK(mailstore_mailbox_destroy(sms, 2, box, true, &serr));
	ck_assert_uint_eq(slinks(&d[0].blob), 1);
	SOK(mailstore_account_destroy(sms, 2, &serr));
	ck_assert_uint_eq(slinks(&d[0].blob), 0);
	/* With no link and the upload reservation expired, purge removes the content. */
	sskew_ms = 2 * 3600ull * 1000ull;
	ck_assert_int_ge(store_blob_purge(sblob, 0, &serr), 1);
	SFAILS(CORE_EPERM, store_blob_access(sblob, 1, &d[0].blob, &serr));
	sskew_ms = 0;
}
END_TEST

/* ---------------------------------------------------------------------------------- */
/* Concurrent writers                                                                 */
/* ---------------------------------------------------------------------------------- */

#define SH_EMAILS 12
#define SH_ROUNDS 25

struct sh_arg {
	int index;
	uint64_t box;
	uint64_t ids[SH_EMAILS];
	int failures;
	char msg[300];
	int copied, refused;
};

/* User 2 flips their \Seen while the owner flips $draft and delivers. */
static void *sh_seen(void *p)
{
	struct sh_arg *a = p;
	struct core_error e;
	for (int r = 0; r < SH_ROUNDS; r++) {
		uint64_t id = a->ids[(r * 7 + a->index) % SH_EMAILS];
		if (mailstore_seen_set(sms, 1, 2, id, (r + a->index) % 2 == 0, &e) < 0) {
			a->failures++;
			snprintf(a->msg, sizeof(a->msg), "%s", e.msg);
		}
	}
	return NULL;
}

static void *sh_owner(void *p)
{
	struct sh_arg *a = p;
	struct core_error e;
	const char *dr[] = {"$draft"};
	for (int r = 0; r < SH_ROUNDS; r++) {
		uint64_t id = a->ids[(r * 5 + a->index) % SH_EMAILS];
		enum mailstore_kw_op op = r % 2 ? MAILSTORE_KW_REMOVE : MAILSTORE_KW_ADD;
		if (mailstore_email_keywords(sms, 1, id, op, dr, 1, 0, NULL, &e) < 0) {
			a->failures++;
			snprintf(a->msg, sizeof(a->msg), "%s", e.msg);
		}
		if (r % 5 == 0) {
			char buf[256];
			int len = snprintf(buf, sizeof(buf), smsg, 1000 + r, 1000 + r, 1000 + r);
			if (mailstore_email_append(sms, 1, buf, (size_t)len, &a->box, 1, NULL, 0, 0,
						   NULL, &e) < 0) {
				a->failures++;
				snprintf(a->msg, sizeof(a->msg), "%s", e.msg);
			}
		}
	}
	return NULL;
}

START_TEST(concurrent_seen_and_owner_writes)
{
	sinbox(1);
	uint64_t box = smailbox(1, "Shared");
	SOK(mailstore_acl_set(sms, 1, box, 2, MAILSTORE_ACL_ALL, &serr));
	struct sh_arg args[4];
	memset(args, 0, sizeof(args));
	uint64_t ids[SH_EMAILS];
	/* Threads of two or three emails, some of them drafts. */
	for (int i = 0; i < SH_EMAILS; i++)
		ids[i] = i % 3 == 0 ? sdeliver(1, box, i, i % 2 == 0 ? "$draft" : NULL)
				    : sreply(1, box, i, i - i % 3, i % 4 == 1 ? "$draft" : NULL);
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		args[i].index = i;
		args[i].box = box;
		memcpy(args[i].ids, ids, sizeof(ids));
		ck_assert_int_eq(pthread_create(&th[i], NULL, i < 2 ? sh_seen : sh_owner, &args[i]),
				 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(args[i].failures == 0, "thread %d: %d failures (%s)", i,
			      args[i].failures, args[i].msg);
	}
	/* The per-user counts kept under concurrency equal a recount. */
	check_user_counts(1, 2, box);
	struct mailstore_mailbox m;
	SOK(mailstore_mailbox_get(sms, 1, box, sa, &m, &serr));
	ck_assert_uint_eq(m.total, SH_EMAILS + 2 * ((SH_ROUNDS + 4) / 5));
}
END_TEST

#define SH_COPIERS 4
#define SH_COPIES 6

static uint64_t sh_src, sh_target_box;

static void *sh_copy(void *p)
{
	struct sh_arg *a = p;
	struct core_error e;
	for (int r = 0; r < SH_COPIES; r++) {
		int rc = mailstore_email_copy_account(sms, 1, sh_src, 2, &sh_target_box, 1, NULL, 0,
						      0, NULL, &e);
		if (rc == CORE_ELIMIT) {
			a->refused++;
		} else if (rc < 0) {
			a->failures++;
			snprintf(a->msg, sizeof(a->msg), "%s", e.msg);
		} else {
			a->copied++;
		}
	}
	return NULL;
}

START_TEST(concurrent_copies_respect_quota)
{
	uint64_t in1 = sinbox(1);
	sh_target_box = sinbox(2);
	sh_src = sdeliver(1, in1, 77, NULL);
	const unsigned limit = 9;
	SOK(mailstore_quota_set(sms, 2, 0, limit, &serr));
	struct sh_arg args[SH_COPIERS];
	memset(args, 0, sizeof(args));
	pthread_t th[SH_COPIERS];
	for (int i = 0; i < SH_COPIERS; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, sh_copy, &args[i]), 0);
	int copied = 0, refused = 0;
	for (int i = 0; i < SH_COPIERS; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(args[i].failures == 0, "copier %d: %s", i, args[i].msg);
		copied += args[i].copied;
		refused += args[i].refused;
	}
	/* Exactly the quota's worth made it; each copy has its own link. */
	ck_assert_int_eq(copied, (int)limit);
	ck_assert_int_eq(refused, SH_COPIERS * SH_COPIES - (int)limit);
	struct mailstore_account acc;
	SOK(mailstore_account_get(sms, 2, &acc, &serr));
	ck_assert_uint_eq(acc.used_messages, limit);
	struct mailstore_mailbox m;
	SOK(mailstore_mailbox_get(sms, 2, sh_target_box, sa, &m, &serr));
	ck_assert_uint_eq(m.total, limit);
	ck_assert_uint_eq(m.uidnext, limit + 1);
	struct mailstore_email e;
	SOK(mailstore_email_get(sms, 1, sh_src, sa, &e, &serr));
	ck_assert_uint_eq(slinks(&e.blob), limit + 1);
}
END_TEST

/* docs/mailstore.md §Values: version 2 of the mailbox record appends the drafts count; a
 * version 1 record still reads (no drafts counted), a version 2 one without it does not. */
START_TEST(mailbox_record_versions)
{
	struct mailstore_mailbox m = {.id = 5, .name = "Box", .total = 4, .drafts = 3};
	struct core_buf b = CORE_BUF_INIT;
	ms_mailbox_encode(&m, &b);
	struct mailstore_mailbox out = {.id = 5};
	ck_assert_int_eq(ms_mailbox_decode(b.p, b.len, sa, &out), 0);
	ck_assert_uint_eq(out.drafts, 3);
	ck_assert_uint_eq(out.total, 4);
	/* The same fields as version 1: version byte 1, the two counts of version 2 (one byte
	 * each here) left off. */
	ck_assert_uint_eq((uint8_t)b.p[0], 2);
	b.p[0] = 1;
	ck_assert_int_eq(ms_mailbox_decode(b.p, b.len - 2, sa, &out), 0);
	ck_assert_uint_eq(out.drafts, 0);
	ck_assert_uint_eq(out.total, 4);
	ck_assert_str_eq(out.name, "Box");
	b.p[0] = 2;
	ck_assert_int_eq(ms_mailbox_decode(b.p, b.len - 1, sa, &out), CORE_EINTERNAL);
	core_buf_fini(&b);
}
END_TEST

#define ACL_THREADS 4
#define ACL_ROUNDS 15

static uint64_t acl_boxes[2];

/* Each thread changes the rights of its own principal on both mailboxes, ending with "lr"
 * on the first and nothing on the second after an odd number of rounds. */
static void *acl_writer(void *p)
{
	struct sh_arg *a = p;
	struct core_error e;
	uint64_t principal = 10 + (uint64_t)a->index;
	for (int r = 0; r < ACL_ROUNDS; r++) {
		unsigned rights = r % 2 == 0 ? MAILSTORE_ACL_LOOKUP | MAILSTORE_ACL_READ
					     : MAILSTORE_ACL_ALL & ~(unsigned)MAILSTORE_ACL_ADMIN;
		if (mailstore_acl_set(sms, 1, acl_boxes[0], principal, rights, &e) < 0 ||
		    mailstore_acl_set(sms, 1, acl_boxes[1], principal, r % 2 == 0 ? 0 : rights,
				      &e) < 0) {
			a->failures++;
			snprintf(a->msg, sizeof(a->msg), "%s", e.msg);
		}
	}
	return NULL;
}

START_TEST(concurrent_acl_changes)
{
	sinbox(1);
	acl_boxes[0] = smailbox(1, "One");
	acl_boxes[1] = smailbox(1, "Two");
	struct sh_arg args[ACL_THREADS];
	memset(args, 0, sizeof(args));
	pthread_t th[ACL_THREADS];
	for (int i = 0; i < ACL_THREADS; i++) {
		args[i].index = i;
		ck_assert_int_eq(pthread_create(&th[i], NULL, acl_writer, &args[i]), 0);
	}
	for (int i = 0; i < ACL_THREADS; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(args[i].failures == 0, "writer %d: %s", i, args[i].msg);
	}
	/* The ACL and every principal's shared-with index agree. */
	struct mailstore_acl_entry *ents;
	size_t n;
	SOK(mailstore_acl_list(sms, 1, acl_boxes[0], sa, &ents, &n, &serr));
	ck_assert_uint_eq(n, ACL_THREADS);
	SOK(mailstore_acl_list(sms, 1, acl_boxes[1], sa, &ents, &n, &serr));
	ck_assert_uint_eq(n, 0);
	for (int i = 0; i < ACL_THREADS; i++) {
		struct mailstore_share *sh;
		SOK(mailstore_acl_shared_with(sms, 10 + (uint64_t)i, sa, &sh, &n, &serr));
		ck_assert_uint_eq(n, 1);
		ck_assert_uint_eq(sh[0].mailbox, acl_boxes[0]);
		ck_assert_uint_eq(sh[0].rights, MAILSTORE_ACL_LOOKUP | MAILSTORE_ACL_READ);
	}
}
END_TEST

/* docs/mailstore.md §Keys: a per-thread count written before the non-draft count existed
 * (two counts) still takes every change. */
START_TEST(thread_counts_without_nondraft)
{
	uint64_t in = sinbox(1);
	uint64_t d = sdeliver(1, in, 90, "$draft");
	struct mailstore_email e;
	SOK(mailstore_email_get(sms, 1, d, sa, &e, &serr));
	uint8_t k[STORE_KEY_MAX];
	size_t kl = ms_key_id(k, 1, MS_F_MBTHREAD, in);
	ms_be64(k + kl, e.thread_id);
	kl += 8;
	struct core_buf v = CORE_BUF_INIT;
	ms_put_u64(&v, 1); /* emails */
	ms_put_u64(&v, 0); /* unread (a draft is not) */
	struct store_txn *t = NULL;
	ck_assert_int_eq(store_txn_begin(sdata, STORE_TXN_WRITE, &t, &serr), 0);
	ck_assert_int_eq(store_txn_put(t, k, kl, v.p, v.len, &serr), 0);
	ck_assert_int_eq(store_txn_commit(&t, &serr), 0);
	core_buf_fini(&v);
	const char *dr[] = {"$draft"};
	SOK(mailstore_email_keywords(sms, 1, d, MAILSTORE_KW_REMOVE, dr, 1, 0, NULL, &serr));
	struct mailstore_mailbox m;
	SOK(mailstore_mailbox_get(sms, 1, in, sa, &m, &serr));
	ck_assert_uint_eq(m.unread, 1);
	ck_assert_uint_eq(m.unread_threads, 1);
	SOK(mailstore_email_keywords(sms, 1, d, MAILSTORE_KW_ADD, dr, 1, 0, NULL, &serr));
	SOK(mailstore_email_destroy(sms, 1, d, &serr));
	SOK(mailstore_mailbox_get(sms, 1, in, sa, &m, &serr));
	ck_assert_uint_eq(m.total, 0);
	ck_assert_uint_eq(m.total_threads, 0);
	ck_assert_uint_eq(m.unread_threads, 0);
}
END_TEST

TCase *ms_share_tcase(void)
{
	TCase *tc = tcase_create("sharing");
	tcase_add_checked_fixture(tc, share_setup, share_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, acl_rights_strings);
	tcase_add_test(tc, acl_jmap_rights);
	tcase_add_test(tc, mailbox_record_versions);
	tcase_add_test(tc, thread_counts_without_nondraft);
	tcase_add_test(tc, acl_set_list_rights_shared_with);
	tcase_add_test(tc, seen_per_user);
	tcase_add_test(tc, keywords_as_sharee);
	tcase_add_test(tc, subscriptions_by_name);
	tcase_add_test(tc, copy_between_accounts);
	tcase_add_test(tc, blob_links_follow_last_reference);
	tcase_add_test(tc, concurrent_seen_and_owner_writes);
	tcase_add_test(tc, concurrent_copies_respect_quota);
	tcase_add_test(tc, concurrent_acl_changes);
	return tc;
}
