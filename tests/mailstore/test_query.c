/*
 * test_query.c: Email/query (RFC 8621 §4.4) and the full-text queue on RocksDB, SQLite and
 * PostgreSQL (STAUNCH_TEST_PG; its cases run in a database of their own,
 * staunch_mailstore_query, and are skipped, saying so, when it is unset): every filter
 * condition and operator, every sort, thread collapsing, position/anchor/limit on the
 * receivedAt index and on the general path, text conditions before and after indexing,
 * the queue surviving a reopen, index removal on destroy, and the IMAP substring helpers.
 */
#include <check.h>
#include <ftw.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/core.h"
#include "mailstore/mailstore.h"
#include "mailstore/mailstore_query.h"

struct qt_env {
	const char *name, *backend, *blob_backend;
};

static const struct qt_env *qt_env;
static char qt_conninfo[1024];
static char qt_dir[256], qt_path[300], qt_blob_path[300];
static struct store_params qt_params;
static struct store_data *data;
static struct store_blob *blob;
static struct store_fts *fts;
static struct mailstore *ms;
static struct core_arena *arena;
static struct core_error err;

#define ACCT 7u
#define T0 1700000000

static int qt_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static bool qt_pg_exec(const char *sql)
{
	PGconn *c = PQconnectdb(qt_conninfo);
	bool ok = PQstatus(c) == CONNECTION_OK;
	if (ok) {
		PGresult *r = PQexec(c, sql);
		ok = PQresultStatus(r) == PGRES_COMMAND_OK;
		PQclear(r);
	}
	PQfinish(c);
	return ok;
}

static void qt_open(void)
{
	ck_assert_int_eq(store_data_open(qt_env->backend, &qt_params, &data, &err), 0);
	struct store_params bp = qt_params;
	if (strcmp(qt_env->blob_backend, "fs") == 0)
		bp.path = qt_blob_path;
	ck_assert_msg(store_blob_open(qt_env->blob_backend, &bp, data, &blob, &err) == 0, "%s",
		      err.msg);
	ck_assert_int_eq(store_fts_open_data(data, &fts, &err), 0);
	ck_assert_int_eq(mailstore_open(data, blob, NULL, &ms, &err), 0);
	mailstore_set_fts(ms, fts);
}

static void qt_close(void)
{
	mailstore_free(&ms);
	store_fts_free(&fts);
	store_blob_free(&blob);
	store_data_free(&data);
}

static void setup(void)
{
	snprintf(qt_dir, sizeof(qt_dir), "/tmp/staunch-mailquery-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(qt_dir));
	memset(&qt_params, 0, sizeof(qt_params));
	qt_params.no_sync = true;
	if (strcmp(qt_env->backend, "rocksdb") == 0) {
		snprintf(qt_path, sizeof(qt_path), "%s/rocksdb", qt_dir);
		qt_params.path = qt_path;
	} else if (strcmp(qt_env->backend, "sqlite") == 0) {
		snprintf(qt_path, sizeof(qt_path), "%s/data.sqlite", qt_dir);
		qt_params.path = qt_path;
	} else {
		ck_assert(qt_pg_exec("SET client_min_messages = warning; "
				     "DROP TABLE IF EXISTS staunch_kv"));
		qt_params.conninfo = qt_conninfo;
		qt_params.pool_size = 8;
	}
	snprintf(qt_blob_path, sizeof(qt_blob_path), "%s/blobs", qt_dir);
	core_error_clear(&err);
	qt_open();
	arena = core_arena_new(0);
}

static void teardown(void)
{
	qt_close();
	core_arena_free(&arena);
	nftw(qt_dir, qt_rm, 16, FTW_DEPTH | FTW_PHYS);
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

/* ---------------------------------------------------------------------------------- */
/* The fixture: six emails with known fields                                          */
/* ---------------------------------------------------------------------------------- */

static const char m1[] = "From: Alice Smith <alice@example.com>\r\n"
			 "To: bob@example.org\r\n"
			 "Subject: Project kickoff\r\n"
			 "Date: Mon, 6 Jan 2025 10:00:00 +0000\r\n"
			 "Message-ID: <m1@x>\r\n"
			 "\r\n"
			 "Let us meet on Monday about the budget.\r\n";
static const char m2[] = "From: Bob <bob@example.org>\r\n"
			 "To: Alice <alice@example.com>\r\n"
			 "Cc: carol@example.net\r\n"
			 "Subject: Re: Project kickoff\r\n"
			 "Date: Mon, 6 Jan 2025 09:00:00 +0000\r\n"
			 "Message-ID: <m2@x>\r\n"
			 "In-Reply-To: <m1@x>\r\n"
			 "References: <m1@x>\r\n"
			 "\r\n"
			 "Monday works. Bring the quarterly numbers.\r\n";
static const char m3[] = "From: carol@example.net\r\n"
			 "To: dave@example.com\r\n"
			 "Bcc: eve@example.com\r\n"
			 "Subject: Lunch =?utf-8?q?Caf=C3=A9?=\r\n"
			 "Date: Tue, 7 Jan 2025 12:00:00 +0000\r\n"
			 "Message-ID: <m3@x>\r\n"
			 "X-Priority: 1 (Highest)\r\n"
			 "MIME-Version: 1.0\r\n"
			 "Content-Type: text/html; charset=utf-8\r\n"
			 "\r\n"
			 "<html><head><style>p{color:red}</style></head>"
			 "<body><p>Meet at the <b>caf\xc3\xa9</b> downtown</p></body></html>\r\n";
static const char m4[] = "From: dave@example.com\r\n"
			 "To: Alice <alice@example.com>\r\n"
			 "Subject: Invoice 2024\r\n"
			 "Date: Wed, 8 Jan 2025 08:00:00 +0000\r\n"
			 "Message-ID: <m4@x>\r\n"
			 "MIME-Version: 1.0\r\n"
			 "Content-Type: multipart/mixed; boundary=\"b\"\r\n"
			 "\r\n"
			 "--b\r\n"
			 "Content-Type: text/plain\r\n"
			 "\r\n"
			 "Please find the invoice attached.\r\n"
			 "--b\r\n"
			 "Content-Type: application/pdf; name=\"i.pdf\"\r\n"
			 "Content-Disposition: attachment; filename=\"i.pdf\"\r\n"
			 "Content-Transfer-Encoding: base64\r\n"
			 "\r\n"
			 "JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFI+PgpzdHJlYW0K\r\n"
			 "--b--\r\n";
static const char m5[] = "From: Alice Smith <alice@example.com>\r\n"
			 "To: bob@example.org\r\n"
			 "Subject: Re: Project kickoff\r\n"
			 "Date: Mon, 6 Jan 2025 11:00:00 +0000\r\n"
			 "Message-ID: <m5@x>\r\n"
			 "In-Reply-To: <m2@x>\r\n"
			 "References: <m1@x> <m2@x>\r\n"
			 "\r\n"
			 "Great, see you Monday.\r\n";
static const char m6[] = "From: Zed <zed@z.example>\r\n"
			 "Subject: zebra crossing\r\n"
			 "Message-ID: <m6@x>\r\n"
			 "MIME-Version: 1.0\r\n"
			 "Content-Type: text/plain; charset=utf-8\r\n"
			 "Content-Transfer-Encoding: quoted-printable\r\n"
			 "\r\n"
			 "caf=C3=A9 cr=C3=A8me at noon\r\n";

static uint64_t inbox, work, archive;
static uint64_t id[7];

static uint64_t qt_deliver(const char *msg, const uint64_t *mbs, size_t nmb, const char *kw1,
			   const char *kw2, int64_t at)
{
	const char *kw[2] = {kw1, kw2};
	size_t nkw = kw2 != NULL ? 2 : kw1 != NULL ? 1 : 0;
	struct mailstore_delivered d;
	OK(mailstore_email_append(ms, ACCT, msg, strlen(msg), mbs, nmb, kw, nkw, at, &d, &err));
	return d.email_id;
}

static void qt_fixture(void)
{
	OK(mailstore_account_ensure(ms, ACCT, &err));
	OK(mailstore_mailbox_find_role(ms, ACCT, MAILSTORE_ROLE_INBOX, &inbox, &err));
	OK(mailstore_mailbox_find_role(ms, ACCT, MAILSTORE_ROLE_ARCHIVE, &archive, &err));
	OK(mailstore_mailbox_create(ms, ACCT, 0, "Work", MAILSTORE_ROLE_NONE, &work, &err));
	uint64_t both[2] = {inbox, work};
	id[1] = qt_deliver(m1, &inbox, 1, "$seen", NULL, T0 + 100);
	id[2] = qt_deliver(m2, &inbox, 1, "$flagged", NULL, T0 + 200);
	id[3] = qt_deliver(m3, &work, 1, NULL, NULL, T0 + 300);
	id[4] = qt_deliver(m4, both, 2, "$seen", "$flagged", T0 + 400);
	id[5] = qt_deliver(m5, &archive, 1, "$seen", NULL, T0 + 500);
	id[6] = qt_deliver(m6, &inbox, 1, NULL, NULL, T0 + 600);
}

/* Query and compare with the expected email numbers (1..6) in order. */
static void qt_expect(const struct mailstore_query *q, const int *want, size_t n, const char *what)
{
	struct mailstore_query_result r;
	OK(mailstore_email_query(ms, ACCT, q, arena, &r, &err));
	char got[256] = "", exp[256] = "";
	for (size_t i = 0; i < r.nids; i++) {
		int k = 0;
		for (int j = 1; j <= 6; j++)
			if (id[j] == r.ids[i])
				k = j;
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%d ", k);
	}
	for (size_t i = 0; i < n; i++)
		snprintf(exp + strlen(exp), sizeof(exp) - strlen(exp), "%d ", want[i]);
	ck_assert_msg(strcmp(got, exp) == 0, "%s: got [%s] want [%s]", what, got, exp);
}

#define EXPECT(q, what, ...)                           \
	do {                                           \
		static const int w_[] = {__VA_ARGS__}; \
		size_t n_ = sizeof(w_) / sizeof(*w_);  \
		if (n_ == 1 && w_[0] == 0)             \
			n_ = 0;                        \
		qt_expect((q), w_, n_, (what));        \
	} while (0)

/* Filter alone, sorted by receivedAt ascending. */
static void qt_filter(const struct mailstore_filter *f, const int *want, size_t n, const char *what)
{
	struct mailstore_sort s = {.prop = MAILSTORE_SORT_RECEIVED_AT, .ascending = true};
	struct mailstore_query q = {.filter = f, .sort = &s, .nsort = 1};
	qt_expect(&q, want, n, what);
}

#define FILTER(f, what, ...)                           \
	do {                                           \
		static const int w_[] = {__VA_ARGS__}; \
		size_t n_ = sizeof(w_) / sizeof(*w_);  \
		if (n_ == 1 && w_[0] == 0)             \
			n_ = 0;                        \
		qt_filter((f), w_, n_, (what));        \
	} while (0)

static void qt_text_cases(void)
{
	struct mailstore_filter f = {0};
	f.text = "monday";
	FILTER(&f, "text monday", 1, 2, 5);
	f = (struct mailstore_filter){.from = "alice"};
	FILTER(&f, "from alice", 1, 5);
	f = (struct mailstore_filter){.from = "alice@example.com"};
	FILTER(&f, "from address", 1, 5);
	f = (struct mailstore_filter){.to = "ALICE"};
	FILTER(&f, "to alice", 2, 4);
	f = (struct mailstore_filter){.cc = "carol"};
	FILTER(&f, "cc carol", 2);
	f = (struct mailstore_filter){.bcc = "eve"};
	FILTER(&f, "bcc eve", 3);
	f = (struct mailstore_filter){.subject = "kickoff"};
	FILTER(&f, "subject kickoff", 1, 2, 5);
	f = (struct mailstore_filter){.subject = "CAF\xc3\x89"};
	FILTER(&f, "subject encoded word", 3);
	f = (struct mailstore_filter){.body = "caf\xc3\xa9"};
	FILTER(&f, "body html and qp", 3, 6);
	f = (struct mailstore_filter){.body = "color"};
	FILTER(&f, "css is not text", 0);
	f = (struct mailstore_filter){.body = "\"quarterly numbers\""};
	FILTER(&f, "phrase", 2);
	f = (struct mailstore_filter){.body = "\"numbers quarterly\""};
	FILTER(&f, "phrase order", 0);
	f = (struct mailstore_filter){.body = "numbers quarterly"};
	FILTER(&f, "tokens any order", 2);
	f = (struct mailstore_filter){.text = "monday budget"};
	FILTER(&f, "all tokens", 1);
	f = (struct mailstore_filter){.text = "invoice"};
	FILTER(&f, "subject and body", 4);
	f = (struct mailstore_filter){.text = "mon"};
	FILTER(&f, "whole words", 0);
	f = (struct mailstore_filter){.subject = "monday"};
	FILTER(&f, "field restricted", 0);
	f = (struct mailstore_filter){.text = "kickoff", .has_keyword = "$flagged"};
	FILTER(&f, "text and keyword", 2);
	f = (struct mailstore_filter){.text = "'quarterly numbers'"};
	FILTER(&f, "text phrase", 2);
	f = (struct mailstore_filter){.text = "alice@example.com"};
	FILTER(&f, "text address", 1, 2, 4, 5);
	f = (struct mailstore_filter){.text = "\"kickoff monday\""};
	FILTER(&f, "phrase across fields", 0);
	/* Text under OR and NOT (no narrowing of the candidates). */
	struct mailstore_filter kids[2] = {{.text = "monday"},
					   {.has_attachment = MAILSTORE_TRI_TRUE}};
	f = (struct mailstore_filter){
		.op = MAILSTORE_FILTER_OR, .conditions = kids, .nconditions = 2};
	FILTER(&f, "text in OR", 1, 2, 4, 5);
	f = (struct mailstore_filter){
		.op = MAILSTORE_FILTER_NOT, .conditions = kids, .nconditions = 1};
	FILTER(&f, "text in NOT", 3, 4, 6);
	/* Two text conditions under AND narrow to their intersection. */
	struct mailstore_filter both[2] = {{.from = "alice"}, {.body = "monday"}};
	f = (struct mailstore_filter){
		.op = MAILSTORE_FILTER_AND, .conditions = both, .nconditions = 2};
	FILTER(&f, "text AND text", 1, 5);
}

START_TEST(test_filters)
{
	qt_fixture();
	struct mailstore_filter f = {.has_in_mailbox = true, .in_mailbox = inbox};
	FILTER(&f, "inMailbox", 1, 2, 4, 6);
	f = (struct mailstore_filter){.has_in_mailbox = true, .in_mailbox = 999999};
	FILTER(&f, "no such mailbox", 0);
	f = (struct mailstore_filter){.has_in_mailbox_other_than = true,
				      .in_mailbox_other_than = &inbox,
				      .nin_mailbox_other_than = 1};
	FILTER(&f, "inMailboxOtherThan", 3, 4, 5);
	f = (struct mailstore_filter){.has_before = true, .before = T0 + 300};
	FILTER(&f, "before", 1, 2);
	f = (struct mailstore_filter){.has_after = true, .after = T0 + 300};
	FILTER(&f, "after", 3, 4, 5, 6);
	f = (struct mailstore_filter){
		.has_after = true, .after = T0 + 200, .has_before = true, .before = T0 + 400};
	FILTER(&f, "between", 2, 3);
	struct mailstore_email e4;
	OK(mailstore_email_get(ms, ACCT, id[4], arena, &e4, &err));
	f = (struct mailstore_filter){.has_min_size = true, .min_size = e4.size};
	FILTER(&f, "minSize", 4);
	f = (struct mailstore_filter){.has_max_size = true, .max_size = e4.size};
	FILTER(&f, "maxSize", 1, 2, 3, 5, 6);
	f = (struct mailstore_filter){.has_keyword = "$FLAGGED"};
	FILTER(&f, "hasKeyword", 2, 4);
	f = (struct mailstore_filter){.not_keyword = "$seen"};
	FILTER(&f, "notKeyword", 2, 3, 6);
	f = (struct mailstore_filter){.all_in_thread_have_keyword = "$seen"};
	FILTER(&f, "allInThread", 4);
	f = (struct mailstore_filter){.some_in_thread_have_keyword = "$flagged"};
	FILTER(&f, "someInThread", 1, 2, 4, 5);
	f = (struct mailstore_filter){.none_in_thread_have_keyword = "$flagged"};
	FILTER(&f, "noneInThread", 3, 6);
	f = (struct mailstore_filter){.has_attachment = MAILSTORE_TRI_TRUE};
	FILTER(&f, "hasAttachment", 4);
	f = (struct mailstore_filter){.has_attachment = MAILSTORE_TRI_FALSE};
	FILTER(&f, "no attachment", 1, 2, 3, 5, 6);
	f = (struct mailstore_filter){.header_name = "x-priority"};
	FILTER(&f, "header present", 3);
	f = (struct mailstore_filter){.header_name = "X-Priority", .header_value = "highest"};
	FILTER(&f, "header value", 3);
	f = (struct mailstore_filter){.header_name = "Subject", .header_value = "caf\xc3\xa9"};
	FILTER(&f, "header decoded", 3);
	f = (struct mailstore_filter){.header_name = "X-Priority", .header_value = "lowest"};
	FILTER(&f, "header value absent", 0);
	f = (struct mailstore_filter){0};
	FILTER(&f, "empty condition", 1, 2, 3, 4, 5, 6);
	/* Keyword changes are seen at once. */
	const char *fl = "$flagged";
	OK(mailstore_email_keywords(ms, ACCT, id[6], MAILSTORE_KW_ADD, &fl, 1, 0, NULL, &err));
	f = (struct mailstore_filter){.has_keyword = "$flagged"};
	FILTER(&f, "keyword added", 2, 4, 6);
	/* Text before any indexing (every email is scanned). */
	qt_text_cases();
}
END_TEST

START_TEST(test_operators)
{
	qt_fixture();
	struct mailstore_filter c[4] = {
		{.from = "alice"},
		{.has_attachment = MAILSTORE_TRI_TRUE},
		{.has_in_mailbox = true, .in_mailbox = inbox},
		{.has_keyword = "$seen"},
	};
	struct mailstore_filter f = {.op = MAILSTORE_FILTER_OR, .conditions = c, .nconditions = 2};
	FILTER(&f, "OR", 1, 4, 5);
	f = (struct mailstore_filter){
		.op = MAILSTORE_FILTER_AND, .conditions = c + 2, .nconditions = 2};
	FILTER(&f, "AND", 1, 4);
	f = (struct mailstore_filter){
		.op = MAILSTORE_FILTER_NOT, .conditions = c + 2, .nconditions = 1};
	FILTER(&f, "NOT", 3, 5);
	f = (struct mailstore_filter){
		.op = MAILSTORE_FILTER_NOT, .conditions = c + 2, .nconditions = 2};
	FILTER(&f, "NOT of two (neither)", 3);
	/* AND(OR(from alice, attachment), NOT(inMailbox inbox)) */
	struct mailstore_filter inner[2] = {
		{.op = MAILSTORE_FILTER_OR, .conditions = c, .nconditions = 2},
		{.op = MAILSTORE_FILTER_NOT, .conditions = c + 2, .nconditions = 1},
	};
	f = (struct mailstore_filter){
		.op = MAILSTORE_FILTER_AND, .conditions = inner, .nconditions = 2};
	FILTER(&f, "nested", 5);
	f = (struct mailstore_filter){.op = MAILSTORE_FILTER_OR};
	FILTER(&f, "empty OR", 0);
	f = (struct mailstore_filter){.op = MAILSTORE_FILTER_AND};
	FILTER(&f, "empty AND", 1, 2, 3, 4, 5, 6);
	/* Too deep. */
	struct mailstore_filter deep[20];
	for (int i = 0; i < 20; i++)
		deep[i] = (struct mailstore_filter){
			.op = MAILSTORE_FILTER_NOT, .conditions = &deep[i + 1], .nconditions = 1};
	deep[19] = (struct mailstore_filter){0};
	struct mailstore_query q = {.filter = deep};
	struct mailstore_query_result r;
	FAILS(CORE_ELIMIT, mailstore_email_query(ms, ACCT, &q, arena, &r, &err));
	f = (struct mailstore_filter){.has_keyword = ""};
	q = (struct mailstore_query){.filter = &f};
	FAILS(CORE_ESYNTAX, mailstore_email_query(ms, ACCT, &q, arena, &r, &err));
}
END_TEST

START_TEST(test_sorts)
{
	qt_fixture();
	struct mailstore_query q = {0};
	struct mailstore_sort s[3] = {0};
	q.sort = s;
	q.nsort = 1;
	EXPECT(&q, "receivedAt desc", 6, 5, 4, 3, 2, 1);
	s[0].ascending = true;
	EXPECT(&q, "receivedAt asc", 1, 2, 3, 4, 5, 6);
	q.nsort = 0;
	EXPECT(&q, "default", 6, 5, 4, 3, 2, 1);
	q.nsort = 1;
	/* sentAt: m2 09:00, m1 10:00, m5 11:00 (6 Jan), m3 7 Jan, m4 8 Jan; m6 has no Date
	 * and sorts at its receivedAt (2023). */
	s[0] = (struct mailstore_sort){.prop = MAILSTORE_SORT_SENT_AT, .ascending = true};
	EXPECT(&q, "sentAt", 6, 2, 1, 5, 3, 4);
	s[0] = (struct mailstore_sort){.prop = MAILSTORE_SORT_SIZE, .ascending = false};
	struct mailstore_query_result r;
	OK(mailstore_email_query(ms, ACCT, &q, arena, &r, &err));
	ck_assert_uint_eq(r.nids, 6);
	ck_assert_uint_eq(r.ids[0], id[4]);
	for (size_t i = 1; i < r.nids; i++) {
		struct mailstore_email a, b;
		OK(mailstore_email_get(ms, ACCT, r.ids[i - 1], arena, &a, &err));
		OK(mailstore_email_get(ms, ACCT, r.ids[i], arena, &b, &err));
		ck_assert(a.size > b.size || (a.size == b.size && r.ids[i - 1] > r.ids[i]));
	}
	/* from: "Alice Smith" (1, 5), "Bob", "carol@...", "dave@...", "Zed". */
	s[0] = (struct mailstore_sort){.prop = MAILSTORE_SORT_FROM, .ascending = true};
	EXPECT(&q, "from", 1, 5, 2, 3, 4, 6);
	s[0].collation = MAILSTORE_COLL_OCTET; /* upper case first in octet order */
	EXPECT(&q, "from octet", 1, 5, 2, 6, 3, 4);
	s[0].collation = MAILSTORE_COLL_UNICODE_CASEMAP;
	EXPECT(&q, "from unicode", 1, 5, 2, 3, 4, 6);
	/* to: "" (6), "Alice" (2, 4), "bob@" (1, 5), "dave@" (3). */
	s[0] = (struct mailstore_sort){.prop = MAILSTORE_SORT_TO, .ascending = true};
	EXPECT(&q, "to", 6, 2, 4, 1, 5, 3);
	/* subject base: invoice 2024, lunch café, project kickoff x3, zebra crossing. */
	s[0] = (struct mailstore_sort){.prop = MAILSTORE_SORT_SUBJECT, .ascending = true};
	EXPECT(&q, "subject", 4, 3, 1, 2, 5, 6);
	s[0].ascending = false;
	EXPECT(&q, "subject desc", 6, 5, 2, 1, 3, 4);
	s[0] = (struct mailstore_sort){
		.prop = MAILSTORE_SORT_HAS_KEYWORD, .keyword = "$flagged", .ascending = false};
	s[1] = (struct mailstore_sort){.prop = MAILSTORE_SORT_RECEIVED_AT, .ascending = true};
	q.nsort = 2;
	EXPECT(&q, "hasKeyword", 2, 4, 1, 3, 5, 6);
	s[0].prop = MAILSTORE_SORT_SOME_IN_THREAD_HAVE_KEYWORD;
	EXPECT(&q, "someInThread", 1, 2, 4, 5, 3, 6);
	s[0] = (struct mailstore_sort){.prop = MAILSTORE_SORT_ALL_IN_THREAD_HAVE_KEYWORD,
				       .keyword = "$seen",
				       .ascending = false};
	EXPECT(&q, "allInThread", 4, 1, 2, 3, 5, 6);
	/* Three comparators: RFC 8621 §4.4.2's example shape. */
	s[0] = (struct mailstore_sort){.prop = MAILSTORE_SORT_SOME_IN_THREAD_HAVE_KEYWORD,
				       .keyword = "$flagged",
				       .ascending = false};
	s[1] = (struct mailstore_sort){.prop = MAILSTORE_SORT_SUBJECT, .ascending = true};
	s[2] = (struct mailstore_sort){.prop = MAILSTORE_SORT_RECEIVED_AT, .ascending = false};
	q.nsort = 3;
	EXPECT(&q, "three", 4, 5, 2, 1, 3, 6);
	/* A keyword sort needs its keyword. */
	s[0].keyword = NULL;
	FAILS(CORE_ESYNTAX, mailstore_email_query(ms, ACCT, &q, arena, &r, &err));
	enum mailstore_collation c;
	ck_assert_int_eq(mailstore_collation_parse("i;unicode-casemap", &c), 0);
	ck_assert_int_eq(c, MAILSTORE_COLL_UNICODE_CASEMAP);
	ck_assert_int_eq(mailstore_collation_parse("i;basic", &c), CORE_ENOTFOUND);
	enum mailstore_sort_prop p;
	ck_assert_int_eq(mailstore_sort_prop_parse("someInThreadHaveKeyword", &p), 0);
	ck_assert_int_eq(p, MAILSTORE_SORT_SOME_IN_THREAD_HAVE_KEYWORD);
	ck_assert_int_eq(mailstore_sort_prop_parse("nope", &p), CORE_ENOTFOUND);
}
END_TEST

START_TEST(test_collapse_and_paging)
{
	qt_fixture();
	struct mailstore_query q = {.collapse_threads = true};
	struct mailstore_query_result r;
	/* Thread of 1, 2, 5: only its newest (5) stays in a newest-first list. */
	EXPECT(&q, "collapse", 6, 5, 4, 3);
	OK(mailstore_email_query(ms, ACCT, &q, arena, &r, &err));
	ck_assert_uint_eq(r.total, 4);
	/* The receivedAt index path (one mailbox) and the general path agree. */
	struct mailstore_filter fin = {.has_in_mailbox = true, .in_mailbox = inbox};
	struct mailstore_filter fgen = {
		.has_in_mailbox = true, .in_mailbox = inbox, .has_min_size = true, .min_size = 0};
	for (int collapse = 0; collapse < 2; collapse++) {
		q = (struct mailstore_query){.filter = &fin, .collapse_threads = collapse};
		if (collapse)
			EXPECT(&q, "inbox collapsed", 6, 4, 2);
		else
			EXPECT(&q, "inbox", 6, 4, 2, 1);
		OK(mailstore_email_query(ms, ACCT, &q, arena, &r, &err));
		ck_assert_uint_eq(r.total, collapse ? 3 : 4);
		q.filter = &fgen;
		if (collapse)
			EXPECT(&q, "inbox collapsed (general)", 6, 4, 2);
		else
			EXPECT(&q, "inbox (general)", 6, 4, 2, 1);
	}
	struct mailstore_filter *fs[2] = {&fin, &fgen};
	for (int k = 0; k < 2; k++) {
		q = (struct mailstore_query){
			.filter = fs[k], .position = 1, .has_limit = true, .limit = 2};
		EXPECT(&q, "position", 4, 2);
		OK(mailstore_email_query(ms, ACCT, &q, arena, &r, &err));
		ck_assert_uint_eq(r.position, 1);
		ck_assert_uint_eq(r.total, 4);
		q.position = -1;
		EXPECT(&q, "negative position", 1);
		q.position = -10;
		EXPECT(&q, "clamped position", 6, 4);
		q.position = 10;
		EXPECT(&q, "past the end", 0);
		q = (struct mailstore_query){.filter = fs[k],
					     .has_anchor = true,
					     .anchor = id[2],
					     .anchor_offset = -1,
					     .has_limit = true,
					     .limit = 2};
		EXPECT(&q, "anchor -1", 4, 2);
		OK(mailstore_email_query(ms, ACCT, &q, arena, &r, &err));
		ck_assert_uint_eq(r.position, 1);
		q.anchor_offset = 0;
		q.has_limit = false;
		EXPECT(&q, "anchor", 2, 1);
		q.anchor_offset = -5;
		EXPECT(&q, "anchor clamped", 6, 4, 2, 1);
		q.anchor = id[3]; /* in Work only */
		FAILS(CORE_ENOTFOUND, mailstore_email_query(ms, ACCT, &q, arena, &r, &err));
		/* Extreme values neither wrap nor crash. */
		q = (struct mailstore_query){
			.filter = fs[k], .has_limit = true, .limit = UINT64_MAX};
		EXPECT(&q, "huge limit", 6, 4, 2, 1);
		q.position = INT64_MAX;
		EXPECT(&q, "huge position", 0);
		q.position = INT64_MIN;
		EXPECT(&q, "most negative position", 6, 4, 2, 1);
		q = (struct mailstore_query){.filter = fs[k],
					     .has_anchor = true,
					     .anchor = id[4],
					     .anchor_offset = INT64_MAX,
					     .has_limit = true,
					     .limit = UINT64_MAX};
		EXPECT(&q, "huge anchor offset", 0);
		q.anchor_offset = INT64_MIN;
		EXPECT(&q, "most negative anchor offset", 6, 4, 2, 1);
		q = (struct mailstore_query){.filter = fs[k], .has_limit = true, .limit = 0};
		EXPECT(&q, "limit 0", 0);
		OK(mailstore_email_query(ms, ACCT, &q, arena, &r, &err));
		ck_assert_uint_eq(r.total, 4);
	}
	/* queryState is the account's modseq. */
	struct mailstore_account ac;
	OK(mailstore_account_get(ms, ACCT, &ac, &err));
	ck_assert_uint_eq(r.query_state, ac.modseq);
	/* An account that was never created has no email. */
	OK(mailstore_email_query(ms, 424242, &q, arena, &r, &err));
	ck_assert_uint_eq(r.total, 0);
}
END_TEST

/* Many emails with shuffled dates in three mailboxes: the index path and the general path
 * give the same pages, and both match a sort done here. */
START_TEST(test_index_matches_scan)
{
	OK(mailstore_account_ensure(ms, ACCT, &err));
	OK(mailstore_mailbox_find_role(ms, ACCT, MAILSTORE_ROLE_INBOX, &inbox, &err));
	OK(mailstore_mailbox_create(ms, ACCT, 0, "Work", MAILSTORE_ROLE_NONE, &work, &err));
	enum { N = 120 };
	uint64_t ids[N];
	int64_t at[N];
	unsigned seed = 12345;
	for (int i = 0; i < N; i++) {
		seed = seed * 1103515245u + 12345u;
		at[i] = T0 + (int64_t)((seed >> 8) % 50); /* many equal dates */
		char msg[200];
		snprintf(msg, sizeof(msg),
			 "From: x@y.example\r\nSubject: m%d\r\nMessage-ID: <q%d@x>\r\n\r\nb\r\n", i,
			 i);
		uint64_t mb = (i % 3 == 0) ? work : inbox;
		ids[i] = qt_deliver(msg, &mb, 1, NULL, NULL, at[i]);
	}
	/* Expected: inbox emails by (receivedAt, id) descending. */
	uint64_t want[N];
	size_t nw = 0;
	for (int i = 0; i < N; i++)
		if (i % 3 != 0)
			want[nw++] = (uint64_t)i;
	for (size_t i = 1; i < nw; i++)
		for (size_t j = i; j > 0; j--) {
			uint64_t a = want[j - 1], b = want[j];
			bool after = at[a] < at[b] || (at[a] == at[b] && ids[a] < ids[b]);
			if (!after)
				break;
			want[j - 1] = b;
			want[j] = a;
		}
	struct mailstore_filter fin = {.has_in_mailbox = true, .in_mailbox = inbox};
	struct mailstore_filter fgen = {
		.has_in_mailbox = true, .in_mailbox = inbox, .has_after = true, .after = INT64_MIN};
	for (uint64_t pos = 0; pos < nw; pos += 17) {
		for (int k = 0; k < 2; k++) {
			struct mailstore_query q = {.filter = k ? &fgen : &fin,
						    .position = (int64_t)pos,
						    .has_limit = true,
						    .limit = 10};
			struct mailstore_query_result r;
			OK(mailstore_email_query(ms, ACCT, &q, arena, &r, &err));
			ck_assert_uint_eq(r.total, nw);
			size_t expn = nw - pos < 10 ? nw - pos : 10;
			ck_assert_uint_eq(r.nids, expn);
			for (size_t i = 0; i < r.nids; i++)
				ck_assert_msg(r.ids[i] == ids[want[pos + i]],
					      "path %d position %zu: got %" PRIu64 " want %" PRIu64,
					      k, (size_t)(pos + i), r.ids[i], ids[want[pos + i]]);
		}
	}
	/* Moving an email out drops it from the index; moving it back restores it. */
	uint32_t uid;
	OK(mailstore_email_move(ms, ACCT, ids[want[0]], inbox, work, &uid, &err));
	struct mailstore_query q = {.filter = &fin, .has_limit = true, .limit = 1};
	struct mailstore_query_result r;
	OK(mailstore_email_query(ms, ACCT, &q, arena, &r, &err));
	ck_assert_uint_eq(r.total, nw - 1);
	ck_assert_uint_eq(r.ids[0], ids[want[1]]);
	OK(mailstore_email_move(ms, ACCT, ids[want[0]], work, inbox, &uid, &err));
	OK(mailstore_email_query(ms, ACCT, &q, arena, &r, &err));
	ck_assert_uint_eq(r.ids[0], ids[want[0]]);
	/* Expunge and mailbox deletion remove index entries too. */
	OK(mailstore_mailbox_expunge(ms, ACCT, inbox, &uid, 1, &err));
	OK(mailstore_email_query(ms, ACCT, &q, arena, &r, &err));
	ck_assert_uint_eq(r.total, nw - 1);
	ck_assert_uint_eq(r.ids[0], ids[want[1]]);
	OK(mailstore_mailbox_destroy(ms, ACCT, work, true, &err));
	struct mailstore_query all = {0};
	OK(mailstore_email_query(ms, ACCT, &all, arena, &r, &err));
	ck_assert_uint_eq(r.total, nw - 1);
	/* Fetch reads them in one snapshot. */
	struct mailstore_email es[3];
	struct mailstore_parsed ps[3];
	bool found[3];
	uint64_t fid[3] = {r.ids[0], 999999, r.ids[1]};
	OK(mailstore_email_fetch(ms, ACCT, fid, 3, arena, es, ps, found, &err));
	ck_assert(found[0] && !found[1] && found[2]);
	ck_assert_uint_eq(es[2].id, r.ids[1]);
	ck_assert_ptr_nonnull(ps[0].subject);
}
END_TEST

static size_t qt_pending(void)
{
	size_t n = 99;
	OK(mailstore_index_pending(ms, ACCT, &n, &err));
	return n;
}

/* The store clock two hours ahead (upload reservations last one hour). */
static uint64_t qt_clock_later(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + 2u * 3600u * 1000u;
}

static bool qt_fts_has(const char *term, uint64_t doc)
{
	struct core_str t = core_str_from_cstr(term);
	struct store_fts_query fq = {
		.op = STORE_FTS_TERM, .field = STORE_FTS_ANY_FIELD, .terms = &t, .nterms = 1};
	uint64_t *docs = NULL;
	size_t n = 0;
	OK(store_fts_search(fts, ACCT, &fq, &docs, &n, &err));
	bool has = false;
	for (size_t i = 0; i < n; i++)
		has = has || docs[i] == doc;
	free(docs);
	return has;
}

START_TEST(test_fulltext_queue)
{
	qt_fixture();
	ck_assert_uint_eq(qt_pending(), 6);
	ck_assert(!qt_fts_has("monday", id[1]));
	/* Durable: the queue survives closing and reopening the stores. */
	qt_close();
	qt_open();
	ck_assert_uint_eq(qt_pending(), 6);
	/* Work it off in small budgets. */
	int done = 0, rc;
	while ((rc = mailstore_index_run(ms, 4, &err)) > 0)
		done += rc;
	OK(rc);
	ck_assert_int_eq(done, 6);
	ck_assert_uint_eq(qt_pending(), 0);
	ck_assert(qt_fts_has("monday", id[1]));
	ck_assert(qt_fts_has("caf\xc3\xa9", id[3]));
	ck_assert(!qt_fts_has("color", id[3])); /* CSS is not indexed */
	/* Same answers through the index as by scanning. */
	qt_text_cases();
	/* A copy is queued and found like its source. */
	uint64_t cid;
	uint32_t uid;
	OK(mailstore_email_copy(ms, ACCT, id[3], inbox, &cid, &uid, &err));
	ck_assert_uint_eq(qt_pending(), 1);
	struct mailstore_filter f = {.bcc = "eve"};
	struct mailstore_query q = {.filter = &f};
	struct mailstore_query_result r;
	OK(mailstore_email_query(ms, ACCT, &q, arena, &r, &err));
	ck_assert_uint_eq(r.nids, 2);
	ck_assert_int_eq(mailstore_index_run(ms, 100, &err), 1);
	OK(mailstore_email_query(ms, ACCT, &q, arena, &r, &err));
	ck_assert_uint_eq(r.nids, 2);
	ck_assert_uint_eq(r.ids[0], cid);
	/* Destroy: the removal is queued and takes the postings away. */
	OK(mailstore_email_destroy(ms, ACCT, id[3], &err));
	ck_assert_uint_eq(qt_pending(), 1);
	OK(mailstore_email_query(ms, ACCT, &q, arena, &r, &err));
	ck_assert_uint_eq(r.nids, 1);
	ck_assert(qt_fts_has("downtown", id[3]));
	ck_assert_int_eq(mailstore_index_run(ms, 100, &err), 1);
	ck_assert(!qt_fts_has("downtown", id[3]));
	ck_assert(qt_fts_has("downtown", cid));
	/* Destroyed before it was ever indexed: nothing stays. */
	uint64_t nid = qt_deliver(m1, &inbox, 1, NULL, NULL, T0 + 900);
	OK(mailstore_email_destroy(ms, ACCT, nid, &err));
	ck_assert_int_eq(mailstore_index_run(ms, 100, &err), 1);
	ck_assert(!qt_fts_has("budget", nid));
	ck_assert_uint_eq(qt_pending(), 0);
	ck_assert_int_eq(mailstore_index_run(ms, 100, &err), 0);
	/* The index keeps 64 bytes of a word: a longer word that shares them is ruled out by
	 * the check on decoded text. */
	char longmsg[400], w1[100], w2[100];
	memset(w1, 'x', 80);
	w1[80] = '\0';
	memcpy(w2, w1, 81);
	w2[79] = 'y';
	snprintf(longmsg, sizeof(longmsg), "Subject: long\r\n\r\nword %s here\r\n", w1);
	uint64_t lid = qt_deliver(longmsg, &inbox, 1, NULL, NULL, T0 + 940);
	ck_assert_int_eq(mailstore_index_run(ms, 100, &err), 1);
	f = (struct mailstore_filter){.body = w1};
	OK(mailstore_email_query(ms, ACCT, &q, arena, &r, &err));
	ck_assert_uint_eq(r.nids, 1);
	ck_assert_uint_eq(r.ids[0], lid);
	f = (struct mailstore_filter){.body = w2};
	OK(mailstore_email_query(ms, ACCT, &q, arena, &r, &err));
	ck_assert_uint_eq(r.nids, 0);
	/* An email the indexer cannot read does not block the queue: it is skipped, marked
	 * to be scanned, and still found by a condition on its stored fields. */
	static const char lone[] =
		"From: Zed <zed@z.example>\r\nSubject: zebra herd\r\n\r\nstripes\r\n";
	uint64_t bad = qt_deliver(lone, &inbox, 1, NULL, NULL, T0 + 950);
	uint64_t after = qt_deliver(m2, &inbox, 1, NULL, NULL, T0 + 960);
	struct mailstore_email be;
	OK(mailstore_email_get(ms, ACCT, bad, arena, &be, &err));
	char owner[32];
	snprintf(owner, sizeof(owner), "m/%llu", (unsigned long long)bad);
	OK(store_blob_unlink(blob, ACCT, &be.blob, owner, &err));
	/* Past the upload reservation too, so nothing grants access to the blob. */
	store_clock_set(qt_clock_later);
	ck_assert_int_eq(mailstore_index_run(ms, 100, &err), 2);
	store_clock_set(NULL);
	ck_assert_uint_eq(qt_pending(), 0);
	ck_assert(qt_fts_has("quarterly", after));
	ck_assert(!qt_fts_has("stripes", bad));
	f = (struct mailstore_filter){.subject = "zebra"};
	OK(mailstore_email_query(ms, ACCT, &q, arena, &r, &err));
	ck_assert_uint_eq(r.nids, 2);
	ck_assert_uint_eq(r.ids[0], bad);
	ck_assert_uint_eq(r.ids[1], id[6]);
	/* Deleting the account queues the removal of every posting its emails had. */
	ck_assert(qt_fts_has("downtown", cid));
	OK(mailstore_account_destroy(ms, ACCT, &err));
	ck_assert_uint_gt(qt_pending(), 0);
	while ((rc = mailstore_index_run(ms, 100, &err)) > 0)
		;
	OK(rc);
	ck_assert_uint_eq(qt_pending(), 0);
	ck_assert(!qt_fts_has("quarterly", after));
	ck_assert(!qt_fts_has("downtown", cid));
}
END_TEST

START_TEST(test_imap_substring)
{
	ck_assert(mailstore_text_contains("Hello World", 11, "LO WO", 5));
	ck_assert(mailstore_text_contains("Hello", 5, "", 0));
	ck_assert(!mailstore_text_contains("Hello", 5, "world", 5));
	ck_assert(mailstore_text_contains("Stra\xc3\x9f"
					  "e",
					  7, "STRASSE", 7));
	ck_assert(mailstore_text_contains("\xff\xfe abc", 6, "ABC", 3)); /* not UTF-8 */
	qt_fixture();
	bool m = false;
	OK(mailstore_email_text_contains(ms, ACCT, id[3], MAILSTORE_TEXT_BODY, "AT THE CAF", &m,
					 &err));
	ck_assert(m);
	OK(mailstore_email_text_contains(ms, ACCT, id[3], MAILSTORE_TEXT_BODY, "<b>", &m, &err));
	ck_assert(!m);
	OK(mailstore_email_text_contains(ms, ACCT, id[2], MAILSTORE_TEXT_CC, "ROL@EXAMPLE", &m,
					 &err));
	ck_assert(m);
	OK(mailstore_email_text_contains(ms, ACCT, id[1], MAILSTORE_TEXT_SUBJECT, "ject kick", &m,
					 &err));
	ck_assert(m);
	OK(mailstore_email_text_contains(ms, ACCT, id[1], MAILSTORE_TEXT_TO, "alice", &m, &err));
	ck_assert(!m);
	OK(mailstore_email_text_contains(ms, ACCT, id[1], MAILSTORE_TEXT_ALL, "the budg", &m,
					 &err));
	ck_assert(m);
	/* IMAP TEXT: any header field as well as the body. */
	OK(mailstore_email_text_contains(ms, ACCT, id[3], MAILSTORE_TEXT_IMAP, "(highest)", &m,
					 &err));
	ck_assert(m);
	OK(mailstore_email_text_contains(ms, ACCT, id[3], MAILSTORE_TEXT_IMAP, "x-priority: 1", &m,
					 &err));
	ck_assert(m);
	OK(mailstore_email_text_contains(ms, ACCT, id[3], MAILSTORE_TEXT_ALL, "highest", &m, &err));
	ck_assert(!m);
	OK(mailstore_email_text_contains(ms, ACCT, id[3], MAILSTORE_TEXT_IMAP, "downtown", &m,
					 &err));
	ck_assert(m);
	OK(mailstore_email_text_contains(ms, ACCT, id[3], MAILSTORE_TEXT_IMAP, "nowhere", &m,
					 &err));
	ck_assert(!m);
	/* IMAP HEADER. */
	OK(mailstore_email_header_contains(ms, ACCT, id[2], "in-reply-to", "M1@", &m, &err));
	ck_assert(m);
	OK(mailstore_email_header_contains(ms, ACCT, id[1], "In-Reply-To", "", &m, &err));
	ck_assert(!m);
	OK(mailstore_email_header_contains(ms, ACCT, id[1], "Message-ID", "", &m, &err));
	ck_assert(m);
	OK(mailstore_email_header_contains(ms, ACCT, id[3], "subject", "LUNCH CAF\xc3\x89", &m,
					   &err));
	ck_assert(m);
	FAILS(CORE_ESYNTAX, mailstore_email_header_contains(ms, ACCT, id[1], "", "x", &m, &err));
	FAILS(CORE_ESYNTAX,
	      mailstore_email_text_contains(ms, ACCT, id[1], MAILSTORE_TEXT_COUNT, "x", &m, &err));
	FAILS(CORE_ENOTFOUND,
	      mailstore_email_text_contains(ms, ACCT, 999999, MAILSTORE_TEXT_ALL, "x", &m, &err));
}
END_TEST

static Suite *qt_suite(void)
{
	Suite *s = suite_create(qt_env->name);
	TCase *tc = tcase_create("query");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_filters);
	tcase_add_test(tc, test_operators);
	tcase_add_test(tc, test_sorts);
	tcase_add_test(tc, test_collapse_and_paging);
	tcase_add_test(tc, test_index_matches_scan);
	tcase_add_test(tc, test_fulltext_queue);
	tcase_add_test(tc, test_imap_substring);
	suite_add_tcase(s, tc);
	return s;
}

/* PostgreSQL: a database of its own, created on first use. */
static bool qt_pg_prepare(void)
{
	const char *base = getenv("STAUNCH_TEST_PG");
	if (base == NULL || base[0] == '\0') {
		printf("SKIP: PostgreSQL cases: STAUNCH_TEST_PG unset (ci/pg.sh start DIR)\n");
		return false;
	}
	snprintf(qt_conninfo, sizeof(qt_conninfo), "%s", base);
	PGconn *c = PQconnectdb(base);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "PostgreSQL: %s", PQerrorMessage(c));
		PQfinish(c);
		exit(1);
	}
	PGresult *r = PQexec(c, "SELECT 1 FROM pg_database WHERE datname = "
				"'staunch_mailstore_query'");
	bool have = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
	PQclear(r);
	if (!have) {
		r = PQexec(c, "CREATE DATABASE staunch_mailstore_query");
		PQclear(r);
	}
	PQfinish(c);
	snprintf(qt_conninfo, sizeof(qt_conninfo), "%s dbname=staunch_mailstore_query", base);
	return true;
}

int main(void)
{
	static const struct qt_env envs[] = {
		{"query-rocksdb", "rocksdb", "fs"},
		{"query-sqlite", "sqlite", "sqlite"},
		{"query-postgresql", "postgresql", "postgresql"},
	};
	int failed = 0;
	for (size_t i = 0; i < sizeof(envs) / sizeof(*envs); i++) {
		if (strcmp(envs[i].backend, "postgresql") == 0 && !qt_pg_prepare())
			continue;
		qt_env = &envs[i];
		SRunner *sr = srunner_create(qt_suite());
		srunner_run_all(sr, CK_NORMAL);
		failed += srunner_ntests_failed(sr);
		srunner_free(sr);
	}
	return failed == 0 ? 0 : 1;
}
